"""Holds: stock reserved for a checkout, taken over by the order, released when it lapses."""

import asyncio
import time

import httpx
import pytest

from tests.builders import given_product, given_stock, given_warehouse, stock_of
from tests.conftest import Api, assert_invariants
from tests.orders.test_placing import order_body


async def given_last_units(api, units=10):
    await given_warehouse(api, "MAD-1", bins=("A-01",))
    await given_product(api, "LAP-1")
    await given_stock(api, "LAP-1", "MAD-1/A-01", units)


async def test_an_order_takes_over_its_hold_and_nobody_else_can_take_the_units(api):
    await given_last_units(api, 3)
    hold = await api.as_("integration").ok("post", "/holds", {"lines": [{"sku": "LAP-1", "quantity": 2}]})
    assert (hold["status"], hold["lines"][0]["allocations"]) == ("active", [{"warehouse": "MAD-1", "reserved": 2}])
    other = await api.as_("service").post("/orders", order_body(("LAP-1", 2), allow_backorder=False))
    assert (other.status_code, other.json()["code"]) == (409, "insufficient_stock")
    mismatch = await api.as_("integration").post("/orders", {**order_body(("LAP-1", 1)), "hold": hold["id"]})
    assert (mismatch.status_code, mismatch.json()["code"]) == (409, "hold_mismatch")
    order = await api.as_("integration").ok("post", "/orders", {**order_body(("LAP-1", 2)), "hold": hold["id"]})
    assert (order["status"], order["lines"][0]["reserved"]) == ("confirmed", 2)
    level = await stock_of(api, "LAP-1", "MAD-1")
    assert (level["reserved"], level["available"]) == (2, 1)
    taken = await api.as_("integration").ok("get", f"/holds/{hold['id']}")
    assert (taken["status"], taken["order"], taken["lines"][0]["allocations"]) == ("converted", order["number"], [])
    again = await api.as_("integration").post("/orders", {**order_body(("LAP-1", 2)), "hold": hold["id"]})
    assert (again.status_code, again.json()["code"]) == (409, "invalid_transition")


async def test_a_hold_never_holds_what_it_cannot_get_and_releasing_it_gives_the_units_back(api):
    await given_last_units(api, 3)
    refused = await api.as_("service").post("/holds", {"lines": [{"sku": "LAP-1", "quantity": 4}]})
    assert (refused.status_code, refused.json()["code"]) == (409, "insufficient_stock")
    assert (await stock_of(api, "LAP-1", "MAD-1"))["reserved"] == 0
    hold = await api.as_("service").ok("post", "/holds", {"lines": [{"sku": "LAP-1", "quantity": 3}]})
    waiting = await api.as_("service").ok("post", "/orders", order_body(("LAP-1", 1)))
    assert waiting["status"] == "backordered"
    released = await api.as_("service").ok("delete", f"/holds/{hold['id']}")
    assert released["status"] == "released"
    # The waiting order got its unit first.
    assert (await api.ok("get", f"/orders/{waiting['number']}"))["status"] == "confirmed"
    assert (await stock_of(api, "LAP-1", "MAD-1"))["reserved"] == 1


@pytest.mark.parametrize("expires_in", [0, 86_401, "60", 1.5])
async def test_expiry_is_between_a_second_and_a_day(api, expires_in):
    await given_last_units(api)
    response = await api.post("/holds", {"lines": [{"sku": "LAP-1", "quantity": 1}], "expires_in": expires_in})
    assert (response.status_code, response.json()["code"]) == (422, "validation_error")


@pytest.fixture
async def live(live_server, keys):
    async with httpx.AsyncClient(base_url=live_server, timeout=60,
                                 limits=httpx.Limits(max_connections=100, keepalive_expiry=2)) as client:
        yield Api(client, keys)


async def test_fifty_racing_holds_for_the_last_ten_units_hold_exactly_ten_and_expiry_fills_a_backorder(
        live, database_url):
    await given_last_units(live, 10)
    body = {"lines": [{"sku": "LAP-1", "quantity": 1}], "expires_in": 2}
    responses = await asyncio.gather(*(live.as_("integration").post("/holds", body) for _ in range(50)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * 10 + [409] * 40, statuses
    assert (await stock_of(live, "LAP-1", "MAD-1"))["reserved"] == 10
    waiting = await live.as_("service").ok("post", "/orders", order_body(("LAP-1", 3)))
    assert waiting["status"] == "backordered"
    # Nobody calls: the worker releases the lapsed holds, and the waiting order is served first.
    deadline = time.monotonic() + 20
    while (await live.get(f"/orders/{waiting['number']}")).json()["status"] != "confirmed":
        assert time.monotonic() < deadline, "the holds were not released in time"
        await asyncio.sleep(0.2)
    held = [r.json()["id"] for r in responses if r.status_code == 201]
    while {(await live.as_("integration").ok("get", f"/holds/{h}"))["status"] for h in held} != {"expired"}:
        assert time.monotonic() < deadline, "not every hold was released in time"
        await asyncio.sleep(0.2)
    level = await stock_of(live, "LAP-1", "MAD-1")
    assert (level["reserved"], level["available"]) == (3, 7)
    events = (await live.ok("get", "/events?type=hold.expired&limit=500"))["items"]
    assert len(events) == 10
    await assert_invariants(database_url)
