"""No request, however malformed, gets a 500: every failure is problem+json with a stable code."""

import pytest

from erp.routing import router
from tests.builders import given_product, given_stock, given_warehouse
from tests.orders.test_placing import order_body

BAD_BODIES = [
    ("not json", b"{nope", 400, "malformed_json"),
    ("empty body", b"", 422, "validation_error"),
    ("array", b"[]", 422, "validation_error"),
    ("wrong types", b'{"sku": 5, "name": ["x"]}', 422, "validation_error"),
    ("unknown field", b'{"sku": "A-1", "name": "x", "status": "hacked"}', 422, "validation_error"),
    ("nul byte", b'{"sku": "A-1", "name": "x\\u0000y"}', 422, "validation_error"),
    ("huge number", b'{"sku": "A-1", "name": "x", "reorder_point": 1e400}', 422, "validation_error"),
    ("huge integer", b'{"sku": "A-1", "name": "x", "reorder_point": 99999999999999999999999999}', 422,
     "validation_error"),
    ("huge string", b'{"sku": "A-1", "name": "' + b"x" * 100_000 + b'"}', 422, "validation_error"),
    ("negative", b'{"sku": "A-1", "name": "x", "reorder_point": -1}', 422, "validation_error"),
    ("bad utf-8", b'{"sku": "\xff\xfe", "name": "x"}', 400, "malformed_json"),
    ("deep nesting", b'{"sku": ' + b"[" * 5000 + b"]" * 5000 + b"}", 400, "malformed_json"),
]


@pytest.mark.parametrize(("label", "body", "status", "code"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
async def test_bad_bodies_are_4xx_problems_and_change_nothing(api, label, body, status, code):
    response = await api.post("/products", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text[:300]
    problem = response.json()
    assert problem["code"] == code
    assert problem["status"] == status
    assert {"type", "title", "detail"} <= problem.keys()
    assert response.headers["content-type"] == "application/problem+json"
    assert (await api.ok("get", "/products"))["items"] == []


async def test_validation_errors_list_each_bad_field(api):
    response = await api.post("/products", {"sku": "", "name": "", "reorder_point": -1})
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"sku", "name", "reorder_point"}


@pytest.mark.parametrize("path", [
    "/products/%00", "/products/" + "x" * 5000, "/stock?sku=%00", "/stock?limit=0", "/stock?limit=501",
    "/stock?limit=abc", "/stock?cursor=%%%", "/stock?cursor=WyJ4Il0", "/stock?cursor=" + "A" * 300,
    "/stock/moves?reference=%00", "/warehouses/%00/locations", "/api-keys/99999999999999999999",
])
async def test_bad_paths_and_queries_are_4xx(api, path):
    await given_warehouse(api, "MAD-1", bins=())
    await given_product(api, "LAP-1")
    response = await api.get(path)
    assert 400 <= response.status_code < 500, (path, response.status_code, response.text[:200])
    assert response.headers["content-type"] == "application/problem+json"


async def test_unknown_routes_and_methods_are_problems(api):
    response = await api.get("/no-such-thing")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    response = await api.delete("/products")
    assert (response.status_code, response.json()["code"]) == (405, "method_not_allowed")


async def test_health_and_readiness_need_no_key(client):
    assert (await client.get("http://test/healthz")).json() == {"status": "ok"}
    ready = await client.get("http://test/readyz")
    assert ready.status_code == 200
    assert ready.json()["database"] == "ok"


async def test_every_response_carries_a_request_id(client):
    response = await client.get("http://test/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    assert len((await client.get("http://test/healthz")).headers["x-request-id"]) == 32


@pytest.mark.parametrize("path", ["/orders", "/orders/{number}/cancel", "/orders/{number}/shipments",
                                  "/purchase-orders", "/purchase-orders/PO-000001/receipts"])
async def test_a_document_names_each_sku_on_one_line_only(api, path):
    # A repeated sku would be ambiguous (add the quantities? keep the last?): refused, nothing changes.
    await given_warehouse(api, "MAD-1", bins=("A-01",))
    await given_product(api, "LAP-1")
    await given_stock(api, "LAP-1", "MAD-1/A-01", 5)
    order = await api.ok("post", "/orders", order_body(("LAP-1", 2)))
    lines = [{"sku": "LAP-1", "quantity": 1}, {"sku": "LAP-1", "quantity": 1}]
    body = {"lines": lines, "carrier": "DHL", "tracking_number": "T-1", "customer": order_body()["customer"],
            "channel": "phone", "supplier": "ACME", "warehouse": "MAD-1"}
    fields = {"/orders": ("customer", "channel", "lines"), "/orders/{number}/cancel": ("lines",),
              "/orders/{number}/shipments": ("carrier", "tracking_number", "lines"),
              "/purchase-orders": ("supplier", "warehouse", "lines"),
              "/purchase-orders/PO-000001/receipts": ("lines",)}[path]
    response = await api.post(path.format(number=order["number"]), {k: body[k] for k in fields})
    assert (response.status_code, response.json()["code"]) == (422, "validation_error"), response.text
    assert "one line only" in response.json()["detail"]
    view = await api.ok("get", f"/orders/{order['number']}")
    assert (view["status"], view["lines"][0]["reserved"], view["lines"][0]["cancelled"]) == ("confirmed", 2, 0)
    assert (await api.ok("get", "/orders"))["items"][0]["number"] == order["number"]
    assert len((await api.ok("get", "/orders"))["items"]) == 1


async def test_an_unexpected_error_is_a_500_problem_that_says_the_connection_closes(app, api):
    extra = router()

    @extra.get("/explode")
    async def explode() -> dict[str, str]:
        raise RuntimeError("a bug")

    app.include_router(extra, prefix="/api/v1")
    response = await api.get("/explode")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "internal_error"
    assert "a bug" not in response.text
    assert response.headers["connection"] == "close"
