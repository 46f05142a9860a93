"""The worked example of the suppliers issue: promises backed by specific purchase orders."""

import asyncio
from datetime import date, timedelta

import httpx
import pytest

from tests.builders import given_product, given_stock, given_warehouse, stock_of
from tests.conftest import Api, assert_invariants
from tests.orders.test_placing import order_body

TODAY = date.today()


def day(n):
    return (TODAY + timedelta(days=n)).isoformat()


async def given_supplier(api, sku="X-1", lead_time=21):
    await api.as_("purchasing").ok("post", "/suppliers", {"code": "ACME", "name": "Acme Components",
                                                          "email": "orders@acme.example", "lead_time_days": 30})
    await api.as_("purchasing").ok("put", f"/suppliers/ACME/products/{sku}", {
        "supplier_sku": "AC-" + sku, "unit_cost": "12.50", "currency": "EUR", "lead_time_days": lead_time,
        "preferred": True}, status=200)


async def given_sent_po(api, sku, quantity, due_in_days, warehouse="MAD-1", **extra):
    po = await api.as_("purchasing").ok("post", "/purchase-orders", {
        "supplier": "ACME", "warehouse": warehouse,
        "lines": [{"sku": sku, "quantity": quantity, "expected_date": day(due_in_days)}], **extra})
    return (await api.as_("purchasing").ok("post", f"/purchase-orders/{po['number']}/send", status=200))["number"]


async def line_of(api, number):
    return (await api.ok("get", f"/orders/{number}"))["lines"][0]


async def test_the_worked_example_of_promises_from_dated_supply(api, database_url):
    await given_warehouse(api, "MAD-1", handling_days=1, bins=("A-01",))
    await given_product(api, "X-1")
    await given_supplier(api)
    await given_stock(api, "X-1", "MAD-1/A-01", 5)
    first_po = await given_sent_po(api, "X-1", 20, 10)
    second_po = await given_sent_po(api, "X-1", 50, 30)
    assert (await stock_of(api, "X-1", "MAD-1"))["incoming"] == 70

    orders = [await api.as_("service").ok("post", "/orders", order_body(("X-1", q))) for q in (3, 4, 10, 15, 30)]
    numbers = [o["number"] for o in orders]
    promised = [(o["lines"][0]["promised_date"], o["lines"][0]["promise_basis"]) for o in orders]
    assert promised == [(day(1), "in_stock"), (day(11), "incoming_supply"), (day(11), "incoming_supply"),
                        (day(31), "incoming_supply"), (day(31), "incoming_supply")]
    assert orders[1]["lines"][0]["reason"] == f"waiting for {first_po}, due {day(10)}"
    assert orders[3]["lines"][0]["reason"] == f"waiting for {second_po}, due {day(30)}"
    assert (orders[1]["lines"][0]["reserved"], orders[1]["lines"][0]["backordered"]) == (2, 2)

    # "When can you deliver 40?" Only what is left of the second PO after earlier backorders: 70 - 57 = 13.
    answer = await api.ok("get", "/availability/X-1?quantity=13")
    assert (answer["promise_date"], answer["promise_basis"]) == (day(31), "incoming_supply")
    answer = await api.ok("get", "/availability/X-1?quantity=40")
    assert (answer["promise_date"], answer["promise_basis"], answer["estimated"]) == (
        day(22), "supplier_lead_time", True)

    # The first PO arrives on time: backorders are filled in order, and only as far as it goes.
    receipt = await api.as_("warehouse").ok("post", f"/purchase-orders/{first_po}/receipts",
                                            {"lines": [{"sku": "X-1", "quantity": 20}]})
    (inspection,) = receipt["inspections"]
    await api.as_("warehouse2").ok("post", f"/inspections/{inspection['id']}", {"accepted": 20, "rejected": 0},
                                   status=200)
    await assert_invariants(database_url)
    lines = [await line_of(api, n) for n in numbers]
    assert [(x["reserved"], x["backordered"]) for x in lines] == [(3, 0), (4, 0), (10, 0), (8, 7), (0, 30)]
    assert [x["promise_basis"] for x in lines] == ["in_stock", "in_stock", "in_stock", "incoming_supply",
                                                   "incoming_supply"]
    assert lines[3]["reason"] == f"waiting for {second_po}, due {day(30)}"

    # The second PO slips five days: exactly the promises that depend on it move, visibly.
    before = {n: len((await api.ok("get", f"/orders/{n}"))["timeline"]) for n in numbers}
    await api.as_("purchasing").ok("patch", f"/purchase-orders/{second_po}/lines/1", {"expected_date": day(35)},
                                   status=200)
    lines = [await line_of(api, n) for n in numbers]
    assert [x["promised_date"] for x in lines[3:]] == [day(36), day(36)]
    for n in numbers:
        timeline = (await api.ok("get", f"/orders/{n}"))["timeline"]
        moved = [e for e in timeline[before[n]:] if e["type"] == "order.repromised"]
        assert len(moved) == (1 if n in numbers[3:] else 0), n
    assert "changed from" in moved[0]["summary"]


async def test_cancelling_a_po_re_promises_its_backorders_from_the_lead_time(api):
    await given_warehouse(api, "MAD-1", handling_days=1, bins=("A-01",))
    await given_product(api, "X-1")
    await given_supplier(api, lead_time=21)
    po = await given_sent_po(api, "X-1", 10, 5)
    order = await api.ok("post", "/orders", order_body(("X-1", 4)))
    assert order["lines"][0]["promised_date"] == day(6)
    await api.as_("purchasing").ok("post", f"/purchase-orders/{po}/cancel", status=200)
    line = await line_of(api, order["number"])
    assert (line["promised_date"], line["promise_basis"]) == (day(22), "supplier_lead_time")
    assert (await stock_of(api, "X-1", "MAD-1"))["incoming"] == 0


async def test_a_short_receipt_closed_as_final_moves_the_promises_it_no_longer_covers(api):
    await given_warehouse(api, "MAD-1", handling_days=1, bins=("A-01",))
    await given_product(api, "X-1")
    await given_supplier(api, lead_time=40)
    po = await given_sent_po(api, "X-1", 10, 5)
    first = await api.ok("post", "/orders", order_body(("X-1", 6)))
    second = await api.ok("post", "/orders", order_body(("X-1", 4)))
    receipt = await api.as_("warehouse").ok("post", f"/purchase-orders/{po}/receipts",
                                            {"lines": [{"sku": "X-1", "quantity": 7}]})
    await api.as_("warehouse2").ok("post", f"/inspections/{receipt['inspections'][0]['id']}",
                                   {"accepted": 7, "rejected": 0}, status=200)
    closed = await api.as_("purchasing").ok("post", f"/purchase-orders/{po}/close", status=200)
    assert closed["status"] == "closed"
    assert (await line_of(api, first["number"]))["backordered"] == 0
    second_line = await line_of(api, second["number"])
    assert (second_line["reserved"], second_line["backordered"], second_line["promise_basis"]) == (
        1, 3, "supplier_lead_time")


@pytest.fixture
async def live(live_server, keys):
    limits = httpx.Limits(max_connections=100, keepalive_expiry=2)
    async with httpx.AsyncClient(base_url=live_server, limits=limits, timeout=60) as client:
        yield Api(client, keys)


async def test_concurrent_orders_never_promise_the_same_incoming_supply_twice(live, database_url):
    await given_warehouse(live, "MAD-1", handling_days=1, bins=("A-01",))
    await given_product(live, "X-1")
    await given_supplier(live, lead_time=30)
    po = await given_sent_po(live, "X-1", 10, 7)
    responses = await asyncio.gather(*(live.as_("service").post("/orders", order_body(("X-1", 1)))
                                       for _ in range(24)))
    assert {r.status_code for r in responses} == {201}
    bases = [r.json()["lines"][0]["promise_basis"] for r in responses]
    assert (bases.count("incoming_supply"), bases.count("supplier_lead_time")) == (10, 14)
    on_po = [r.json() for r in responses if r.json()["lines"][0]["promise_basis"] == "incoming_supply"]
    assert all(o["lines"][0]["reason"] == f"waiting for {po}, due {day(7)}" for o in on_po)
    assert (await live.ok("get", "/availability/X-1?quantity=1"))["promise_basis"] == "supplier_lead_time"
    await assert_invariants(database_url)
