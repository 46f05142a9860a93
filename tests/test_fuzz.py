"""The API against its own OpenAPI document (API.md: "it is fuzzed against the running server").

Schemathesis generates requests for every documented operation, valid ones and invalid ones, as an admin
and as restricted roles, against the app on a real database seeded with a warehouse, products, stock and
orders in several states. Whatever it sends, the answer is never a 5xx, its status code is documented for
that operation, and its body and content type match the documented schema. `ERP_FUZZ_EXAMPLES` sets the
examples per operation, role and generation mode (default 12).
"""

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from erp import auth
from erp.app import create_app
from erp.db import create_engine, sessionmaker
from erp.models import ROLES
from tests import conftest
from tests.conftest import _dsn, _with_database, assert_invariants

EXAMPLES = int(os.environ.get("ERP_FUZZ_EXAMPLES", "12"))
FUZZED_ROLES = ("admin", "warehouse", "integration")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _operations() -> list[tuple[str, str]]:
    """Every documented operation; reading the document needs no database."""
    document = create_app(conftest.test_settings(), database_url="postgresql://nobody@127.0.0.1/unused").openapi()
    return [(method.upper(), path) for path, operations in document["paths"].items() for method in operations]


OPERATIONS = _operations()

# Path parameters naming resources the seed creates, so operations on existing resources get exercised too.
EXISTING = {"sku": "LAP-1", "code": "MAD-1", "number": "SO-000001", "pick_list_id": 1, "key_id": 1}


@dataclass
class Fuzzed:
    schema: Any
    keys: dict[str, str]
    url: str


def _seed(client: Any, admin: str, warehouse2: str) -> None:
    """A small world through the API itself: orders confirmed, picking, packed, backordered, cancelled."""
    headers = {"Authorization": f"Bearer {admin}"}

    def post(path: str, body: dict[str, Any], expected: int = 201, key: str = admin) -> dict[str, Any]:
        response = client.post(f"/api/v1{path}", json=body, headers={"Authorization": f"Bearer {key}"})
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
    post("/orders", {"customer": customer, "channel": "phone", "lines": [{"sku": "LAP-1", "quantity": 3},
                                                                          {"sku": "MON-1", "quantity": 1}]})
    post("/orders", {"customer": customer, "channel": "api", "external_ref": "EXT-1",
                     "lines": [{"sku": "MON-1", "quantity": 40}]})
    cancelled = post("/orders", {"customer": customer, "channel": "chat", "lines": [{"sku": "LAP-1", "quantity": 1}]})
    post(f"/orders/{cancelled['number']}/cancel", {}, expected=200)
    post(f"/orders/{packed['number']}/contacts", {"channel": "email", "direction": "inbound", "summary": "where?"})
    assert client.get("/api/v1/orders/SO-000001", headers=headers).status_code == 200


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

    async def create_keys() -> dict[str, str]:
        engine = create_engine(url, conftest.test_settings())
        made = {}
        try:
            async with sessionmaker(engine)() as session, session.begin():
                for role in ROLES:
                    _, made[role] = await auth.create_key(session, name=f"{role} fuzzer", role=role)
                _, made["warehouse2"] = await auth.create_key(session, name="second warehouse fuzzer", role="warehouse")
        finally:
            await engine.dispose()
        return made

    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(admin(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"'))
    keys = asyncio.run(create_keys())
    app = create_app(conftest.test_settings(), database_url=url)
    # Schemathesis serves the app in-process on its own event loop thread, lifespan included.
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    with asgi.get_client(app) as client:
        _seed(client, keys["admin"], keys["warehouse2"])
    try:
        yield Fuzzed(schema, keys, url)
    finally:
        asgi.shutdown_lifespans()
        try:
            asyncio.run(assert_invariants(url))
        finally:
            asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.mark.parametrize("role", FUZZED_ROLES)
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_request_gets_a_5xx_and_every_answer_is_documented(fuzzed: Fuzzed, method: str, path: str, role: str):
    operation = fuzzed.schema[path][method]
    headers = {"Authorization": f"Bearer {fuzzed.keys[role]}"}
    existing = {p.name: EXISTING[p.name] for p in operation.path_parameters if p.name in EXISTING}
    strategies = []
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        strategies.append(operation.as_strategy(generation_mode=mode, headers=headers))
    if existing and len(existing) == len(list(operation.path_parameters)):
        strategies.append(operation.as_strategy(generation_mode=GenerationMode.POSITIVE, headers=headers,
                                                path_parameters=existing))
    checks = CHECKS

    @settings(max_examples=EXAMPLES * len(strategies), deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck))
    @given(case=st.one_of(strategies))
    def fuzz(case: Any) -> None:
        response = case.call()
        assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text}"
        extra = [negative_data_rejection] if case.meta and case.meta.generation.mode.is_negative else []
        case.validate_response(response, checks=checks + extra)

    fuzz()
