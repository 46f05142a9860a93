"""Races with real concurrent clients: the service in its own process, many HTTP connections at once."""

import asyncio
import os
import random

import httpx
import pytest

from tests.builders import given_product, given_stock, given_warehouse, stock_of
from tests.conftest import Api, assert_invariants, start_service, stop_service
from tests.orders.test_placing import order_body


@pytest.fixture
async def live(live_server, keys):
    # Drop idle connections before the server (keep-alive 5 s) does, or a reused one fails to read.
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=400, keepalive_expiry=2)
    async with httpx.AsyncClient(base_url=live_server, limits=limits, timeout=60) as client:
        yield Api(client, keys)


async def given_hot_product(api, units):
    await given_warehouse(api, "MAD-1", bins=("A-01", "A-02"))
    await given_product(api, "HOT-1")
    await given_stock(api, "HOT-1", "MAD-1/A-01", units)


@pytest.mark.parametrize("allow_backorder", [True, False])
async def test_sell_out_300_clients_for_100_units_exactly_100_reserved(live, database_url, allow_backorder):
    await given_hot_product(live, 100)
    body = order_body(("HOT-1", 1), allow_backorder=allow_backorder)
    responses = await asyncio.gather(*(live.as_("integration").post("/orders", body) for _ in range(300)))
    statuses = [r.status_code for r in responses]
    created = [r.json() for r in responses if r.status_code == 201]
    reserved = [o for o in created if o["lines"][0]["reserved"] == 1]
    assert len(reserved) == 100
    assert all(o["status"] == "confirmed" for o in reserved)
    if allow_backorder:
        assert statuses.count(201) == 300
        assert all(o["status"] == "backordered" and o["lines"][0]["backordered"] == 1
                   for o in created if o not in reserved)
    else:
        assert (statuses.count(201), statuses.count(409)) == (100, 200)
        assert {r.json()["code"] for r in responses if r.status_code == 409} == {"insufficient_stock"}
    level = await stock_of(live, "HOT-1", "MAD-1")
    assert (level["on_hand"], level["reserved"], level["available"]) == (100, 100, 0)
    await assert_invariants(database_url)
    if not os.environ.get("ERP_TEST_POOLER"):  # behind pgbouncer every order takes the transactional path
        sent, groups = await group_commits(live)
        assert sent > groups > 0, "orders that came together were placed together (db.GroupCommit)"


async def group_commits(live: Api) -> tuple[float, float]:
    """(orders, groups) the service placed through db.GroupCommit, from its /metrics."""
    metrics = (await live.client.get(live.client.base_url.copy_with(path="/metrics"))).text
    found = dict(line.rsplit(" ", 1) for line in metrics.splitlines() if line.startswith("erp_group_commit_size_"))
    return float(found["erp_group_commit_size_sum"]), float(found["erp_group_commit_size_count"])


async def test_orders_for_the_same_products_in_opposite_line_order_never_deadlock(live, database_url):
    await given_warehouse(live, "MAD-1", priority=10, bins=("A-01",))
    await given_warehouse(live, "BER-1", priority=20, bins=("B-01",))
    for sku in ("AAA-1", "BBB-1"):
        await given_product(live, sku)
        await given_stock(live, sku, "MAD-1/A-01", 150)
        await given_stock(live, sku, "BER-1/B-01", 150)
    bodies = [order_body(("AAA-1", 2), ("BBB-1", 2)) if n % 2 else order_body(("BBB-1", 2), ("AAA-1", 2))
              for n in range(200)]
    responses = await asyncio.gather(*(live.as_("service").post("/orders", b) for b in bodies))
    assert [r.status_code for r in responses] == [201] * 200, {r.status_code: r.text for r in responses}
    for sku in ("AAA-1", "BBB-1"):
        levels = [await stock_of(live, sku, w) for w in ("MAD-1", "BER-1")]
        assert sum(level["reserved"] for level in levels) == 300
        assert sum(level["backordered"] for level in levels) == 100
    await assert_invariants(database_url)


async def test_cancel_racing_a_pick_on_the_same_line_ends_in_one_consistent_state(live, database_url):
    await given_hot_product(live, 200)
    for _ in range(15):
        order = await live.as_("service").ok("post", "/orders", order_body(("HOT-1", 2)))
        listed = await live.as_("warehouse").ok("post", "/pick-lists", {"warehouse": "MAD-1"})
        (line,) = listed["lines"]
        jitter = random.random() / 100
        cancel, pick = await asyncio.gather(
            live.as_("service").post(f"/orders/{order['number']}/cancel", {}),
            asyncio.sleep(jitter, live.as_("warehouse").post(
                f"/pick-lists/{listed['id']}/confirm", {"location": line["location"], "sku": "HOT-1", "quantity": 2})),
        )
        pick = await pick if asyncio.iscoroutine(pick) else pick
        (state,) = (await live.get(f"/orders/{order['number']}")).json()["lines"]
        # Exactly one wins, the loser is told why, and the line shows only the winner's work.
        if cancel.status_code == 200:
            assert (pick.status_code, pick.json()["code"]) == (409, "scan_mismatch"), pick.text
            assert (state["cancelled"], state["picked"], state["reserved"]) == (2, 0, 0)
        else:
            assert (cancel.status_code, cancel.json()["code"]) == (409, "invalid_transition"), cancel.text
            assert pick.status_code == 200, pick.text
            assert (state["cancelled"], state["picked"], state["reserved"]) == (0, 2, 0)
        await assert_invariants(database_url)


async def test_a_request_holds_one_connection_at_a_time_so_a_pool_of_one_only_queues(database_url, service_environment,
                                                                                      keys):
    # 20 clients at once on a pool of 1, with a key not yet cached: were authentication and placement on two
    # connections of one request, it would hold one and wait for another until 503.
    process, base = start_service({**service_environment, "ERP_POOL_SIZE": "1",
                                   "ERP_POOL_TIMEOUT_SECONDS": "30"})
    try:
        async with httpx.AsyncClient(base_url=base + "/api/v1", timeout=60) as client:
            api = Api(client, keys)
            await given_hot_product(api, 100)
            body = order_body(("HOT-1", 1))
            responses = await asyncio.gather(*(api.as_("integration").post("/orders", body) for _ in range(20)))
    finally:
        stop_service(process)
    assert [r.status_code for r in responses] == [201] * 20
    await assert_invariants(database_url)
