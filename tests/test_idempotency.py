import asyncio

import httpx
import pytest
from sqlalchemy import text

from erp import idempotency
from erp.app import create_app
from erp.db import SessionDep
from erp.routing import router
from tests import conftest
from tests.builders import given_product, given_stock, given_warehouse
from tests.conftest import Api, assert_invariants

ADJUST = {"sku": "LAP-1", "location": "MAD-1/A-01", "quantity_delta": 5, "reason": "found"}


async def given_world(api):
    await given_warehouse(api, "MAD-1", bins=("A-01",))
    await given_product(api, "LAP-1")


async def moves(api):
    return (await api.ok("get", "/stock/moves?sku=LAP-1"))["items"]


async def test_a_retry_with_the_same_key_replays_the_response_and_does_nothing_again(api):
    await given_world(api)
    first = await api.post("/stock/adjustments", ADJUST, headers={"Idempotency-Key": "k-1"})
    again = await api.post("/stock/adjustments", ADJUST, headers={"Idempotency-Key": "k-1"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.content == again.content
    assert again.headers["idempotent-replayed"] == "true"
    assert len(await moves(api)) == 1


async def test_the_same_key_with_another_body_is_409(api):
    await given_world(api)
    await api.post("/stock/adjustments", ADJUST, headers={"Idempotency-Key": "k-1"})
    response = await api.post("/stock/adjustments", {**ADJUST, "quantity_delta": 6}, headers={"Idempotency-Key": "k-1"})
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_reused"
    assert len(await moves(api)) == 1


async def test_concurrent_retries_of_one_key_do_the_work_once_with_identical_responses(api):
    await given_world(api)
    responses = await asyncio.gather(*(
        api.as_("warehouse").post("/stock/adjustments", ADJUST, headers={"Idempotency-Key": "burst"}) for _ in range(12)))
    assert {r.status_code for r in responses} == {201}
    assert len({r.content for r in responses}) == 1
    assert len(await moves(api)) == 1


async def test_keys_belong_to_the_caller(api):
    await given_world(api)
    await api.as_("admin").post("/stock/adjustments", ADJUST, headers={"Idempotency-Key": "shared"})
    await api.as_("warehouse").post("/stock/adjustments", ADJUST, headers={"Idempotency-Key": "shared"})
    assert len(await moves(api)) == 2


async def test_a_failed_request_stores_nothing_so_its_retry_runs_again(api):
    await given_world(api)
    take = {**ADJUST, "quantity_delta": -2, "reason": "lost"}
    refused = await api.post("/stock/adjustments", take, headers={"Idempotency-Key": "k-2"})
    assert refused.status_code == 409
    await given_stock(api, "LAP-1", "MAD-1/A-01", 2)
    accepted = await api.post("/stock/adjustments", take, headers={"Idempotency-Key": "k-2"})
    assert accepted.status_code == 201


async def test_an_unusable_key_is_422(api):
    await given_world(api)
    response = await api.post("/stock/adjustments", ADJUST, headers={"Idempotency-Key": "x" * 300})
    assert response.status_code == 422
    assert await moves(api) == []


async def test_a_commit_that_fails_reaches_the_client_as_an_error_not_a_success(app, api):
    """The transaction commits before the response is sent; a deferred constraint fails only at COMMIT."""
    session_maker = app.state.sessionmaker
    async with session_maker() as session, session.begin():
        await session.execute(text("CREATE TABLE probe (id int UNIQUE DEFERRABLE INITIALLY DEFERRED)"))
    extra = router()

    @extra.post("/probe", status_code=201)
    async def probe(session: SessionDep) -> dict[str, str]:
        await session.execute(text("INSERT INTO probe VALUES (1), (1)"))
        return {"status": "created"}

    app.include_router(extra, prefix="/api/v1")
    response = await api.post("/probe", {})
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    async with session_maker() as session:
        assert (await session.execute(text("SELECT count(*) FROM probe"))).scalar() == 0


# --- who may replay: authentication and authorization come first --------------------------------------

async def _new_key(api, role):
    created = await api.ok("post", "/api-keys", {"name": f"temp {role}", "role": role})
    caller = api.as_(role)
    caller.keys = {**api.keys, role: created["key"]}
    return created, caller


# (role of the caller, path, body) of POSTs that a caller makes and then retries with the same key.
RETRIED = [
    ("warehouse", "/stock/adjustments", ADJUST),
    ("admin", "/api-keys", {"name": "made by a temp admin", "role": "service"}),
    ("service", "/orders", {"customer": {"name": "C", "email": "c@x.example"}, "channel": "phone",
                            "lines": [{"sku": "LAP-1", "quantity": 1}]}),
]


@pytest.mark.parametrize(("role", "path", "body"), RETRIED, ids=[r[1] for r in RETRIED])
async def test_a_revoked_key_gets_401_for_a_retry_never_the_stored_response(api, role, path, body):
    await given_world(api)
    await given_stock(api, "LAP-1", "MAD-1/A-01", 5)
    created, caller = await _new_key(api, role)
    first = await caller.post(path, body, headers={"Idempotency-Key": "retry-me"})
    assert first.status_code == 201, first.text
    await api.ok("delete", f"/api-keys/{created['id']}")
    again = await caller.post(path, body, headers={"Idempotency-Key": "retry-me"})
    assert again.status_code == 401, again.text
    assert again.json()["code"] == "unauthenticated"
    assert "idempotent-replayed" not in again.headers


@pytest.mark.parametrize(("role", "path", "body"), RETRIED, ids=[r[1] for r in RETRIED])
async def test_a_role_no_longer_allowed_gets_403_for_a_retry_never_the_stored_response(app, api, role, path, body):
    """A key whose role changed since (or a route whose roles narrowed) is refused before any replay."""
    await given_world(api)
    await given_stock(api, "LAP-1", "MAD-1/A-01", 5)
    created, caller = await _new_key(api, role)
    assert (await caller.post(path, body, headers={"Idempotency-Key": "retry-me"})).status_code == 201
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(text("UPDATE api_key SET role = 'purchasing' WHERE id = :id"), {"id": created["id"]})
    again = await caller.post(path, body, headers={"Idempotency-Key": "retry-me"})
    assert again.status_code == 403, again.text
    assert again.json()["code"] == "forbidden"


# --- what is kept, and for how long --------------------------------------------------------------------

async def _stored_bodies(app):
    async with app.state.sessionmaker() as session:
        return [r.body or b"" for r in await session.execute(text("SELECT body FROM idempotency_key"))]


async def test_a_replayed_key_creation_creates_nothing_and_answers_without_the_secret(app, api):
    body = {"name": "integration x", "role": "integration"}
    first = await api.post("/api-keys", body, headers={"Idempotency-Key": "new-key"})
    again = await api.post("/api-keys", body, headers={"Idempotency-Key": "new-key"})
    assert (first.status_code, again.status_code) == (201, 201)
    secret = first.json()["key"]
    assert secret.startswith("erp_")
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == {**first.json(), "key": None}
    assert [k["name"] for k in (await api.ok("get", "/api-keys"))["items"]].count("integration x") == 1
    assert not any(secret.encode() in stored for stored in await _stored_bodies(app))


async def test_no_stored_response_holds_a_secret_of_any_key_created_through_the_api(app, api):
    secrets = []
    for n, role in enumerate(("admin", "service", "warehouse", "purchasing", "integration")):
        created = await api.post("/api-keys", {"name": f"k{n}", "role": role}, headers={"Idempotency-Key": f"k{n}"})
        secrets.append(created.json()["key"])
    stored = await _stored_bodies(app)
    assert len(stored) == 5
    assert not any(secret.encode() in body for secret in secrets for body in stored)


async def _age_records(app, hours):
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(text("UPDATE idempotency_key SET created_at = now() - make_interval(hours => :h)"),
                              {"h": hours})


async def test_an_expired_record_is_ignored_so_a_late_retry_does_the_work_again(app, api):
    await given_world(api)
    assert (await api.post("/stock/adjustments", ADJUST, headers={"Idempotency-Key": "late"})).status_code == 201
    await _age_records(app, 23)
    within = await api.post("/stock/adjustments", ADJUST, headers={"Idempotency-Key": "late"})
    assert within.headers.get("idempotent-replayed") == "true"
    await _age_records(app, 25)
    late = await api.post("/stock/adjustments", ADJUST, headers={"Idempotency-Key": "late"})
    assert late.status_code == 201
    assert "idempotent-replayed" not in late.headers
    assert len(await moves(api)) == 2
    # The new record is fresh again: the next retry replays it.
    assert (await api.post("/stock/adjustments", ADJUST, headers={"Idempotency-Key": "late"})).headers[
        "idempotent-replayed"] == "true"


async def test_the_expiry_follows_the_setting(database_url, keys):
    application = create_app(conftest.test_settings(idempotency_ttl_hours=1), database_url=database_url)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as http:
            api = Api(http, keys)
            await given_world(api)
            await api.post("/stock/adjustments", ADJUST, headers={"Idempotency-Key": "k"})
            await _age_records(application, 2)
            late = await api.post("/stock/adjustments", {**ADJUST, "quantity_delta": 1},
                                  headers={"Idempotency-Key": "k"})
            assert late.status_code == 201, late.text  # not 409: the old record no longer counts
    await assert_invariants(database_url)


async def test_expired_records_are_purged_oldest_first_in_bounded_batches(app, monkeypatch):
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(text(
            "INSERT INTO idempotency_key (scope, key, fingerprint, created_at)"
            " SELECT 's', 'old-' || n, 'f', now() - interval '30 hours' - make_interval(secs => n)"
            " FROM generate_series(1, 250) n"))
        await session.execute(text(
            "INSERT INTO idempotency_key (scope, key, fingerprint) SELECT 's', 'new-' || n, 'f'"
            " FROM generate_series(1, 5) n"))
    monkeypatch.setattr(idempotency, "PURGE_BATCH", 40)
    monkeypatch.setattr(idempotency, "PURGE_MAX_BATCHES", 3)

    async def purge():
        async with app.state.engine.connect() as connection:
            return await idempotency.purge_expired(connection, 24)

    assert await purge() == 120  # one sweep does at most 3 batches of 40
    async with app.state.sessionmaker() as session:
        left = (await session.execute(text("SELECT key FROM idempotency_key WHERE key LIKE 'old-%'"))).scalars().all()
    assert len(left) == 130
    assert all(int(k.removeprefix("old-")) <= 130 for k in left)  # the oldest (largest n) went first
    assert await purge() == 120
    assert await purge() == 10
    async with app.state.sessionmaker() as session:
        assert (await session.execute(text("SELECT count(*) FROM idempotency_key"))).scalar() == 5


async def test_a_read_only_post_is_never_stored_nor_replayed(app, api):
    await given_world(api)
    check = {"lines": [{"sku": "LAP-1", "quantity": 1}]}
    first = await api.post("/availability/check", check, headers={"Idempotency-Key": "ask"})
    await given_stock(api, "LAP-1", "MAD-1/A-01", 3)
    again = await api.post("/availability/check", check, headers={"Idempotency-Key": "ask"})
    other = await api.post("/availability/check", {"lines": [{"sku": "LAP-1", "quantity": 2}]},
                           headers={"Idempotency-Key": "ask"})
    assert (first.status_code, again.status_code, other.status_code) == (200, 200, 200)
    assert "idempotent-replayed" not in again.headers
    assert first.json()["all_in_stock"] is False and again.json()["all_in_stock"] is True  # answered afresh
    async with app.state.sessionmaker() as session:
        assert (await session.execute(text("SELECT count(*) FROM idempotency_key"))).scalar() == 0
