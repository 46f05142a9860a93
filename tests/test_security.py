"""What a client may not do, whatever its role (test_auth.py has who may call what).

No field the server owns can be written: an order's status or number, a line's reserved quantity, stock
balances, versions, API key hashes. Sending one is 422 `validation_error` naming the field, and nothing
changes. Every page size and every quantity is bounded.
"""

from typing import Any

import pytest

from erp.schemas import MAX_QUANTITY
from tests.builders import given_product, given_stock, given_warehouse
from tests.orders.test_placing import order_body

ORDER = order_body(("LAP-1", 2))
ADJUSTMENT = {"sku": "LAP-1", "location": "MAD-1/A-01", "quantity_delta": 1, "reason": "found"}
TRANSFER = {"sku": "LAP-1", "from_location": "MAD-1/A-01", "to_location": "MAD-1/A-02", "quantity": 1}


async def given_world(api: Any) -> str:
    """A warehouse, a stocked product and one order, already on a pick list; returns the order number."""
    await given_warehouse(api, "MAD-1", bins=("A-01", "A-02"))
    await given_product(api, "LAP-1", barcode="1001")
    await given_stock(api, "LAP-1", "MAD-1/A-01", 10)
    order = await api.as_("service").ok("post", "/orders", ORDER)
    await api.as_("warehouse").ok("post", "/pick-lists", {"warehouse": "MAD-1"})
    return order["number"]


async def snapshot(api: Any, number: str) -> dict[str, Any]:
    """Everything a forbidden write could have changed, read through the API."""
    paths = ["/products?limit=500", "/warehouses?limit=500", "/stock?limit=500", "/stock/moves?limit=500",
             "/orders?limit=500", f"/orders/{number}", "/pick-lists/1", "/api-keys?limit=500", "/events?limit=500"]
    return {path: await api.as_("admin").ok("get", path) for path in paths}


def with_field(body: dict[str, Any], where: str, field: str, value: Any) -> dict[str, Any]:
    """`body` with `field` added at the top, in every line (`lines[]`), or in the customer."""
    if where == "lines[]":
        return {**body, "lines": [{**line, field: value} for line in body["lines"]]}
    if where:
        return {**body, where: {**body[where], field: value}}
    return {**body, field: value}


def server_owned(role: str, method: str, path: str, body: dict[str, Any], *fields: tuple[str, str, Any]) -> Any:
    """One endpoint, a body it accepts, and the server-owned (where, field, value)s it must refuse."""
    return pytest.param(role, method, path, body, fields, id=f"{method} {path}")


SERVER_OWNED = [
    server_owned("service", "post", "/orders", ORDER,
                 ("", "status", "shipped"), ("", "number", "SO-999999"), ("", "version", 7),
                 ("", "created_at", "2020-01-01T00:00:00Z"), ("", "promised_date", "2020-01-01"), ("", "touches", 0),
                 ("customer", "id", 1), ("lines[]", "reserved", 2), ("lines[]", "backordered", 0),
                 ("lines[]", "picked", 2), ("lines[]", "shipped", 2), ("lines[]", "promise_basis", "in_stock")),
    server_owned("service", "post", "/orders/{number}/cancel", {}, ("", "status", "confirmed")),
    server_owned("service", "post", "/orders/{number}/contacts", {"channel": "chat", "direction": "inbound", "summary": "hi"},
                 ("", "rep", "someone else"), ("", "at", "2020-01-01T00:00:00Z")),
    server_owned("admin", "post", "/products", {"sku": "NEW-1", "name": "New"},
                 ("", "version", 5), ("", "on_hand", 100), ("", "reserved", 0), ("", "id", 99)),
    server_owned("admin", "patch", "/products/LAP-1", {"name": "Renamed"},
                 ("", "version", 99), ("", "sku", "LAP-2"), ("", "on_hand", 1000), ("", "reserved", 0),
                 ("", "created_at", "2020-01-01T00:00:00Z")),
    server_owned("admin", "post", "/warehouses", {"code": "NEW-1", "name": "New"}, ("", "id", 99)),
    server_owned("warehouse", "post", "/stock/adjustments", ADJUSTMENT,
                 ("", "on_hand", 1000), ("", "reserved", 0), ("", "available", 1000), ("", "actor", "someone else")),
    server_owned("warehouse", "post", "/stock/transfers", TRANSFER, ("", "reserved", 0), ("", "reason", "found")),
    server_owned("warehouse", "post", "/pick-lists/1/confirm", {"location": "MAD-1/A-01", "sku": "LAP-1", "quantity": 1},
                 ("", "picked_by", "someone else")),
    server_owned("admin", "post", "/api-keys", {"name": "k", "role": "service"},
                 ("", "key_hash", "0" * 64), ("", "key", "erp_chosen_by_the_client"), ("", "prefix", "erp_chosen"),
                 ("", "revoked_at", None), ("", "id", 1)),
]


@pytest.mark.parametrize(("role", "method", "path", "body", "fields"), SERVER_OWNED)
async def test_a_field_the_server_owns_cannot_be_written(api, role, method, path, body, fields):
    number = await given_world(api)
    path = path.replace("{number}", number)
    before = await snapshot(api, number)
    for where, field, value in fields:
        response = await getattr(api.as_(role), method)(path, json=with_field(body, where, field, value))
        assert response.status_code == 422, (field, response.text)
        problem = response.json()
        assert problem["code"] == "validation_error"
        assert any(e["field"].split(".")[-1] == field for e in problem["errors"]), problem
    assert await snapshot(api, number) == before
    # The same request without those fields is accepted: each was refused for the field alone.
    accepted = await getattr(api.as_(role), method)(path, json=body)
    assert accepted.status_code in (200, 201), accepted.text


@pytest.mark.parametrize("field", ["name", "reorder_point", "reorder_max", "active"])
async def test_a_product_field_that_cannot_be_empty_cannot_be_nulled(api, field):
    await given_product(api, "LAP-1", barcode="1001", reorder_point=1, reorder_max=5)
    before = await api.ok("get", "/products/LAP-1")
    response = await api.patch("/products/LAP-1", json={field: None})
    assert (response.status_code, response.json()["code"]) == (422, "validation_error")
    assert await api.ok("get", "/products/LAP-1") == before
    cleared = await api.ok("patch", "/products/LAP-1", {"barcode": None})
    assert cleared["barcode"] is None


LISTS = ["/products", "/warehouses", "/warehouses/MAD-1/locations", "/stock", "/stock/moves", "/stock/LAP-1/locations",
         "/orders", "/orders/{number}/timeline", "/orders/{number}/contacts", "/events", "/api-keys"]


async def test_every_list_caps_its_page_at_500(api):
    number = await given_world(api)
    for path in LISTS:
        path = path.replace("{number}", number)
        for limit, status in ((500, 200), (501, 422), (10**6, 422), (0, 422), (-1, 422)):
            response = await api.get(f"{path}?limit={limit}")
            assert response.status_code == status, (path, limit, response.text)
            if status == 422:
                assert response.json()["code"] == "validation_error"
                assert response.json()["errors"][0]["field"] == "limit"


TOO_MANY = MAX_QUANTITY + 1

# (role, method, path, body with a quantity one over the cap)
OVER_THE_CAP = [
    ("service", "post", "/orders", order_body(("LAP-1", TOO_MANY))),
    ("service", "post", "/orders/{number}/cancel", {"lines": [{"sku": "LAP-1", "quantity": TOO_MANY}]}),
    ("warehouse", "post", "/stock/adjustments", {**ADJUSTMENT, "quantity_delta": TOO_MANY}),
    ("warehouse", "post", "/stock/adjustments", {**ADJUSTMENT, "quantity_delta": -TOO_MANY}),
    ("warehouse", "post", "/stock/adjustments", {**ADJUSTMENT, "quantity_delta": None, "counted_quantity": TOO_MANY}),
    ("warehouse", "post", "/stock/transfers", {**TRANSFER, "quantity": TOO_MANY}),
    ("warehouse", "post", "/pick-lists/1/confirm", {"location": "MAD-1/A-01", "sku": "LAP-1", "quantity": TOO_MANY}),
    ("warehouse2", "post", "/orders/{number}/pack", {"items": [{"sku": "LAP-1", "quantity": TOO_MANY}]}),
    ("warehouse", "post", "/orders/{number}/shipments",
     {"carrier": "UPS", "tracking_number": "1Z", "lines": [{"sku": "LAP-1", "quantity": TOO_MANY}]}),
    ("service", "post", "/availability/check", {"lines": [{"sku": "LAP-1", "quantity": TOO_MANY}]}),
    ("service", "get", f"/availability/LAP-1?quantity={TOO_MANY}", None),
    ("admin", "post", "/products", {"sku": "NEW-1", "name": "New", "reorder_point": TOO_MANY, "reorder_max": TOO_MANY}),
    ("admin", "patch", "/products/LAP-1", {"reorder_max": TOO_MANY}),
]


async def test_every_quantity_is_capped_at_a_billion(api):
    number = await given_world(api)
    before = await snapshot(api, number)
    for role, method, path, body in OVER_THE_CAP:
        path = path.replace("{number}", number)
        response = await (getattr(api.as_(role), method)(path, json=body) if body is not None
                          else api.as_(role).get(path))
        assert (response.status_code, response.json()["code"]) == (422, "validation_error"), (path, body, response.text)
    assert await snapshot(api, number) == before


async def test_a_billion_itself_is_accepted_and_balances_do_not_overflow(api):
    await given_warehouse(api, "MAD-1", bins=("A-01",))
    await given_product(api, "LAP-1")
    for _ in range(3):
        await given_stock(api, "LAP-1", "MAD-1/A-01", MAX_QUANTITY)
    order = await api.as_("service").ok("post", "/orders", order_body(("LAP-1", MAX_QUANTITY)))
    assert order["lines"][0]["reserved"] == MAX_QUANTITY
    level = (await api.ok("get", "/stock?sku=LAP-1"))["items"][0]
    assert (level["on_hand"], level["reserved"], level["available"]) == (3 * MAX_QUANTITY, MAX_QUANTITY, 2 * MAX_QUANTITY)
