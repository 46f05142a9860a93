import asyncio

from sqlalchemy import text

from erp.db import SessionDep
from erp.routing import router
from tests.builders import given_product, given_stock, given_warehouse

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
