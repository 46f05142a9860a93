"""Races with real concurrent clients against the service in its own process."""

import asyncio

import httpx
import pytest

from tests.builders import stock_of
from tests.conftest import Api, assert_invariants
from tests.returns.builders import given_shipped_order, given_shop, return_body
from tests.returns.test_repairs import WALK_IN, given_fan_supplier


@pytest.fixture
async def live(live_server, keys):
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100, keepalive_expiry=2)
    async with httpx.AsyncClient(base_url=live_server, limits=limits, timeout=60) as client:
        yield Api(client, keys)


async def test_twenty_racing_returns_of_one_unit_on_a_line_shipped_3_with_1_returned_authorize_exactly_2(live,
                                                                                                      database_url):
    await given_shop(live, "LAP-1")
    order = await given_shipped_order(live, ("LAP-1", 3))
    await live.as_("service").ok("post", "/returns", return_body(order["number"], ("LAP-1", 1, "defective")))
    body = return_body(order["number"], ("LAP-1", 1, "no_longer_needed"))
    responses = await asyncio.gather(*(live.as_("service").post("/returns", body) for _ in range(20)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * 2 + [409] * 18, statuses
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"not_returnable"}
    view = await live.get(f"/orders/{order['number']}")
    assert len(view.json()["returns"]) == 3
    await assert_invariants(database_url)


async def test_racing_refunds_never_pass_what_was_paid(live, database_url):
    await given_shop(live, "LAP-1")
    order = await given_shipped_order(live, ("LAP-1", 2), price="30.00")
    ret = await live.as_("service").ok("post", "/returns", return_body(order["number"], ("LAP-1", 2, "defective")))
    await live.as_("warehouse").ok("post", f"/returns/{ret['number']}/receive", {}, status=200)
    refund = {"amount": "7.50", "currency": "EUR", "method": "original_payment"}
    responses = await asyncio.gather(*(live.as_("service").post(f"/returns/{ret['number']}/refunds", refund)
                                       for _ in range(20)))
    assert sorted(r.status_code for r in responses) == [201] * 8 + [409] * 12
    done = await live.get(f"/returns/{ret['number']}")
    assert (done.json()["refunded_amount"], len(done.json()["refunds"])) == ("60", 8)
    await assert_invariants(database_url)


async def test_thirty_racing_repairs_for_a_part_with_4_available_reserve_exactly_4_and_promise_the_rest(
        live, database_url):
    await given_shop(live, "LAP-1")
    po, due = await given_fan_supplier(live, quantity=40)
    await live.as_("admin").ok("post", "/stock/adjustments", {"sku": "FAN-12", "location": "MAD-1/A-02",
                                                              "quantity_delta": 4, "reason": "initial_stock"})
    repairs = [await live.as_("service").ok("post", "/repairs", WALK_IN) for _ in range(30)]
    responses = await asyncio.gather(*(
        live.as_("warehouse").post(f"/repairs/{r['number']}/parts", {"sku": "FAN-12", "quantity": 1})
        for r in repairs))
    assert [r.status_code for r in responses] == [201] * 30
    parts = [r.json()["parts"][0] for r in responses]
    assert sum(p["reserved"] for p in parts) == 4
    waiting = [p for p in parts if p["waiting"]]
    assert len(waiting) == 26
    assert {(p["promise_basis"], p["reason"]) for p in waiting} == {
        ("incoming_supply", f"waiting for {po['number']}, due {due}")}
    fans = await stock_of(live, "FAN-12", "MAD-1")
    assert (fans["reserved"], fans["available"], fans["backordered"]) == (4, 0, 26)
    await assert_invariants(database_url)
