"""The OpenAPI document integrators build against says what the service really does: each operation's own
errors (not the same eight everywhere) with their codes, the headers it sets, enums, one example per body,
servers and described tags, and `Idempotency-Key` and `If-Match` exactly as the server takes them."""

import json
import re
from pathlib import Path
from typing import get_args

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import TypeAdapter

from erp.app import create_app
from erp.errors import InvalidRequest, problem_catalogue
from erp.idempotency import validate_key
from erp.inventory.schemas import PromiseBasis
from erp.orders.models import ORDER_STATUSES
from erp.orders.schemas import OrderStatus
from erp.returns.schemas import RepairStatus, ReturnStatus
from erp.suppliers.models import PO_STATUSES
from erp.suppliers.schemas import PurchaseOrderStatus
from tests import conftest
from tests.builders import given_product

SRC = Path(__file__).resolve().parents[1] / "src" / "erp"
API = "/api/v1"
APP = create_app(conftest.test_settings(), database_url="postgresql://nobody@127.0.0.1/unused")
DOCUMENT = APP.openapi()


def _operations():
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            yield path, method, operation


def _resolve(schema):
    while "$ref" in schema:
        schema = DOCUMENT["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_each_operation_declares_the_errors_that_follow_from_what_it_is():
    for path, method, operation in _operations():
        statuses = {int(s) for s in operation["responses"] if not s.startswith("2")}
        where = f"{method.upper()} {path}"
        parameters = {p["in"] for p in operation.get("parameters", [])}
        if path.startswith(API):
            assert {401, 403, 503} <= statuses, where
            assert operation["security"], where
        if "requestBody" in operation:
            assert {400, 413, 422} <= statuses, where
        elif not parameters and 422 in statuses:
            raise AssertionError(f"{where}: 422 without a body or a parameter")
        assert (404 in statuses) >= ("path" in parameters), where
        if method == "post" and path.startswith(API) and path != f"{API}/availability/check":
            assert 409 in statuses, where  # Idempotency-Key reused or still running
            assert "Idempotent-Replayed" in operation["responses"][next(s for s in operation["responses"]
                                                                         if s.startswith("2"))]["headers"], where
        if method == "get":
            assert 409 not in statuses and 413 not in statuses, where
        takes_if_match = any(p["in"] == "header" and p["name"].lower() == "if-match" for p in operation.get("parameters", []))
        assert (412 in statuses) == takes_if_match, where
    assert {int(s) for s in DOCUMENT["paths"]["/healthz"]["get"]["responses"]} == {200}
    assert {int(s) for s in DOCUMENT["paths"]["/readyz"]["get"]["responses"]} == {200, 503}
    distinct = {frozenset(op["responses"]) for _, _, op in _operations()}
    assert len(distinct) > 8  # not the same list on every operation


def test_each_error_response_names_its_problem_codes_and_every_code_is_in_the_enum():
    catalogue = set(problem_catalogue())
    assert DOCUMENT["components"]["schemas"]["Problem"]["properties"]["code"]["enum"] == sorted(catalogue)
    for path, method, operation in _operations():
        for status, response in operation["responses"].items():
            if status.startswith("2"):
                continue
            assert response["content"]["application/problem+json"]["schema"] == {
                "$ref": "#/components/schemas/Problem"}, (path, method, status)
            codes = re.findall(r"`([a-z_]+)`", response["description"])
            assert codes and set(codes) <= catalogue, (path, method, status, response["description"])
    domain = DOCUMENT["paths"][f"{API}/orders"]["post"]["responses"]
    assert "`insufficient_stock`" in domain["409"]["description"] and "`not_found`" in domain["404"]["description"]


def test_every_code_the_source_answers_with_is_in_the_problem_code_enum():
    """Codes written as literals (`problem(409, "already_exists", ...)`, `code = "..."`) anywhere in the source."""
    enum = set(DOCUMENT["components"]["schemas"]["Problem"]["properties"]["code"]["enum"])
    found = set()
    for path in SRC.rglob("*.py"):
        text = path.read_text()
        found |= set(re.findall(r'problem\(\s*\d{3},\s*"([a-z_]+)"', text))
        found |= set(re.findall(r'\bcode, title = \d{3}, "([a-z_]+)"', text))
        found |= set(re.findall(r'\bcode(?:, title)? = "([a-z_]+)"', text))
        found |= set(re.findall(r'_problem_bytes\(\d{3}, "[^"]+", "([a-z_]+)"', text))
        found |= set(re.findall(r'^\s+\d{3}: \("([a-z_]+)",', text, re.M))
    assert found - {"bad_request"} <= enum, sorted(found - enum)
    assert len(found) > 25


def test_every_response_says_its_request_id_and_the_headers_it_sets():
    for path, method, operation in _operations():
        for status, response in operation["responses"].items():
            headers = response.get("headers", {})
            assert "X-Request-Id" in headers, (path, method, status)
            if status == "503":
                assert headers["Retry-After"]["required"], (path, method)
            if status == "401":
                assert "WWW-Authenticate" in headers
            if status == "405":
                assert "Allow" in headers
    products = DOCUMENT["paths"][f"{API}/products/{{sku}}"]
    assert "ETag" in products["get"]["responses"]["200"]["headers"]
    assert "ETag" in products["patch"]["responses"]["200"]["headers"]
    assert {"ETag", "Location"} <= set(DOCUMENT["paths"][f"{API}/products"]["post"]["responses"]["201"]["headers"])
    assert "Allow" in DOCUMENT["paths"][f"{API}/availability/{{sku}}"]["get"]["responses"]["405"]["headers"]


def test_status_and_promise_basis_fields_are_enums_of_every_value_the_domain_has():
    assert get_args(OrderStatus) == ORDER_STATUSES and get_args(PurchaseOrderStatus) == PO_STATUSES
    expected = {"OrderOut": OrderStatus, "OrderSummary": OrderStatus, "OrderCaseOut": OrderStatus,
                "PurchaseOrderOut": PurchaseOrderStatus, "PurchaseOrderSummary": PurchaseOrderStatus,
                "ReturnOut": ReturnStatus, "ReturnSummary": ReturnStatus, "RepairOut": RepairStatus,
                "RepairSummary": RepairStatus, "ReplacementOut": OrderStatus}
    schemas = DOCUMENT["components"]["schemas"]
    for name, literal in expected.items():
        assert schemas[name]["properties"]["status"]["enum"] == list(get_args(literal)), name
    bases = [name for name, schema in schemas.items() if "promise_basis" in schema.get("properties", {})]
    assert {"OrderOut", "OrderLineOut", "AvailabilityOut", "RepairOut", "PartOut"} <= set(bases)
    for name in bases:
        assert schemas[name]["properties"]["promise_basis"]["enum"] == list(get_args(PromiseBasis)), name


def test_every_request_body_has_one_example_that_the_server_accepts():
    examples = {}
    for path, method, operation in _operations():
        if "requestBody" in operation:
            content = operation["requestBody"]["content"]["application/json"]
            assert "example" in content, (path, method)
            examples[(path, method)] = content["example"]
    bodies = 0
    for context in iter_route_contexts(APP.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and route.body_field is not None:
            for method in context.methods:
                example = examples[(context.path_format, method.lower())]
                # As the server reads it: JSON text, validated strictly by the body's model.
                TypeAdapter(route.body_field.field_info.annotation).validate_json(json.dumps(example))
                bodies += 1
    assert bodies == len(examples) > 25


def test_no_parameter_takes_null_which_a_query_string_or_header_cannot_carry():
    for path, method, operation in _operations():
        for parameter in operation.get("parameters", []):
            assert "null" not in json.dumps(parameter["schema"]), (path, method, parameter)


def test_servers_and_every_tag_is_described():
    assert DOCUMENT["servers"] == [{"url": "/", "description": "This server"}]
    described = {tag["name"]: tag["description"] for tag in DOCUMENT["tags"]}
    used = {tag for _, _, operation in _operations() for tag in operation.get("tags", [])}
    assert used <= set(described) and all(described.values())


@pytest.mark.parametrize(("key", "accepted"), [
    ("a", True), ("~" * 255, True), ("order 42: retry", True), ("!", True),
    ("", False), ("x" * 256, False), (" a", False), ("a ", False), ("é", False), ("a\tb", False), ("a\x00", False),
])
def test_the_idempotency_key_pattern_is_exactly_what_the_server_accepts(key, accepted):
    parameter = next(p for p in DOCUMENT["paths"][f"{API}/orders"]["post"]["parameters"]
                     if p["name"] == "Idempotency-Key")
    schema = parameter["schema"]
    documented = schema["minLength"] <= len(key) <= schema["maxLength"] and re.search(schema["pattern"], key)
    assert bool(documented) == accepted
    try:
        validate_key(key)
    except InvalidRequest as refused:
        assert not accepted and refused.errors[0].field == "Idempotency-Key"
    else:
        assert accepted


@pytest.mark.parametrize(("if_match", "status"), [
    ('"1"', 200), ("*", 200), ('"2"', 412), ('W/"1"', 412), ('"abc"', 412), ("1", 422), ("²", 422), ('"1', 422),
])
async def test_if_match_is_taken_as_documented(api, if_match, status):
    await given_product(api, "LAP-1")
    parameter = next(p for p in DOCUMENT["paths"][f"{API}/products/{{sku}}"]["patch"]["parameters"]
                     if p["name"].lower() == "if-match")
    assert bool(re.search(parameter["schema"]["pattern"], if_match)) == (status != 422)
    response = await api.patch("/products/LAP-1", {"name": "Renamed"}, headers={"If-Match": if_match.encode("latin-1")})
    assert response.status_code == status, response.text
    if status == 412:
        assert response.json()["code"] == "version_conflict"
