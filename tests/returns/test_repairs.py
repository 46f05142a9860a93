"""Repair orders: parts reserved like order lines, waiting with a dated promise, consumed when used."""

from datetime import date, timedelta

from tests.builders import given_product, given_stock, stock_of
from tests.returns.builders import given_shipped_order, given_shop, return_body

WALK_IN = {"sku": "LAP-1", "customer": {"name": "Ana Ruiz", "email": "ana@example.com"}, "problem": "fan noise"}


async def given_fan_supplier(api, due_in_days=14, quantity=10):
    """FAN-12, none in stock, on a sent purchase order."""
    await given_product(api, "FAN-12")
    await api.as_("purchasing").ok("post", "/suppliers", {"code": "ACME", "name": "Acme", "lead_time_days": 30})
    await api.as_("purchasing").ok("put", "/suppliers/ACME/products/FAN-12",
                                   {"supplier_sku": "A-FAN", "unit_cost": "3", "currency": "EUR", "preferred": True},
                                   status=200)
    due = (date.today() + timedelta(days=due_in_days)).isoformat()
    po = await api.as_("purchasing").ok("post", "/purchase-orders", {
        "supplier": "ACME", "warehouse": "MAD-1", "lines": [{"sku": "FAN-12", "quantity": quantity, "expected_date": due}]})
    await api.as_("purchasing").ok("post", f"/purchase-orders/{po['number']}/send", status=200)
    return po, due


async def test_a_walk_in_unit_waits_in_quarantine_and_is_promised_from_the_repair_time(api):
    await given_shop(api, "LAP-1")
    repair = await api.as_("service").ok("post", "/repairs", WALK_IN)
    assert (repair["number"], repair["status"], repair["warehouse"]) == ("RO-000001", "queued", "MAD-1")
    assert repair["promised_date"] == (date.today() + timedelta(days=2)).isoformat()
    assert repair["reason"] == "parts in stock; repair takes 2 days"
    level = await stock_of(api, "LAP-1", "MAD-1")
    assert (level["on_hand"], level["quarantined"]) == (20, 1)


async def test_a_short_part_waits_for_its_purchase_order_and_the_promise_says_so(api):
    await given_shop(api, "LAP-1")
    po, due = await given_fan_supplier(api)
    repair = await api.as_("service").ok("post", "/repairs", WALK_IN)
    number = repair["number"]
    waiting = await api.as_("warehouse").ok("post", f"/repairs/{number}/parts", {"sku": "FAN-12", "quantity": 2})
    assert waiting["status"] == "waiting_parts"
    (part,) = waiting["parts"]
    assert (part["reserved"], part["waiting"], part["promise_basis"]) == (0, 2, "incoming_supply")
    ready = date.fromisoformat(due) + timedelta(days=1)  # the warehouse's handling day
    assert waiting["promised_date"] == (ready + timedelta(days=2)).isoformat()
    assert waiting["reason"] == f"waiting for 2 x FAN-12 on {po['number']}, due {due}; repair takes 2 days"
    assert (await stock_of(api, "FAN-12", "MAD-1"))["backordered"] == 2
    blocked = await api.as_("warehouse").post(f"/repairs/{number}/status", {"status": "completed"})
    assert blocked.status_code == 409

    # The purchase order arrives and is accepted: the part is reserved without anyone asking.
    receipt = await api.as_("warehouse").ok("post", f"/purchase-orders/{po['number']}/receipts",
                                            {"lines": [{"sku": "FAN-12", "quantity": 10}]})
    (inspection,) = receipt["inspections"]
    await api.as_("warehouse2").ok("post", f"/inspections/{inspection['id']}", {"accepted": 10, "rejected": 0},
                                   status=200)
    arrived = await api.ok("get", f"/repairs/{number}")
    assert arrived["status"] == "queued"
    assert (arrived["parts"][0]["reserved"], arrived["parts"][0]["waiting"]) == (2, 0)
    assert (await stock_of(api, "FAN-12", "MAD-1"))["reserved"] == 2

    await api.as_("warehouse").ok("post", f"/repairs/{number}/status", {"status": "in_progress"}, status=200)
    done = await api.as_("warehouse").ok("post", f"/repairs/{number}/status", {"status": "completed"}, status=200)
    assert (done["status"], done["parts"][0]["consumed"]) == ("completed", 2)
    fans = await stock_of(api, "FAN-12", "MAD-1")
    assert (fans["on_hand"], fans["reserved"]) == (8, 0)
    moves = (await api.ok("get", f"/stock/moves?reference={number}"))["items"]
    assert {m["reason"] for m in moves} == {"repair_intake", "repair_part"}
    assert any(m["to_location"] == "MAD-1/CONSUMPTION" for m in moves)
    shipped = await api.as_("warehouse").ok("post", f"/repairs/{number}/status",
                                            {"status": "shipped", "carrier": "DHL", "tracking_number": "R-1"}, status=200)
    assert shipped["status_text"] == f"{number} repaired and shipped with DHL, tracking R-1"
    assert (await stock_of(api, "LAP-1", "MAD-1"))["quarantined"] == 0


async def test_a_part_not_needed_is_released(api):
    await given_shop(api, "LAP-1")
    await given_product(api, "FAN-12")
    await given_stock(api, "FAN-12", "MAD-1/A-02", 3)
    repair = await api.as_("service").ok("post", "/repairs", WALK_IN)
    added = await api.as_("warehouse").ok("post", f"/repairs/{repair['number']}/parts", {"sku": "FAN-12", "quantity": 2})
    assert added["parts"][0]["reserved"] == 2
    removed = await api.as_("warehouse").ok("delete", f"/repairs/{repair['number']}/parts/FAN-12")
    assert (removed["parts"][0]["reserved"], removed["parts"][0]["cancelled"]) == (0, 2)
    assert (await stock_of(api, "FAN-12", "MAD-1"))["reserved"] == 0


async def test_a_return_for_repair_opens_a_repair_order_at_inspection_and_resolves_when_it_ships(api):
    await given_shop(api, "LAP-1")
    order = await given_shipped_order(api, ("LAP-1", 1))
    ret = await api.as_("service").ok("post", "/returns", return_body(order["number"], ("LAP-1", 1, "defective"),
                                                                   resolution="repair"))
    await api.as_("warehouse").ok("post", f"/returns/{ret['number']}/receive", {}, status=200)
    restock = await api.as_("warehouse2").post(f"/returns/{ret['number']}/inspect",
                                               {"lines": [{"sku": "LAP-1", "restock": 1}]})
    assert (restock.status_code, restock.json()["code"]) == (422, "validation_error")
    inspected = await api.as_("warehouse2").ok("post", f"/returns/{ret['number']}/inspect",
                                               {"lines": [{"sku": "LAP-1", "repair": 1}]}, status=200)
    (repair,) = inspected["repairs"]
    assert (repair["status"], repair["return_number"], repair["ships_to_customer"]) == ("queued", ret["number"], True)
    assert inspected["status"] == "inspected"
    number = repair["number"]
    await api.as_("warehouse").ok("post", f"/repairs/{number}/status", {"status": "in_progress"}, status=200)
    await api.as_("warehouse").ok("post", f"/repairs/{number}/status", {"status": "completed"}, status=200)
    await api.as_("warehouse").ok("post", f"/repairs/{number}/status",
                                  {"status": "shipped", "carrier": "UPS", "tracking_number": "U-1"}, status=200)
    assert (await api.ok("get", f"/returns/{ret['number']}"))["status"] == "resolved"


async def test_an_unrepairable_unit_becomes_a_replacement_or_a_refund_as_the_rep_chooses(api):
    await given_shop(api, "LAP-1")
    order = await given_shipped_order(api, ("LAP-1", 2))
    ret = await api.as_("service").ok("post", "/returns", return_body(order["number"], ("LAP-1", 2, "defective"),
                                                                   resolution="repair"))
    await api.as_("warehouse").ok("post", f"/returns/{ret['number']}/receive", {}, status=200)
    inspected = await api.as_("warehouse2").ok("post", f"/returns/{ret['number']}/inspect",
                                               {"lines": [{"sku": "LAP-1", "repair": 2}]}, status=200)
    number = inspected["repairs"][0]["number"]
    given_up = await api.as_("warehouse").ok("post", f"/repairs/{number}/status", {"status": "unrepairable"}, status=200)
    assert given_up["status"] == "unrepairable"
    assert (await stock_of(api, "LAP-1", "MAD-1"))["quarantined"] == 0
    early = await api.as_("service").post(f"/returns/{ret['number']}/refunds",
                                          {"amount": "10", "currency": "EUR", "method": "cash"})
    assert early.status_code == 409
    chosen = await api.as_("service").ok("post", f"/repairs/{number}/outcome", {"outcome": "refund"}, status=200)
    assert chosen["outcome"] == "refund"
    again = await api.as_("service").post(f"/repairs/{number}/outcome", {"outcome": "replacement"})
    assert (again.status_code, again.json()["code"]) == (409, "invalid_transition")
    refunded = await api.as_("service").ok("post", f"/returns/{ret['number']}/refunds",
                                           {"amount": "99.80", "currency": "EUR", "method": "original_payment"})
    assert (refunded["refunded_amount"], refunded["status"]) == ("99.8", "resolved")


async def test_a_walk_in_repair_cannot_be_refunded_but_can_be_replaced(api):
    await given_shop(api, "LAP-1")
    repair = await api.as_("service").ok("post", "/repairs", WALK_IN)
    number = repair["number"]
    await api.as_("warehouse").ok("post", f"/repairs/{number}/status", {"status": "unrepairable"}, status=200)
    refund = await api.as_("service").post(f"/repairs/{number}/outcome", {"outcome": "refund"})
    assert refund.status_code == 409
    replaced = await api.as_("service").ok("post", f"/repairs/{number}/outcome", {"outcome": "replacement"},
                                           status=200)
    (order_number,) = replaced["replacement_orders"]
    placed = await api.ok("get", f"/orders/{order_number}")
    assert (placed["channel"], placed["customer"]["email"], placed["replacement_for"]) == ("store", "ana@example.com",
                                                                                            number)
