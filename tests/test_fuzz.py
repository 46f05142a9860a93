"""The API against its own OpenAPI document (API.md: "it is fuzzed against the running server").

Schemathesis generates requests for every documented operation, valid ones and invalid ones, as an admin
and as restricted roles, against the app on a real database seeded with a warehouse, products, stock and
orders in several states. Whatever it sends, the answer is never a 5xx, its status code is documented for
that operation, and its body and content type match the documented schema. `ERP_FUZZ_EXAMPLES` sets the
examples per operation, role and generation mode (default 8).
"""

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS as REGISTERED_CHECKS
from schemathesis.checks import is_check_class, load_all_checks
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import positive_data_acceptance

from erp import auth
from erp.app import create_app
from erp.db import create_engine, sessionmaker
from erp.models import ROLES
from tests import conftest
from tests.conftest import _dsn, _with_database, assert_invariants

EXAMPLES = int(os.environ.get("ERP_FUZZ_EXAMPLES", "8"))
FUZZED_ROLES = ("admin", "warehouse", "integration")


def _at(body: Any, field: str) -> Any:
    for part in field.split("."):
        try:
            body = body[int(part)] if isinstance(body, list) else body[part]
        except (KeyError, IndexError, ValueError, TypeError):
            return None
    return body


def _a_rule_no_schema_can_state(response: Any, case: Any) -> bool:
    """A 422 for a rule JSON Schema cannot express: one about the stored state (`Return RMA-1 has no line for
    X-1`), about today (an expected date in the past), or across fields (`reorder_max` below `reorder_point`);
    such problems list no field, or only `value_error`s of the model's own rules. And integers written as
    `1.0`: JSON Schema counts them as integers, this API refuses them (strict types, issue 10 item 7). A type,
    range, pattern, enum or required field is a schema's to say: a 422 for one of those on valid data fails."""
    problem = response.json()
    if problem.get("code") != "validation_error":
        return False
    return all(error["type"] == "value_error"
               or (error["type"] == "int_type" and isinstance(value := _at(case.body, error["field"]), float)
                   and value.is_integer())
               for error in problem.get("errors") or [])


def positive_data_acceptance_where_the_schema_can_say(ctx: Any, response: Any, case: Any) -> bool | None:
    """Schemathesis's positive_data_acceptance: data valid by the schema is accepted (2xx, or 401, 403, 404,
    409), except where no schema can state the rule: a 412 for an `If-Match` naming another version than the
    current one, and a 422 for a rule beyond the schema (above)."""
    if response.status_code == 412 or (response.status_code == 422 and _a_rule_no_schema_can_state(response, case)):
        return None
    return positive_data_acceptance(ctx, response, case)


load_all_checks()
# Schemathesis's default checks, every one it has, positive_data_acceptance held to what a schema can say.
CHECKS = [positive_data_acceptance_where_the_schema_can_say if check is positive_data_acceptance else check
          for check in REGISTERED_CHECKS.get_all() if not is_check_class(check)]


def _operations() -> list[tuple[str, str]]:
    """Every documented operation; reading the document needs no database."""
    document = create_app(conftest.test_settings(), database_url="postgresql://nobody@127.0.0.1/unused").openapi()
    return [(method.upper(), path) for path, operations in document["paths"].items() for method in operations]


OPERATIONS = _operations()

# Values naming resources the seed creates: path parameters and body fields of some generated requests are
# replaced with them, so operations on existing resources get past "not found" and do real work.
EXISTING: dict[str, list[Any]] = {
    "sku": ["LAP-1", "MON-1", "OLD-1"],
    "barcode": ["1001", "1002"],
    "code": ["MAD-1", "BER-1", "ACME"],
    "warehouse": ["MAD-1", "BER-1"],
    "supplier": ["ACME"],
    "line": [1],
    "inspection_id": [1],
    "location": ["MAD-1/A-01", "MAD-1/A-02", "BER-1/B-01", "MAD-1/PACKING"],
    "from_location": ["MAD-1/A-01", "MAD-1/A-02", "BER-1/B-01"],
    "to_location": ["MAD-1/A-01", "MAD-1/A-02", "BER-1/B-01", "MAD-1/QUARANTINE"],
    "number": ["SO-000001", "SO-000002", "SO-000003", "SO-000004"],
    "pick_list_id": [1, 2],
    "key_id": [],  # filled by the seed with a key made to be revoked
    "hold_id": [],  # filled by the seed
    "subscription_id": [1],
    "delivery_id": [1],
}


# Purchase orders, returns and repairs are numbered on their own.
PURCHASE_ORDERS = {"number": ["PO-000001", "PO-000002", "PO-000003"]}
RETURNS = {"number": ["RMA-000001", "RMA-000002"], "order": ["SO-000001"]}
REPAIRS = {"number": ["RO-000001"], "order": ["SO-000001"]}


def _with_existing(value: Any, data: st.DataObject, path: str) -> Any:
    """`value` with the fields that name a resource replaced by one that exists."""
    if isinstance(value, list):
        return [_with_existing(item, data, path) for item in value]
    if not isinstance(value, dict):
        return value
    existing = EXISTING | (PURCHASE_ORDERS if "/purchase-orders" in path else RETURNS if "/returns" in path
                           else REPAIRS if "/repairs" in path else {})
    return {name: data.draw(st.sampled_from(existing[name]))
            if name in existing and existing[name] and isinstance(item, (str, int))
            else _with_existing(item, data, path)
            for name, item in value.items()}


@dataclass
class Fuzzed:
    schema: Any
    keys: dict[str, str]
    key_ids: set[int]
    url: str


def _seed(client: Any, admin: str, warehouse2: str) -> None:
    """A small world through the API itself: orders confirmed, picking, packed, backordered, cancelled."""
    headers = {"Authorization": f"Bearer {admin}"}

    def post(path: str, body: dict[str, Any], expected: int = 201, key: str = admin, method: str = "post") -> Any:
        response = client.request(method, f"/api/v1{path}", json=body, headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == expected, f"seed {path}: {response.status_code} {response.text}"
        return response.json()

    post("/warehouses", {"code": "MAD-1", "name": "Madrid", "priority": 10})
    post("/warehouses", {"code": "BER-1", "name": "Berlin", "priority": 20})
    for warehouse, bins in (("MAD-1", ("A-01", "A-02")), ("BER-1", ("B-01",))):
        for n, code in enumerate(bins):
            post(f"/warehouses/{warehouse}/locations", {"code": code, "sequence": n})
    post("/products", {"sku": "LAP-1", "name": "Laptop", "barcode": "1001", "reorder_point": 2, "reorder_max": 10})
    post("/products", {"sku": "MON-1", "name": "Monitor", "barcode": "1002"})
    post("/products", {"sku": "OLD-1", "name": "Discontinued", "active": False})
    for sku, location, quantity in (("LAP-1", "MAD-1/A-01", 50), ("MON-1", "MAD-1/A-02", 20), ("LAP-1", "BER-1/B-01", 5)):
        post("/stock/adjustments", {"sku": sku, "location": location, "quantity_delta": quantity, "reason": "initial_stock"})
    customer = {"name": "Ada", "email": "ada@example.com"}
    packed = post("/orders", {"customer": customer, "channel": "web", "lines": [{"sku": "LAP-1", "quantity": 2}]})
    pick_list = post("/pick-lists", {"warehouse": "MAD-1"})
    for line in pick_list["lines"]:
        post(f"/pick-lists/{pick_list['id']}/confirm", {"location": line["location"], "sku": line["sku"],
                                                         "quantity": line["quantity"]}, expected=200)
    post(f"/orders/{packed['number']}/pack", {"items": [{"sku": "LAP-1", "quantity": 2}]}, expected=200, key=warehouse2)
    post(f"/orders/{packed['number']}/shipments", {"carrier": "DHL", "tracking_number": "T-1"})
    post("/orders", {"customer": customer, "channel": "phone", "lines": [{"sku": "LAP-1", "quantity": 3},
                                                                          {"sku": "MON-1", "quantity": 1}]})
    post("/orders", {"customer": customer, "channel": "api", "external_ref": "EXT-1",
                     "lines": [{"sku": "MON-1", "quantity": 40}]})
    cancelled = post("/orders", {"customer": customer, "channel": "chat", "lines": [{"sku": "LAP-1", "quantity": 1}]})
    post(f"/orders/{cancelled['number']}/cancel", {}, expected=200)
    post(f"/orders/{packed['number']}/contacts", {"channel": "email", "direction": "inbound", "summary": "where?"})
    post("/pick-lists", {"warehouse": "MAD-1"})
    # Supply: a supplier, a draft purchase order, a sent one, and one received into inspection.
    post("/suppliers", {"code": "ACME", "name": "Acme", "email": "sales@acme.example", "lead_time_days": 10})
    post("/suppliers/ACME/products/LAP-1", {"supplier_sku": "A-LAP", "unit_cost": "100.00", "currency": "EUR",
                                            "preferred": True}, expected=200, method="put")
    post("/purchase-orders", {"supplier": "ACME", "warehouse": "MAD-1", "lines": [{"sku": "LAP-1", "quantity": 10}]})
    sent = post("/purchase-orders", {"supplier": "ACME", "warehouse": "MAD-1", "lines": [{"sku": "MON-1", "quantity": 50, "unit_cost": "80.00"}]})
    post(f"/purchase-orders/{sent['number']}/send", {}, expected=200)
    inspected = post("/purchase-orders", {"supplier": "ACME", "warehouse": "BER-1", "inspection_required": True,
                                          "lines": [{"sku": "LAP-1", "quantity": 5}]})
    post(f"/purchase-orders/{inspected['number']}/send", {}, expected=200)
    post(f"/purchase-orders/{inspected['number']}/receipts", {"lines": [{"sku": "LAP-1", "quantity": 3}]})
    assert [po["number"] for po in client.get("/api/v1/purchase-orders", headers=headers).json()["items"]] == \
        PURCHASE_ORDERS["number"]
    EXISTING["key_id"] = [post("/api-keys", {"name": "to be revoked", "role": "service"})["id"]]
    assert client.get("/api/v1/orders/SO-000004", headers=headers).json()["status"] == "cancelled"
    # Returns: one authorized, one received; a walk-in repair waiting for a part.
    for resolution in ("refund", "replacement"):
        post("/returns", {"order": packed["number"], "resolution": resolution,
                          "lines": [{"sku": "LAP-1", "quantity": 1, "reason": "defective"}]})
    post("/returns/RMA-000002/receive", {}, expected=200, key=warehouse2)  # places replacement SO-000005
    post("/repairs", {"sku": "LAP-1", "customer": customer, "problem": "no power"})
    post("/repairs/RO-000001/parts", {"sku": "MON-1", "quantity": 1})
    # A webhook subscription (its deliveries are made by the events above it sees) and a hold.
    post("/webhooks", {"url": "https://hooks.example.com/erp", "event_types": ["*"]})
    EXISTING["hold_id"] = [post("/holds", {"lines": [{"sku": "LAP-1", "quantity": 1}]})["id"]]


@pytest.fixture(scope="module")
def fuzzed(server_url: str, template_database: str) -> Iterator[Fuzzed]:
    """One seeded database for the whole module: fuzzing only adds to it, and every test may read it."""
    name = f"erp_fuzz_{os.getpid()}"
    url = _with_database(server_url, name)

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(_dsn(_with_database(server_url, "postgres")))
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    async def create_keys() -> tuple[dict[str, str], set[int]]:
        engine = create_engine(url, conftest.test_settings())
        made, ids = {}, set()
        try:
            async with sessionmaker(engine)() as session, session.begin():
                for role in (*ROLES, "warehouse2"):
                    row, made[role] = await auth.create_key(session, name=f"{role} fuzzer", role=role.rstrip("2"))
                    ids.add(row.id)
        finally:
            await engine.dispose()
        return made, ids

    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(admin(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"'))
    keys, key_ids = asyncio.run(create_keys())
    app = create_app(conftest.test_settings(), database_url=url)
    # Schemathesis serves the app in-process on its own event loop thread, lifespan included.
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    with asgi.get_client(app) as client:
        _seed(client, keys["admin"], keys["warehouse2"])
    try:
        yield Fuzzed(schema, keys, key_ids, url)
    finally:
        asgi.shutdown_lifespans()
        try:
            asyncio.run(assert_invariants(url))
        finally:
            asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_the_fuzzer_runs_every_default_check_of_schemathesis():
    names = {check.__name__ for check in CHECKS}
    assert {"not_a_server_error", "status_code_conformance", "content_type_conformance", "response_headers_conformance",
            "response_schema_conformance", "negative_data_rejection", "positive_data_acceptance_where_the_schema_can_say",
            "missing_required_header", "unsupported_method", "allow_header_conformance", "ignored_auth"} <= names
    assert "positive_data_acceptance" not in names


def _revokes_a_fuzzer_key(case: Any, key_ids: set[int]) -> bool:
    return case.method == "DELETE" and (case.path_parameters or {}).get("key_id") in key_ids


@pytest.mark.parametrize("role", FUZZED_ROLES)
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_request_gets_a_5xx_and_every_answer_is_documented(fuzzed: Fuzzed, method: str, path: str, role: str):
    operation = fuzzed.schema[path][method]
    headers = {"Authorization": f"Bearer {fuzzed.keys[role]}"}
    # (case, whether to point its references at existing resources); valid and invalid requests alike.
    strategy = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE, headers=headers).map(lambda c: (c, False)),
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE, headers=headers).map(lambda c: (c, True)),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE, headers=headers).map(lambda c: (c, False)),
    ).filter(lambda pair: not _revokes_a_fuzzer_key(pair[0], fuzzed.key_ids))

    @settings(max_examples=EXAMPLES * 3, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(generated=strategy, data=st.data())
    def fuzz(generated: tuple[Any, bool], data: st.DataObject) -> None:
        case, existing = generated
        if existing:
            if case.path_parameters:
                case.path_parameters = _with_existing(case.path_parameters, data, path)
            if isinstance(case.body, (dict, list)):
                case.body = _with_existing(case.body, data, path)
        response = case.call()
        assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text}"
        case.validate_response(response, checks=CHECKS, headers=headers)

    fuzz()
