"""The service figures (DOMAIN.md section 6) against values computed by hand on a small fixed data set.

The data set is built through the API; the API has no clock, so a few rows are then dated back in SQL
(an order placed 40 days ago, a repair opened two days ago, promises made for yesterday).

    order  channel  lines (placed)                    what happened                                contacts
    O4     phone    LAP-1 x1                          placed 40 days ago, shipped 35 days ago, promised 36 days ago
    O1     phone    LAP-1 x2, MON-1 x1 (all in stock) picked, a pack mismatch, packed, shipped; 1 LAP-1 returned  1
                                                      (MON-1 first promised yesterday)
    O2     web      MON-1 x3 (1 in stock, 2 back)     waiting                                      0
    O3     phone    LAP-1 x1                          cancelled                                    4
    O5     chat     LAP-1 x1 (in stock)               short-picked (the bin was empty): backordered 0
    RO-1   walk-in repair, opened 2 days ago, completed today
"""

from datetime import date, timedelta

import asyncpg
import pytest

from tests.builders import given_product, given_stock, given_warehouse
from tests.conftest import _dsn

TODAY = date.today()
NO_RATE = {"numerator": 0, "denominator": 0, "rate": None}


def rate(numerator, denominator):
    return {"numerator": numerator, "denominator": denominator,
            "rate": round(numerator / denominator, 4) if denominator else None}


def order(sku_quantities, channel):
    return {"customer": {"name": "Ana Ruiz", "email": "ana@example.com"}, "channel": channel,
            "lines": [{"sku": s, "quantity": q} for s, q in sku_quantities]}


async def pick_all(api, max_orders=1):
    listed = await api.as_("warehouse").ok("post", "/pick-lists", {"warehouse": "MAD-1", "max_orders": max_orders})
    for line in listed["lines"]:
        await api.as_("warehouse").ok("post", f"/pick-lists/{listed['id']}/confirm",
                                      {"location": line["location"], "sku": line["sku"], "quantity": line["quantity"]},
                                      status=200)
    return listed


async def pack_and_ship(api, number, items):
    await api.as_("warehouse2").ok("post", f"/orders/{number}/pack", {"items": items}, status=200)
    await api.as_("warehouse").ok("post", f"/orders/{number}/shipments", {"carrier": "DHL", "tracking_number": "T"})


async def given_the_data_set(api, database_url):
    await given_warehouse(api, "MAD-1", bins=("A-01", "A-02"))
    await given_product(api, "LAP-1")
    await given_product(api, "MON-1")
    await given_stock(api, "LAP-1", "MAD-1/A-01", 10)
    await given_stock(api, "MON-1", "MAD-1/A-02", 2)
    await api.ok("post", "/suppliers", {"code": "ACME", "name": "Acme"})
    await api.ok("put", "/suppliers/ACME/products/LAP-1",
                 {"supplier_sku": "A", "unit_cost": "1", "currency": "EUR", "preferred": True}, status=200)

    o4 = (await api.ok("post", "/orders", order([("LAP-1", 1)], "phone")))["number"]
    await pick_all(api)
    await pack_and_ship(api, o4, [{"sku": "LAP-1", "quantity": 1}])

    o1 = (await api.ok("post", "/orders", order([("LAP-1", 2), ("MON-1", 1)], "phone")))["number"]
    await pick_all(api)
    mismatch = await api.as_("warehouse2").post(f"/orders/{o1}/pack", {"items": [{"sku": "LAP-1", "quantity": 2}]})
    assert mismatch.status_code == 409
    await pack_and_ship(api, o1, [{"sku": "LAP-1", "quantity": 2}, {"sku": "MON-1", "quantity": 1}])
    await api.as_("service").ok("post", "/returns", {"order": o1, "resolution": "refund", "lines": [
        {"sku": "LAP-1", "quantity": 1, "reason": "defective"}]})
    await api.as_("service").ok("post", f"/orders/{o1}/contacts",
                                {"channel": "phone", "direction": "inbound", "summary": "where is it?"})

    o2 = (await api.ok("post", "/orders", order([("MON-1", 3)], "web")))["number"]
    o3 = (await api.ok("post", "/orders", order([("LAP-1", 1)], "phone")))["number"]
    for n in range(4):
        await api.as_("service").ok("post", f"/orders/{o3}/contacts",
                                    {"channel": "phone", "direction": "inbound", "summary": f"call {n}"})
    await api.as_("service").ok("post", f"/orders/{o3}/cancel", {}, status=200)

    o5 = (await api.ok("post", "/orders", order([("LAP-1", 1)], "chat")))["number"]
    listed = await api.as_("warehouse").ok("post", "/pick-lists", {"warehouse": "MAD-1", "max_orders": 1})
    assert [line["order"] for line in listed["lines"]] == [o5]
    await api.as_("warehouse").ok("post", f"/pick-lists/{listed['id']}/confirm",
                                  {"location": "MAD-1/A-01", "sku": "LAP-1", "quantity": 0, "short": True}, status=200)

    repair = await api.as_("service").ok("post", "/repairs", {
        "sku": "LAP-1", "customer": {"name": "Bob", "email": "bob@example.com"}, "problem": "fan"})
    await api.as_("warehouse").ok("post", f"/repairs/{repair['number']}/status", {"status": "in_progress"}, status=200)
    await api.as_("warehouse").ok("post", f"/repairs/{repair['number']}/status", {"status": "completed"}, status=200)

    connection = await asyncpg.connect(_dsn(database_url))
    try:
        await connection.execute("UPDATE sales_order SET created_at = now() - interval '40 days' WHERE number = $1", o4)
        await connection.execute("UPDATE shipment SET created_at = now() - interval '35 days'"
                                 " WHERE order_id = (SELECT id FROM sales_order WHERE number = $1)", o4)
        await connection.execute("UPDATE order_line SET promised_date = $2, first_promised_date = $2,"
                                 " shipped_at = now() - interval '35 days' WHERE order_id ="
                                 " (SELECT id FROM sales_order WHERE number = $1)", o4, TODAY - timedelta(days=36))
        await connection.execute(
            "UPDATE order_line SET first_promised_date = $2 WHERE order_id = (SELECT id FROM sales_order WHERE"
            " number = $1) AND product_id = (SELECT id FROM product WHERE sku = 'MON-1')", o1, TODAY - timedelta(days=1))
        await connection.execute("UPDATE repair_order SET created_at = completed_at - interval '2 days'")
    finally:
        await connection.close()
    return o1, o2, o3, o4, o5


def daily_of(figures):
    return {d["day"]: (d["lines_shipped"], d["on_time"]["numerator"], d["promise_accuracy"]["numerator"])
            for d in figures["daily"] if d["lines_shipped"]}


async def test_the_figures_of_the_last_30_days_are_the_hand_computed_ones(api, database_url):
    await given_the_data_set(api, database_url)
    figures = await api.as_("service").ok("get", "/metrics/service")
    assert (figures["period_from"], figures["period_to"], figures["channel"]) == (
        (TODAY - timedelta(days=29)).isoformat(), TODAY.isoformat(), None)
    # O1 2 lines, O2 1 (backordered at placement), O3 1, O5 1; O4 is older.
    assert figures["fill_rate"] == rate(4, 5)
    # O1's two lines shipped today, both by their promise (tomorrow), MON-1 after its first promise (yesterday).
    assert figures["on_time_shipment"] == rate(2, 2)
    assert figures["promise_accuracy"] == rate(1, 2)
    assert len(figures["daily"]) == 30 and figures["daily"][-1]["day"] == TODAY.isoformat()
    assert daily_of(figures) == {TODAY.isoformat(): (2, 2, 1)}
    assert figures["daily"][-1]["promise_accuracy"] == rate(1, 2)
    assert figures["daily"][0]["on_time"] == NO_RATE
    # O2's MON-1 (2 units) and O5's LAP-1 (1 unit, after the short pick), both placed today.
    backorders = figures["open_backorders"]
    assert (backorders["lines"], backorders["units"], backorders["oldest_days"], backorders["average_age_days"]) == (
        2, 3, 0, 0.0)
    assert [(b["days"], b["lines"]) for b in backorders["age_buckets"]] == [
        ("0-7", 2), ("8-14", 0), ("15-30", 0), ("31-60", 0), ("61+", 0)]
    # O1 1 contact, O2 0, O3 4, O5 0.
    touches = figures["touches"]
    assert (touches["orders"], touches["touches"], touches["average_per_order"], touches["threshold"],
            touches["orders_above_threshold"]) == (4, 5, 1.25, 3, 1)
    assert [(b["touches"], b["more"], b["orders"]) for b in touches["histogram"]] == [
        (0, False, 2), (1, False, 1), (2, False, 0), (3, False, 0), (4, True, 1)]
    # Resolved: O1 (shipped, 1 contact) and O3 (cancelled, 4 contacts).
    assert figures["first_contact_resolution"] == rate(1, 2)
    # Shipped on O1: LAP-1 2 units (1 on a return), MON-1 1 unit; LAP-1's preferred supplier is ACME.
    returns = figures["returns"]
    assert returns["overall"] == rate(1, 3)
    assert returns["by_product"] == [{"key": "LAP-1", "units_shipped": 2, "units_returned": 1, "rate": 0.5}]
    assert returns["by_supplier"] == [{"key": "ACME", "units_shipped": 2, "units_returned": 1, "rate": 0.5}]
    assert figures["repair_turnaround"] == {"completed": 1, "average_days": 2.0, "longest_days": 2.0}
    # O1's two pick lines in full, O5's one short by 1; O1 packed once after one mismatch.
    assert figures["pick_accuracy"] == {"picks_in_full": rate(2, 3), "short_pick_lines": 1, "short_pick_units": 1,
                                        "pack_verification": rate(1, 2), "pack_mismatches": 1}
    (acme,) = figures["supplier_scores"]
    assert (acme["supplier"], acme["lines_due"], acme["on_time_rate"]) == ("ACME", 0, None)


async def test_a_channel_counts_its_own_orders_only(api, database_url):
    await given_the_data_set(api, database_url)
    phone = await api.as_("service").ok("get", "/metrics/service?channel=phone")
    # O1 and O3 (O4 is older).
    assert phone["fill_rate"] == rate(3, 3)
    assert (phone["on_time_shipment"], phone["promise_accuracy"]) == (rate(2, 2), rate(1, 2))
    assert (phone["open_backorders"]["lines"], phone["open_backorders"]["oldest_days"],
            phone["open_backorders"]["average_age_days"]) == (0, None, None)
    assert (phone["touches"]["orders"], phone["touches"]["touches"], phone["touches"]["average_per_order"]) == (2, 5, 2.5)
    assert [b["orders"] for b in phone["touches"]["histogram"]] == [0, 1, 0, 0, 1]
    assert phone["first_contact_resolution"] == rate(1, 2)
    assert phone["returns"]["overall"] == rate(1, 3)
    # The walk-in repair has no order, so no channel.
    assert phone["repair_turnaround"] == {"completed": 0, "average_days": None, "longest_days": None}
    assert phone["pick_accuracy"]["picks_in_full"] == rate(2, 2)
    chat = await api.as_("service").ok("get", "/metrics/service?channel=chat")
    assert (chat["fill_rate"], chat["pick_accuracy"]["picks_in_full"], chat["open_backorders"]["units"]) == (
        rate(1, 1), rate(0, 1), 1)
    assert (chat["first_contact_resolution"], chat["on_time_shipment"], chat["returns"]["overall"]) == (
        NO_RATE, NO_RATE, NO_RATE)
    email = await api.as_("admin").ok("get", "/metrics/service?channel=email")
    assert (email["fill_rate"], email["touches"]["average_per_order"], email["pick_accuracy"]["pack_verification"]) == (
        NO_RATE, None, NO_RATE)


async def test_the_period_edges_are_whole_days_both_included(api, database_url):
    await given_the_data_set(api, database_url)
    placed, shipped = TODAY - timedelta(days=40), TODAY - timedelta(days=35)
    around_o4 = await api.as_("service").ok("get", f"/metrics/service?from={placed}&to={shipped}")
    # O4 alone: placed on the first day, its one line shipped on the last, a day after its promise.
    assert len(around_o4["daily"]) == 6
    assert around_o4["fill_rate"] == rate(1, 1)
    assert (around_o4["on_time_shipment"], around_o4["promise_accuracy"]) == (rate(0, 1), rate(0, 1))
    assert daily_of(around_o4) == {shipped.isoformat(): (1, 0, 0)}
    assert around_o4["pick_accuracy"]["picks_in_full"] == rate(1, 1)
    assert around_o4["pick_accuracy"]["pack_verification"] == rate(1, 1)
    assert around_o4["touches"]["orders"] == 1 and around_o4["repair_turnaround"]["completed"] == 0
    after_placing = await api.as_("service").ok(
        "get", f"/metrics/service?from={placed + timedelta(days=1)}&to={shipped}")
    assert (after_placing["fill_rate"], after_placing["on_time_shipment"]) == (NO_RATE, rate(0, 1))
    before_shipping = await api.as_("service").ok("get", f"/metrics/service?from={placed}&to={shipped - timedelta(days=1)}")
    assert (before_shipping["fill_rate"], before_shipping["on_time_shipment"]) == (rate(1, 1), NO_RATE)
    today_only = await api.as_("service").ok("get", f"/metrics/service?from={TODAY}&to={TODAY}")
    assert [d["day"] for d in today_only["daily"]] == [TODAY.isoformat()]
    assert today_only["fill_rate"] == rate(4, 5) and today_only["repair_turnaround"]["completed"] == 1


@pytest.mark.parametrize("query", [
    f"from={TODAY}&to={TODAY - timedelta(days=1)}",  # from after to
    f"from={TODAY - timedelta(days=366)}&to={TODAY}",  # 367 days
    f"from={TODAY - timedelta(days=400)}",  # 401 days up to today
    "from=0", "from=2026-02-30", "to=20261101", "from=1999-12-31&to=2000-01-01", "to=9999-12-31",
    "from=%00", "from=" + "9" * 300, "channel=fax", "channel=", "period=30", "from=2026-01-01&from=2026-01-02x",
])
async def test_a_hostile_or_unbounded_period_is_422(api, query):
    response = await api.as_("service").get(f"/metrics/service?{query}")
    assert response.status_code == 422, (query, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "validation_error"


async def test_a_period_of_366_days_is_the_longest_answered(api):
    figures = await api.as_("service").ok("get", f"/metrics/service?from={TODAY - timedelta(days=365)}&to={TODAY}")
    assert len(figures["daily"]) == 366
    assert figures["fill_rate"] == NO_RATE and figures["open_backorders"]["lines"] == 0


async def test_a_line_counts_as_shipped_once_its_last_unit_ships(api):
    await given_warehouse(api, "MAD-1", bins=("A-01",))
    await given_product(api, "LAP-1")
    await given_stock(api, "LAP-1", "MAD-1/A-01", 5)
    number = (await api.ok("post", "/orders", order([("LAP-1", 2)], "web")))["number"]
    await pick_all(api)
    await api.as_("warehouse2").ok("post", f"/orders/{number}/pack", {"items": [{"sku": "LAP-1", "quantity": 2}]},
                                   status=200)
    await api.as_("warehouse").ok("post", f"/orders/{number}/shipments",
                                  {"carrier": "DHL", "tracking_number": "T1", "lines": [{"sku": "LAP-1", "quantity": 1}]})
    partly = await api.as_("service").ok("get", "/metrics/service")
    assert (partly["on_time_shipment"], partly["returns"]["overall"]) == (NO_RATE, rate(0, 1))
    await api.as_("warehouse").ok("post", f"/orders/{number}/shipments", {"carrier": "DHL", "tracking_number": "T2"})
    shipped = await api.as_("service").ok("get", "/metrics/service")
    assert (shipped["on_time_shipment"], shipped["promise_accuracy"]) == (rate(1, 1), rate(1, 1))
    assert daily_of(shipped) == {TODAY.isoformat(): (1, 1, 1)}
