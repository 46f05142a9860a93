"""The whole case end to end, as the rep and the warehouse drive it, with `erp check`'s invariants after
every step: ship, return, receive, inspect one unit of each disposition, replace, repair, refund."""

from datetime import date

from tests.builders import given_product, given_warehouse, stock_of
from tests.conftest import assert_invariants
from tests.orders.test_placing import order_body
from tests.returns.builders import return_body, ship
from tests.test_cli import erp


async def test_ship_return_receive_inspect_replace_repair_refund(api, database_url):
    async def step(method, path, body=None, role="warehouse", status=None):
        result = await api.as_(role).ok(method, path, body, status=status)
        await assert_invariants(database_url)
        return result

    # Supply: six laptops and a monitor bought from Acme, received and accepted.
    await given_warehouse(api, "MAD-1", bins=("A-01", "A-02"))
    for sku in ("LAP-1", "MON-1"):
        await given_product(api, sku)
    await step("post", "/suppliers", {"code": "ACME", "name": "Acme", "lead_time_days": 20}, role="purchasing")
    for sku in ("LAP-1", "MON-1"):
        await step("put", f"/suppliers/ACME/products/{sku}", {"supplier_sku": f"A-{sku}", "unit_cost": "10",
                                                             "currency": "EUR", "preferred": True},
                   role="purchasing", status=200)
    po = await step("post", "/purchase-orders", {"supplier": "ACME", "warehouse": "MAD-1", "lines": [
        {"sku": "LAP-1", "quantity": 6}, {"sku": "MON-1", "quantity": 1}]}, role="purchasing")
    await step("post", f"/purchase-orders/{po['number']}/send", role="purchasing", status=200)
    receipt = await step("post", f"/purchase-orders/{po['number']}/receipts", {"lines": [
        {"sku": "LAP-1", "quantity": 6}, {"sku": "MON-1", "quantity": 1}]})
    for inspection in receipt["inspections"]:
        await step("post", f"/inspections/{inspection['id']}", {"accepted": inspection["quantity"], "rejected": 0},
                   role="warehouse2", status=200)

    # The customer's order ships; another customer's order waits for one laptop.
    body = {**order_body(("LAP-1", 5), ("MON-1", 1)), "currency": "EUR"}
    for line in body["lines"]:
        line["unit_price"] = "49.90"
    sold = await step("post", "/orders", body, role="service")
    await ship(api, sold["number"])
    await assert_invariants(database_url)
    waiting = await step("post", "/orders", order_body(("LAP-1", 2)), role="service")
    assert (waiting["status"], waiting["lines"][0]["backordered"]) == ("backordered", 1)

    # Return A: four laptops for replacements, placed when they arrive.
    a = await step("post", "/returns", return_body(sold["number"], ("LAP-1", 4, "defective"),
                                                   resolution="replacement"), role="service")
    a = await step("post", f"/returns/{a['number']}/receive", {}, status=200)
    (replacement,) = a["replacement_orders"]
    assert (await api.ok("get", f"/orders/{replacement['number']}"))["status"] == "backordered"
    assert (await stock_of(api, "LAP-1", "MAD-1"))["quarantined"] == 4
    a = await step("post", f"/returns/{a['number']}/inspect", {"lines": [
        {"sku": "LAP-1", "restock": 1, "repair": 1, "scrap": 1, "return_to_supplier": 1}]}, role="warehouse2",
        status=200)
    assert [(x["restocked"], x["repaired"], x["scrapped"], x["returned_to_supplier"]) for x in a["lines"]] == [
        (1, 1, 1, 1)]
    # The restocked unit went to the order that waited longest.
    filled = await api.ok("get", f"/orders/{waiting['number']}")
    assert (filled["status"], filled["lines"][0]["backordered"]) == ("confirmed", 0)
    (refurbish,) = a["repairs"]
    assert refurbish["ships_to_customer"] is False
    await step("post", f"/repairs/{refurbish['number']}/status", {"status": "in_progress"}, status=200)
    await step("post", f"/repairs/{refurbish['number']}/status", {"status": "completed"}, status=200)
    # The refurbished unit and three found in a count cover the replacement, which ships.
    await step("post", "/stock/adjustments", {"sku": "LAP-1", "location": "MAD-1/A-02", "quantity_delta": 3,
                                              "reason": "found"}, status=201)
    assert (await api.ok("get", f"/orders/{replacement['number']}"))["status"] == "confirmed"
    await ship(api, replacement["number"])
    await assert_invariants(database_url)
    assert (await api.ok("get", f"/returns/{a['number']}"))["status"] == "resolved"

    # Return B: the monitor, repaired and sent back.
    b = await step("post", "/returns", return_body(sold["number"], ("MON-1", 1, "defective"), resolution="repair"),
                   role="service")
    await step("post", f"/returns/{b['number']}/receive", {}, status=200)
    b = await step("post", f"/returns/{b['number']}/inspect", {"lines": [{"sku": "MON-1", "repair": 1}]},
                   role="warehouse2", status=200)
    repair = b["repairs"][0]["number"]
    await step("post", f"/repairs/{repair}/status", {"status": "in_progress"}, status=200)
    await step("post", f"/repairs/{repair}/status", {"status": "completed"}, status=200)
    await step("post", f"/repairs/{repair}/status", {"status": "shipped", "carrier": "DHL", "tracking_number": "D-9"},
               status=200)
    assert (await api.ok("get", f"/returns/{b['number']}"))["status"] == "resolved"

    # Return C: the last laptop, refunded.
    c = await step("post", "/returns", return_body(sold["number"], ("LAP-1", 1, "no_longer_needed")), role="service")
    await step("post", f"/returns/{c['number']}/receive", {}, status=200)
    await step("post", f"/returns/{c['number']}/refunds", {"amount": "49.90", "currency": "EUR",
                                                           "method": "original_payment"}, role="service")
    c = await step("post", f"/returns/{c['number']}/inspect", {"lines": [{"sku": "LAP-1", "restock": 1}]},
                   role="warehouse2", status=200)
    assert c["status"] == "resolved"

    case = await api.as_("service").ok("get", f"/orders/{sold['number']}")
    assert [(r["number"], r["status"]) for r in case["returns"]] == [
        (a["number"], "resolved"), (b["number"], "resolved"), (c["number"], "resolved")]
    assert [line["returned"] for line in case["lines"]] == [5, 1]
    # Acme's scorecard: 1 unit sent back, 2 defective ones scrapped or repaired from A, 1 repaired from B,
    # of 7 received.
    today = date.today().isoformat()
    card = await api.as_("purchasing").ok("get", f"/suppliers/ACME/scorecard?from={today}&to={today}")
    assert card["defect_rate"] == round(4 / 7, 4)
    checked = await erp(database_url, "check")
    assert checked.returncode == 0, checked.stdout
