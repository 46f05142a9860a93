"""Request bodies are strict (issue 10, item 7): a value must be of the JSON type the schema names.
`"quantity": true`, `"1"` or `1.0` placed an order for one unit; now every integer and boolean field of
every body in the OpenAPI document refuses the other JSON types, checked field by field from the document
itself, so a field added later is covered without a new line here."""

import re
from typing import Any

from tests.builders import given_product, given_stock, given_warehouse
from tests.orders.test_placing import order_body

# What a client may send instead of the right JSON type, per type the schema names.
WRONG = {"integer": ["1", True, 1.0, 1.5], "boolean": ["true", 1, 0, 1.0, None]}
PATH_VALUES = {"sku": "X-1", "code": "X-1", "line": "1", "inspection_id": "1", "pick_list_id": "1", "key_id": "1",
               "person_id": "1"}
NUMBERS = {"/purchase-orders/": "PO-000001", "/returns/": "RMA-000001", "/repairs/": "RO-000001",
           "/orders/": "SO-000001"}


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _typed_fields(document: dict[str, Any], schema: dict[str, Any], path: tuple[Any, ...] = ()):
    """(path, JSON type, nullable) of every integer or boolean value a body can hold, nested ones too."""
    schema = _resolve(document, schema)
    options = [_resolve(document, s) for s in schema.get("anyOf", [schema])]
    nullable = any(o.get("type") == "null" for o in options)
    for option in options:
        kind = option.get("type")
        if kind in WRONG:
            yield path, kind, nullable
        elif kind == "object":
            for name, field in option.get("properties", {}).items():
                yield from _typed_fields(document, field, (*path, name))
        elif kind == "array":
            yield from _typed_fields(document, option["items"], (*path, 0))


def _body(path: tuple[Any, ...], value: Any) -> Any:
    """The smallest body that puts `value` at `path`."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    return [_body(rest, value)] if head == 0 else {head: _body(rest, value)}


def _concrete(template: str) -> str:
    path = template.removeprefix("/api/v1")
    for prefix, number in NUMBERS.items():
        if path.startswith(prefix):
            path = path.replace("{number}", number)
    return re.sub(r"\{([^}]+)\}", lambda m: PATH_VALUES[m.group(1)], path)


async def test_every_integer_and_boolean_body_field_refuses_every_other_json_type(api):
    document = (await api.client.get("http://test/openapi.json")).json()
    checked = []
    for template, operations in document["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if method not in ("post", "put", "patch") or content is None:
                continue
            for field, kind, nullable in _typed_fields(document, content["schema"]):
                name = ".".join(str(part) for part in field)
                for wrong in WRONG[kind]:
                    if wrong is None and nullable:
                        continue  # null is a documented value of this field
                    response = await getattr(api, method)(_concrete(template), _body(field, wrong))
                    where = f"{method.upper()} {template} {name}={wrong!r}"
                    assert response.status_code == 422, f"{where}: {response.status_code} {response.text}"
                    problem = response.json()
                    assert problem["code"] == "validation_error", where
                    assert any(e["field"] == name and e["type"] in (f"{'int' if kind == 'integer' else 'bool'}_type",)
                               for e in problem["errors"]), f"{where}: {problem['errors']}"
                checked.append((template, name))
    # The document names these, so the walk above saw them (and every other one like them).
    names = {name for _, name in checked}
    assert {"lines.0.quantity", "quantity_delta", "counted_quantity", "reorder_point", "priority", "handling_days",
            "accepted", "rejected", "allow_backorder", "active", "preferred", "short", "inspection_required",
            "min_order_quantity", "lead_time_days", "repair_days", "max_orders", "items.0.quantity",
            "lines.0.restock", "advance_replacement"} <= names, sorted(names)
    assert len(checked) > 40


async def test_an_order_line_of_true_or_a_string_or_a_float_places_nothing(api):
    await given_warehouse(api, "MAD-1", bins=("A-01",))
    await given_product(api, "X-1")
    await given_stock(api, "X-1", "MAD-1/A-01", 5)
    for quantity in (True, "1", 1.0):
        body = order_body(("X-1", 1))
        body["lines"][0]["quantity"] = quantity
        refused = await api.as_("service").post("/orders", body)
        assert (refused.status_code, refused.json()["errors"][0]["field"]) == (422, "lines.0.quantity"), quantity
    assert (await api.get("/orders")).json()["items"] == []
    assert (await api.as_("service").ok("post", "/orders", order_body(("X-1", 1))))["lines"][0]["reserved"] == 1


async def test_money_is_a_decimal_string_everywhere_and_numbers_in_paths_and_queries_still_parse(api):
    await given_warehouse(api, "MAD-1", bins=("A-01",))
    await given_product(api, "X-1")
    await api.ok("post", "/suppliers", {"code": "ACME", "name": "Acme"})
    for cost in (12.5, 12, True):
        refused = await api.put("/suppliers/ACME/products/X-1", {"supplier_sku": "A", "unit_cost": cost,
                                                                  "currency": "EUR"})
        assert (refused.status_code, refused.json()["errors"][0]["field"]) == (422, "unit_cost"), cost
    terms = await api.ok("put", "/suppliers/ACME/products/X-1", {"supplier_sku": "A", "unit_cost": "12.50",
                                                                 "currency": "EUR"}, status=200)
    assert terms["unit_cost"] == "12.50"
    po = await api.post("/purchase-orders", {"supplier": "ACME", "warehouse": "MAD-1",
                                             "lines": [{"sku": "X-1", "quantity": 1, "unit_cost": 3}]})
    assert (po.status_code, po.json()["errors"][0]["field"]) == (422, "lines.0.unit_cost")
    # Path and query parameters arrive as text: integers in them parse as before.
    po = await api.ok("post", "/purchase-orders", {"supplier": "ACME", "warehouse": "MAD-1",
                                                   "lines": [{"sku": "X-1", "quantity": 1}]})
    moved = await api.ok("patch", f"/purchase-orders/{po['number']}/lines/1",
                         {"expected_date": po["lines"][0]["expected_date"]}, status=200)
    assert moved["lines"][0]["line_no"] == 1
    assert (await api.ok("get", "/availability/X-1?quantity=2"))["quantity"] == 2
    assert len((await api.ok("get", "/events?after=0&limit=1"))["items"]) == 1
    assert (await api.get("/pick-lists/7")).status_code == 404
