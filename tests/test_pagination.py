"""Cursors: a list answers only cursors it could have issued; anything else is 422, never a query or a 500.

Cursors carry the keyset position in plain (base64 JSON) form and are checked strictly against the key
columns: the number of keys, each value's JSON type (a string for a text key, an integer for an id key,
never a bool or a float), integer ranges (int32 or int64 as the column), string lengths, no NUL, and the
one spelling the API writes.
"""

import base64
import json
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.builders import given_product, given_stock, given_warehouse
from tests.orders.test_placing import order_body

# Every paginated list, with `{number}` for an order number.
LISTS = [
    "/products", "/warehouses", "/warehouses/MAD-1/locations", "/stock", "/stock/moves",
    "/stock/LAP-1/locations", "/orders", "/orders/{number}/timeline", "/orders/{number}/contacts", "/api-keys",
    "/suppliers", "/purchase-orders", "/inspections", "/stock?sku=LAP-1",
]


async def given_two_of_everything(api: Any) -> str:
    """At least two items in every list, so each hands out a cursor with `limit=1`; returns an order number."""
    for code, bins in (("MAD-1", ("A-01", "A-02")), ("BER-1", ("B-01",))):
        await given_warehouse(api, code, bins=bins)
    for sku in ("LAP-1", "MON-1"):
        await given_product(api, sku)
        await given_stock(api, sku, "MAD-1/A-01", 10)
    await given_stock(api, "LAP-1", "MAD-1/A-02", 10)
    order = await api.ok("post", "/orders", order_body(("LAP-1", 1)))
    await api.ok("post", "/orders", order_body(("MON-1", 1)))
    for summary in ("first call", "second call"):
        await api.ok("post", f"/orders/{order['number']}/contacts",
                     {"channel": "phone", "direction": "inbound", "summary": summary})
    for code in ("ACME", "GLOBEX"):
        await api.ok("post", "/suppliers", {"code": code, "name": code.title()})
    await api.ok("put", "/suppliers/ACME/products/LAP-1", {"supplier_sku": "A", "unit_cost": "1", "currency": "EUR"},
                 status=200)
    for _ in range(2):
        po = await api.ok("post", "/purchase-orders", {"supplier": "ACME", "warehouse": "MAD-1", "inspection_required": True,
                                                       "lines": [{"sku": "LAP-1", "quantity": 5}]})
    await api.ok("post", f"/purchase-orders/{po['number']}/send", status=200)
    for _ in range(2):
        await api.ok("post", f"/purchase-orders/{po['number']}/receipts", {"lines": [{"sku": "LAP-1", "quantity": 1}]})
    return order["number"]


def spell(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def forgeries(issued: str) -> dict[str, str]:
    """Cursors the API never issued, shaped after a real one: each key's value of the wrong type or range."""
    values = json.loads(base64.urlsafe_b64decode(issued + "=" * (-len(issued) % 4)))
    wrong_for = {
        int: ["1", True, False, 1.0, 1.5, 2**63, -(2**63) - 1, 10**400, None, [1], {"a": 1}],
        str: [1, True, 1.5, None, ["x"], {"a": "x"}, "a\x00b", "x" * 5000, -1],
    }
    forged = {
        "not base64": "%%%", "not json": spell("x")[:-1] + "!", "json object": spell({"id": 1}),
        "json string": spell("x"), "empty list": spell([]), "one value too many": spell([*values, values[-1]]),
        "deep nesting": base64.urlsafe_b64encode(b"[" * 100 + b"]" * 100).decode(),
        "another spelling of the issued cursor": spell(values) + "==",
        "the issued values spelled with spaces": base64.urlsafe_b64encode(json.dumps(values, indent=1).encode())
        .decode().rstrip("="),
    }
    if len(values) > 1:
        forged["one value too few"] = spell(values[:-1])
    for position, value in enumerate(values):
        for wrong in wrong_for[type(value)]:
            forged[f"key {position} = {json.dumps(wrong)[:20]}"] = spell(
                [*values[:position], wrong, *values[position + 1:]])
    return forged


@pytest.mark.parametrize("path", LISTS)
async def test_a_cursor_the_api_did_not_issue_is_422_on_every_list(api, path):
    number = await given_two_of_everything(api)
    path = path.replace("{number}", number)
    path, _, query = path.partition("?")
    filters = dict(pair.split("=") for pair in query.split("&")) if query else {}
    first = await api.ok("get", f"{path}?{urlencode({**filters, 'limit': 1})}")
    issued = first["next_cursor"]
    assert issued, f"{path} should have a second page"
    second = await api.ok("get", f"{path}?{urlencode({**filters, 'limit': 1, 'cursor': issued})}")
    assert second["items"] and second["items"] != first["items"]
    for label, cursor in forgeries(issued).items():
        if len(cursor) > 200:
            continue  # over the parameter's documented maxLength: a plain 422 for the length
        response = await api.get(path, params={**filters, "limit": 1, "cursor": cursor})
        assert response.status_code == 422, (path, label, response.status_code, response.text[:200])
        assert response.json()["code"] == "validation_error", (path, label)
        assert response.headers["content-type"] == "application/problem+json"
