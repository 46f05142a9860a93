from datetime import date, timedelta

from tests.builders import given_product, given_stock, given_warehouse, stock_of
from tests.orders.test_placing import order_body
from tests.suppliers.test_dated_promises import day, given_sent_po, given_supplier


async def given_world(api):
    await given_warehouse(api, "MAD-1", handling_days=1, bins=("A-01", "A-02"))
    await given_product(api, "X-1", reorder_point=10, reorder_max=40)
    await given_supplier(api)


async def test_suppliers_and_their_products(api):
    await given_world(api)
    supplier = await api.as_("purchasing").ok("get", "/suppliers/ACME")
    assert (supplier["name"], supplier["lead_time_days"]) == ("Acme Components", 30)
    assert [s["code"] for s in (await api.as_("purchasing").ok("get", "/suppliers"))["items"]] == ["ACME"]
    duplicate = await api.as_("purchasing").post("/suppliers", {"code": "ACME", "name": "Again"})
    assert (duplicate.status_code, duplicate.json()["code"]) == (409, "already_exists")
    await api.as_("purchasing").ok("post", "/suppliers", {"code": "BOLT", "name": "Bolt & Co"})
    other = await api.as_("purchasing").ok("put", "/suppliers/BOLT/products/X-1", {
        "supplier_sku": "B1", "unit_cost": "11.00", "currency": "EUR", "preferred": True}, status=200)
    assert other["lead_time_days"] == 14  # the supplier's default
    suggestion = (await api.as_("purchasing").ok("get", "/replenishment/suggestions"))[0]
    assert suggestion["supplier"] == "BOLT"  # only one preferred supplier per product
    assert (await api.as_("warehouse").get("/suppliers")).status_code == 403


async def test_purchase_order_defaults_come_from_the_supplier_terms(api):
    await given_world(api)
    po = await api.as_("purchasing").ok("post", "/purchase-orders", {
        "supplier": "ACME", "warehouse": "MAD-1", "lines": [{"sku": "X-1", "quantity": 12}]})
    assert po["status"] == "draft"
    (line,) = po["lines"]
    assert (line["unit_cost"], line["expected_date"], line["open"]) == ("12.5000", day(21), 12)
    assert (await stock_of(api, "X-1", "MAD-1"))["incoming"] == 0  # a draft is not supply yet
    sent = await api.as_("purchasing").ok("post", f"/purchase-orders/{po['number']}/send", status=200)
    assert sent["status"] == "sent"
    assert (await stock_of(api, "X-1", "MAD-1"))["incoming"] == 12
    again = await api.as_("purchasing").post(f"/purchase-orders/{po['number']}/send")
    assert (again.status_code, again.json()["code"]) == (409, "invalid_transition")
    listed = await api.as_("warehouse").ok("get", "/purchase-orders?status=sent&supplier=ACME")
    assert [p["number"] for p in listed["items"]] == [po["number"]]


async def test_bad_purchase_orders_are_refused(api):
    await given_world(api)
    await given_product(api, "Y-1")
    cases = [
        ({"supplier": "NOPE", "warehouse": "MAD-1", "lines": [{"sku": "X-1", "quantity": 1}]}, 404),
        ({"supplier": "ACME", "warehouse": "MAD-1", "lines": [{"sku": "Y-1", "quantity": 1}]}, 422),  # no price
        ({"supplier": "ACME", "warehouse": "MAD-1", "lines": [{"sku": "X-1", "quantity": 1,
                                                               "expected_date": "2001-01-01"}]}, 422),
        ({"supplier": "ACME", "warehouse": "MAD-1", "lines": [{"sku": "X-1", "quantity": 1, "unit_cost": "-1"}]}, 422),
        ({"supplier": "ACME", "warehouse": "MAD-1", "lines": []}, 422),
    ]
    for body, status in cases:
        assert (await api.as_("purchasing").post("/purchase-orders", body)).status_code == status, body
    assert (await api.as_("purchasing").ok("get", "/purchase-orders"))["items"] == []


async def test_receipts_go_to_receiving_or_quarantine_and_over_receipt_is_refused(api):
    await given_world(api)
    plain = await given_sent_po(api, "X-1", 20, 10)
    checked = await given_sent_po(api, "X-1", 20, 10, inspection_required=True)
    receipt = await api.as_("warehouse").ok("post", f"/purchase-orders/{plain}/receipts",
                                            {"lines": [{"sku": "X-1", "quantity": 8}]})
    assert receipt["purchase_order"]["status"] == "partially_received"
    assert receipt["inspections"][0]["location"] == "MAD-1/RECEIVING"
    quarantined = await api.as_("warehouse").ok("post", f"/purchase-orders/{checked}/receipts",
                                                {"lines": [{"sku": "X-1", "quantity": 20}]})
    assert quarantined["purchase_order"]["status"] == "received"
    assert quarantined["inspections"][0]["location"] == "MAD-1/QUARANTINE"
    level = await stock_of(api, "X-1", "MAD-1")
    assert (level["on_hand"], level["quarantined"], level["incoming"]) == (0, 20, 12)
    # 5% tolerance: 20 ordered, 8 received, at most 13 more.
    too_many = await api.as_("warehouse").post(f"/purchase-orders/{plain}/receipts",
                                               {"lines": [{"sku": "X-1", "quantity": 14}]})
    assert (too_many.status_code, too_many.json()["code"]) == (409, "over_receipt")
    ok = await api.as_("warehouse").ok("post", f"/purchase-orders/{plain}/receipts",
                                       {"lines": [{"sku": "X-1", "quantity": 13}]})
    assert ok["purchase_order"]["status"] == "received"
    assert (await api.as_("purchasing").post(f"/purchase-orders/{plain}/cancel")).status_code == 409


async def test_inspection_accepts_to_storage_and_rejects_back_to_the_supplier_reopening_the_line(api):
    await given_world(api)
    po = await given_sent_po(api, "X-1", 10, 10, inspection_required=True)
    receipt = await api.as_("warehouse").ok("post", f"/purchase-orders/{po}/receipts",
                                            {"lines": [{"sku": "X-1", "quantity": 10}]})
    inspection_id = receipt["inspections"][0]["id"]
    pending = await api.as_("warehouse").ok("get", "/inspections?status=pending")
    assert [i["id"] for i in pending["items"]] == [inspection_id]
    wrong_total = await api.as_("warehouse2").post(f"/inspections/{inspection_id}", {"accepted": 5, "rejected": 1})
    assert wrong_total.status_code == 422
    done = await api.as_("warehouse2").ok("post", f"/inspections/{inspection_id}",
                                          {"accepted": 7, "rejected": 3, "notes": "3 cracked housings",
                                           "location": "MAD-1/A-02"}, status=200)
    assert (done["status"], done["received_by"], done["inspected_by"]) == (
        "done", "warehouse tester", "second warehouse tester")
    again = await api.as_("warehouse2").post(f"/inspections/{inspection_id}", {"accepted": 10, "rejected": 0})
    assert (again.status_code, again.json()["code"]) == (409, "invalid_transition")
    level = await stock_of(api, "X-1", "MAD-1")
    assert (level["on_hand"], level["quarantined"], level["incoming"]) == (7, 0, 3)
    locations = {x["location"]: x["quantity"] for x in (await api.ok("get", "/stock/X-1/locations"))["items"]}
    assert locations == {"MAD-1/A-02": 7}
    view = await api.as_("purchasing").ok("get", f"/purchase-orders/{po}")
    assert (view["status"], view["lines"][0]["rejected"], view["lines"][0]["open"]) == ("partially_received", 3, 3)
    moves = (await api.ok("get", f"/stock/moves?reference={po}"))["items"]
    assert [(m["from_location"], m["to_location"], m["quantity"]) for m in moves] == [
        ("MAD-1/SUPPLIER", "MAD-1/QUARANTINE", 10), ("MAD-1/QUARANTINE", "MAD-1/A-02", 7),
        ("MAD-1/QUARANTINE", "MAD-1/SUPPLIER", 3)]


async def test_the_person_who_received_the_goods_may_not_inspect_them(api):
    await given_world(api)
    po = await given_sent_po(api, "X-1", 10, 10, inspection_required=True)
    receipt = await api.as_("warehouse").ok("post", f"/purchase-orders/{po}/receipts",
                                            {"lines": [{"sku": "X-1", "quantity": 10}]})
    inspection_id = receipt["inspections"][0]["id"]
    own = await api.as_("warehouse").post(f"/inspections/{inspection_id}", {"accepted": 10, "rejected": 0})
    assert (own.status_code, own.json()["code"]) == (403, "forbidden")
    assert "second person" in own.json()["detail"]
    assert (await stock_of(api, "X-1", "MAD-1"))["quarantined"] == 10  # nothing moved
    # An admin who received is held to it too; anyone else, of a role that inspects, may.
    admin_po = await given_sent_po(api, "X-1", 5, 10)
    received = await api.ok("post", f"/purchase-orders/{admin_po}/receipts", {"lines": [{"sku": "X-1", "quantity": 5}]})
    admin_own = await api.post(f"/inspections/{received['inspections'][0]['id']}", {"accepted": 5, "rejected": 0})
    assert (admin_own.status_code, admin_own.json()["code"]) == (403, "forbidden")
    await api.as_("warehouse2").ok("post", f"/inspections/{inspection_id}", {"accepted": 10, "rejected": 0}, status=200)
    await api.as_("warehouse").ok("post", f"/inspections/{received['inspections'][0]['id']}",
                                  {"accepted": 5, "rejected": 0}, status=200)


async def test_the_scorecard_measures_on_time_fill_defects_and_lead_times(api):
    await given_world(api)
    on_time = await given_sent_po(api, "X-1", 10, 0)
    receipt = await api.as_("warehouse").ok("post", f"/purchase-orders/{on_time}/receipts",
                                            {"lines": [{"sku": "X-1", "quantity": 10}]})
    await api.as_("warehouse2").ok("post", f"/inspections/{receipt['inspections'][0]['id']}",
                                   {"accepted": 8, "rejected": 2}, status=200)
    await given_sent_po(api, "X-1", 10, 0)  # due today, nothing delivered
    card = await api.as_("purchasing").ok("get", f"/suppliers/ACME/scorecard?from={day(-1)}&to={day(1)}")
    assert card["lines_due"] == 2
    assert card["on_time_rate"] == 0.0  # the first line is still owed the 2 rejected units
    assert card["fill_rate"] == 0.4
    assert card["defect_rate"] == 0.2
    assert card["promised_lead_time_days"] == 0.0
    bad = await api.as_("purchasing").get(f"/suppliers/ACME/scorecard?from={day(1)}&to={day(-1)}")
    assert bad.status_code == 422


async def test_replenishment_suggests_up_to_the_maximum_and_accepting_makes_draft_pos(api):
    await given_world(api)
    await api.as_("purchasing").ok("put", "/suppliers/ACME/products/X-1", {
        "supplier_sku": "AC-X-1", "unit_cost": "12.50", "currency": "EUR", "lead_time_days": 21,
        "min_order_quantity": 6, "preferred": True}, status=200)
    await given_stock(api, "X-1", "MAD-1/A-01", 5)
    await api.as_("service").ok("post", "/orders", order_body(("X-1", 8)))  # 3 backordered
    (suggestion,) = await api.as_("purchasing").ok("get", "/replenishment/suggestions")
    # projected = available 0 + incoming 0 - backordered 3 = -3; up to 40 is 43, in multiples of 6: 48.
    assert (suggestion["projected"], suggestion["quantity"], suggestion["supplier"]) == (-3, 48, "ACME")
    created = await api.as_("purchasing").ok("post", "/replenishment/suggestions/accept", {})
    assert [(po["status"], po["supplier"], po["lines"][0]["quantity"]) for po in created] == [("draft", "ACME", 48)]
    assert created[0]["lines"][0]["expected_date"] == (date.today() + timedelta(days=21)).isoformat()
    assert (await stock_of(api, "X-1", "MAD-1"))["incoming"] == 0  # a draft is not supply to promise from...
    assert await api.as_("purchasing").ok("get", "/replenishment/suggestions") == []  # ...but it is on order
    await api.as_("purchasing").ok("post", f"/purchase-orders/{created[0]['number']}/send", status=200)
    assert await api.as_("purchasing").ok("get", "/replenishment/suggestions") == []


async def test_accepting_a_suggestion_again_creates_no_second_draft_and_says_so(api):
    await given_world(api)  # reorder point 10, max 40
    await given_stock(api, "X-1", "MAD-1/A-01", 4)
    selection = {"items": [{"sku": "X-1", "warehouse": "MAD-1"}]}
    (first,) = await api.as_("purchasing").ok("post", "/replenishment/suggestions/accept", selection)
    assert first["lines"][0]["quantity"] == 36
    again = await api.as_("purchasing").post("/replenishment/suggestions/accept", selection)
    assert (again.status_code, again.json()["code"]) == (409, "already_on_order")
    assert first["number"] in again.json()["detail"]
    everything = await api.as_("purchasing").post("/replenishment/suggestions/accept", {})
    assert (everything.status_code, everything.json()) == (200, [])  # nothing created, not a 201
    drafts = await api.as_("purchasing").ok("get", "/purchase-orders?status=draft")
    assert [po["number"] for po in drafts["items"]] == [first["number"]]
    # Demand that outgrows the draft is suggested again, for what the draft does not cover.
    await api.as_("service").ok("post", "/orders", order_body(("X-1", 31)))  # 4 reserved, 27 backordered
    (suggestion,) = await api.as_("purchasing").ok("get", "/replenishment/suggestions")
    # projected = available 0 + incoming 0 + drafted 36 - backordered 27 = 9, below 10: 31 more up to 40.
    assert (suggestion["drafted"], suggestion["projected"], suggestion["quantity"]) == (36, 9, 31)
