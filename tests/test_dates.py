"""Dates a client sends are bounded at the edge, and date arithmetic inside never leaves the calendar
(issue 10, item 1): a purchase order due 9999-12-31 made promising an OverflowError, so a 500."""

from datetime import date, timedelta

import asyncpg
import pytest

from erp.inventory.availability import (
    LAST_DAY,
    Availability,
    Supply,
    WarehouseStock,
    backorder_promise,
    days_after,
    queue_promises,
)
from erp.inventory.availability import promise as promise_for
from erp.returns.status import repair_promise
from erp.schemas import HORIZON_DAYS
from tests.builders import given_product, given_stock, given_warehouse
from tests.conftest import _dsn
from tests.orders.test_placing import order_body
from tests.suppliers.test_dated_promises import day, given_supplier

TODAY = date.today()
LAST = date.max.isoformat()  # 9999-12-31
PROMISED = LAST_DAY.isoformat()  # the latest promise: 9999-12-30 (asyncpg stores date.max as `infinity`)


# --- the arithmetic: pure rules ----------------------------------------------------------------------


def test_adding_days_stops_at_the_last_day_a_promise_can_name():
    assert days_after(date(2026, 1, 30), 3) == date(2026, 2, 2)
    assert days_after(date.max, 1) == days_after(date.max, 0) == LAST_DAY == date(9999, 12, 30)
    assert days_after(date.max - timedelta(days=3), 365) == LAST_DAY
    assert days_after(date.max - timedelta(days=3), 2) == LAST_DAY
    assert days_after(date.max - timedelta(days=3), 1) == LAST_DAY - timedelta(days=1)


def _far_future_supply() -> Availability:
    stock = [WarehouseStock(1, "MAD-1", 10, handling_days=3, available=0)]
    lot = Supply(date.max, 10, "PO-000001", 1, "MAD-1", handling_days=3)
    return Availability("X-1", 1, stock, supply=[lot], all_supply=[lot], lead_time_days=None)


def test_supply_due_on_the_last_day_of_the_calendar_is_promised_for_that_day_not_an_overflow():
    availability = _far_future_supply()
    promised = backorder_promise(5, availability, TODAY)
    assert (promised.date, promised.basis, promised.supply_reference) == (LAST_DAY, "incoming_supply", "PO-000001")
    assert promise_for(5, availability, TODAY).date == LAST_DAY
    assert [p.date for p in queue_promises(availability, [4, 4], TODAY)] == [LAST_DAY, LAST_DAY]


def test_a_repair_waiting_for_a_part_due_on_the_last_day_is_promised_for_that_day():
    part = backorder_promise(1, _far_future_supply(), TODAY)
    promised = repair_promise("waiting_parts", [("FAN-1", 1, part)], repair_days=365, today=TODAY)
    assert promised.date == LAST_DAY and promised.basis == "incoming_supply"


# --- the edge: dates in bodies ------------------------------------------------------------------------


async def given_world(api):
    await given_warehouse(api, "MAD-1", handling_days=3, bins=("A-01",))
    await given_product(api, "X-1")
    await given_supplier(api)


@pytest.mark.parametrize("expected", [
    LAST, (TODAY + timedelta(days=HORIZON_DAYS + 1)).isoformat(), "10000-01-01", "2026-02-30", 0, 1767225600,
    "2026-12-03T00:00:00", "20261203", "2026-W49-4", True, None,
])
async def test_an_expected_date_out_of_bounds_or_not_a_plain_date_is_422(api, expected):
    await given_world(api)
    line = {"sku": "X-1", "quantity": 5, "expected_date": expected}
    created = await api.as_("purchasing").post("/purchase-orders", {"supplier": "ACME", "warehouse": "MAD-1",
                                                                     "lines": [line]})
    if expected is None:  # null is "not given": the supplier's lead time
        assert created.status_code == 201, created.text
        return
    assert created.status_code == 422, created.text
    problem = created.json()
    assert problem["code"] == "validation_error"
    assert problem["errors"][0]["field"] == "lines.0.expected_date", problem
    po = await api.as_("purchasing").ok("post", "/purchase-orders", {"supplier": "ACME", "warehouse": "MAD-1",
                                                                     "lines": [{"sku": "X-1", "quantity": 5}]})
    moved = await api.as_("purchasing").patch(f"/purchase-orders/{po['number']}/lines/1", {"expected_date": expected})
    assert (moved.status_code, moved.json()["code"]) == (422, "validation_error"), moved.text


async def test_an_expected_date_up_to_the_horizon_is_accepted_and_one_in_the_past_is_not(api):
    await given_world(api)
    latest = (TODAY + timedelta(days=HORIZON_DAYS)).isoformat()
    po = await api.as_("purchasing").ok("post", "/purchase-orders", {
        "supplier": "ACME", "warehouse": "MAD-1", "lines": [{"sku": "X-1", "quantity": 5, "expected_date": latest}]})
    assert po["lines"][0]["expected_date"] == latest
    past = await api.as_("purchasing").patch(f"/purchase-orders/{po['number']}/lines/1",
                                             {"expected_date": day(-1)})
    assert (past.status_code, past.json()["code"]) == (422, "validation_error")
    assert "in the past" in past.json()["detail"]


# --- the edge: dates in query parameters ------------------------------------------------------------


@pytest.mark.parametrize("query", [
    "from=0", "to=0", "from=1767225600", "from=1999-12-31", f"to={LAST}", "from=2026-1-5", "from=2026-01-05T00:00",
    "from=2026-02-30", "from=", "to=today", "from=%2B2026-01-05",
])
async def test_a_period_date_is_yyyy_mm_dd_within_bounds_or_422(api, query):
    await given_world(api)
    response = await api.as_("purchasing").get(f"/suppliers/ACME/scorecard?{query}")
    assert (response.status_code, response.json()["code"]) == (422, "validation_error"), (query, response.text)
    assert response.json()["errors"][0]["field"] in ("from", "to")


async def test_a_period_of_plain_dates_is_answered(api):
    await given_world(api)
    card = await api.as_("purchasing").ok("get", "/suppliers/ACME/scorecard?from=2000-01-01&to=" + day(30))
    assert (card["period_from"], card["period_to"]) == ("2000-01-01", day(30))


# --- stored far-future dates: no 500 anywhere -------------------------------------------------------


async def _due_on_the_last_day(database_url, number, stored):
    """What a purchase order made before dates were bounded may hold: asyncpg wrote a client's 9999-12-31
    (date.max) as `infinity`; a plain SQL write would leave 9999-12-31."""
    connection = await asyncpg.connect(_dsn(database_url))
    try:
        await connection.execute(
            f"UPDATE purchase_order_line SET expected_date = '{stored}', promised_date = '{stored}'"
            " WHERE purchase_order_id = (SELECT id FROM purchase_order WHERE number = $1)", number)
    finally:
        await connection.close()


@pytest.mark.parametrize("stored", ["infinity", "9999-12-31"])
async def test_a_stored_purchase_order_due_9999_12_31_promises_late_but_never_fails(api, database_url, stored):
    await given_world(api)
    await given_stock(api, "X-1", "MAD-1/A-01", 2)
    waiting = await api.as_("service").ok("post", "/orders", order_body(("X-1", 5)))  # 3 backordered
    draft = await api.as_("purchasing").ok("post", "/purchase-orders", {
        "supplier": "ACME", "warehouse": "MAD-1", "lines": [{"sku": "X-1", "quantity": 50}]})
    await _due_on_the_last_day(database_url, draft["number"], stored)
    # Sending it re-promises the waiting backorder from it.
    await api.as_("purchasing").ok("post", f"/purchase-orders/{draft['number']}/send", status=200)
    line = (await api.ok("get", f"/orders/{waiting['number']}"))["lines"][0]
    assert (line["promised_date"], line["promise_basis"]) == (PROMISED, "incoming_supply")
    assert line["reason"] == f"waiting for {draft['number']}, due {LAST}"
    # Reads and new backorders are promised from it too.
    answer = await api.ok("get", "/availability/X-1?quantity=10")
    assert (answer["promise_date"], answer["promise_basis"]) == (PROMISED, "incoming_supply")
    assert answer["projection"][-1]["date"] == LAST
    checked = await api.ok("post", "/availability/check", {"lines": [{"sku": "X-1", "quantity": 10}]}, status=200)
    assert checked["lines"][0]["promise_date"] == PROMISED
    later = await api.as_("service").ok("post", "/orders", order_body(("X-1", 4)))
    assert later["lines"][0]["promised_date"] == PROMISED
    # A repair waiting for it as a part is promised from it too.
    repair = await api.as_("service").ok("post", "/repairs", {
        "sku": "X-1", "customer": {"name": "c", "email": "c@x.example"}, "problem": "p", "warehouse": "MAD-1"})
    repair = await api.as_("warehouse").ok("post", f"/repairs/{repair['number']}/parts",
                                           {"sku": "X-1", "quantity": 1})
    assert repair["promised_date"] == PROMISED
    po = await api.as_("purchasing").ok("get", f"/purchase-orders/{draft['number']}")
    assert po["lines"][0]["expected_date"] == LAST
    card = await api.as_("purchasing").ok("get", f"/suppliers/ACME/scorecard?from=2000-01-01&to={day(1000)}")
    assert card["lines_due"] == 0  # due beyond any period a client can ask about
    # Moving the date back into the horizon re-promises everything that waited for it.
    await api.as_("purchasing").ok("patch", f"/purchase-orders/{draft['number']}/lines/1",
                                   {"expected_date": day(10)}, status=200)
    line = (await api.ok("get", f"/orders/{waiting['number']}"))["lines"][0]
    assert line["promised_date"] == day(13)
