from tests.builders import given_product, given_stock, given_warehouse, stock_of
from tests.orders.test_placing import order_body


async def given_world(api):
    await given_warehouse(api, "MAD-1", priority=10, bins=("A-01", "A-02", "B-01"))
    await given_warehouse(api, "BER-1", priority=20, bins=("B-01",))
    await given_product(api, "LAP-1", barcode="1001")
    await given_product(api, "MON-1", barcode="1002")


async def place(api, *lines, **extra):
    return await api.as_("service").ok("post", "/orders", order_body(*lines, **extra))


async def pick_list(api, warehouse="MAD-1", **extra):
    return await api.as_("warehouse").ok("post", "/pick-lists", {"warehouse": warehouse, **extra})


async def confirm(api, list_id, role="warehouse", **scan):
    return await api.as_(role).post(f"/pick-lists/{list_id}/confirm", scan)


async def test_pick_list_visits_bins_in_walking_order_and_never_asks_a_bin_for_more_than_it_holds(api):
    await given_world(api)
    await given_stock(api, "LAP-1", "MAD-1/B-01", 2)
    await given_stock(api, "LAP-1", "MAD-1/A-02", 3)
    await given_stock(api, "MON-1", "MAD-1/A-01", 5)
    order = await place(api, ("LAP-1", 4), ("MON-1", 1))
    listed = await pick_list(api)
    assert [(x["location"], x["sku"], x["quantity"]) for x in listed["lines"]] == [
        ("MAD-1/A-01", "MON-1", 1), ("MAD-1/A-02", "LAP-1", 3), ("MAD-1/B-01", "LAP-1", 1)]
    assert {x["order"] for x in listed["lines"]} == {order["number"]}
    assert (await api.ok("get", f"/orders/{order['number']}"))["status"] == "picking"
    again = await api.as_("warehouse").post("/pick-lists", {"warehouse": "MAD-1"})
    assert (again.status_code, again.json()["code"]) == (409, "nothing_to_pick")


async def test_pick_lists_take_the_oldest_promise_first(api):
    await given_world(api)
    await given_stock(api, "LAP-1", "MAD-1/A-01", 10)
    first = await place(api, ("LAP-1", 1))
    second = await place(api, ("LAP-1", 1))
    listed = await pick_list(api, max_orders=1)
    assert [x["order"] for x in listed["lines"]] == [first["number"]]
    listed = await pick_list(api, max_orders=1)
    assert [x["order"] for x in listed["lines"]] == [second["number"]]


async def test_wrong_scans_are_refused_and_change_nothing(api):
    await given_world(api)
    await given_stock(api, "LAP-1", "MAD-1/A-01", 5)
    await given_stock(api, "MON-1", "MAD-1/A-02", 5)
    await place(api, ("LAP-1", 2))
    listed = await pick_list(api)
    for scan in ({"location": "MAD-1/A-02", "sku": "LAP-1", "quantity": 1},
                 {"location": "MAD-1/A-01", "sku": "MON-1", "quantity": 1},
                 {"location": "MAD-1/A-01", "barcode": "9999", "quantity": 1},
                 {"location": "MAD-1/A-01", "sku": "LAP-1", "quantity": 3},
                 {"location": "BER-1/B-01", "sku": "LAP-1", "quantity": 1}):
        response = await confirm(api, listed["id"], **scan)
        assert (response.status_code, response.json()["code"]) == (409, "scan_mismatch"), scan
    assert (await api.ok("get", f"/pick-lists/{listed['id']}"))["lines"][0]["picked"] == 0
    assert (await stock_of(api, "LAP-1", "MAD-1"))["on_hand"] == 5


async def test_a_pick_by_barcode_moves_stock_to_packing_and_consumes_the_reservation(api):
    await given_world(api)
    await given_stock(api, "LAP-1", "MAD-1/A-01", 5)
    order = await place(api, ("LAP-1", 2))
    listed = await pick_list(api)
    response = await confirm(api, listed["id"], location="MAD-1/A-01", barcode="1001", quantity=2)
    assert response.status_code == 200
    assert response.json()["status"] == "completed"
    level = await stock_of(api, "LAP-1", "MAD-1")
    assert (level["on_hand"], level["reserved"]) == (3, 0)
    locations = {x["location"]: x["quantity"] for x in (await api.ok("get", "/stock/LAP-1/locations"))["items"]}
    assert locations == {"MAD-1/A-01": 3, "MAD-1/PACKING": 2}
    line = (await api.ok("get", f"/orders/{order['number']}"))["lines"][0]
    assert (line["picked"], line["reserved"], line["state"]) == (2, 0, "2 picked, awaiting verification")


async def test_a_short_pick_writes_off_the_bin_and_reserves_from_another_bin(api):
    await given_world(api)
    await given_stock(api, "LAP-1", "MAD-1/A-01", 3)
    await given_stock(api, "LAP-1", "MAD-1/B-01", 5)
    order = await place(api, ("LAP-1", 3))
    listed = await pick_list(api)
    assert [(x["location"], x["quantity"]) for x in listed["lines"]] == [("MAD-1/A-01", 3)]
    response = await confirm(api, listed["id"], location="MAD-1/A-01", sku="LAP-1", quantity=1, short=True)
    assert response.status_code == 200, response.text
    assert response.json()["lines"][0]["short"] == 2
    moves = (await api.ok("get", "/stock/moves?sku=LAP-1"))["items"]
    assert [(m["from_location"], m["to_location"], m["quantity"], m["reason"]) for m in moves[-2:]] == [
        ("MAD-1/A-01", "MAD-1/PACKING", 1, "pick"), ("MAD-1/A-01", "MAD-1/ADJUSTMENT", 2, "short_pick")]
    view = await api.ok("get", f"/orders/{order['number']}")
    line = view["lines"][0]
    assert (line["picked"], line["reserved"], line["backordered"]) == (1, 2, 0)
    assert any(e["type"] == "order.short_picked" for e in view["timeline"])
    second = await pick_list(api)
    assert [(x["location"], x["quantity"]) for x in second["lines"]] == [("MAD-1/B-01", 2)]


async def test_a_short_pick_with_no_stock_left_anywhere_backorders_the_rest_at_once(api):
    await given_world(api)
    await given_stock(api, "LAP-1", "MAD-1/A-01", 3)
    order = await place(api, ("LAP-1", 3))
    listed = await pick_list(api)
    response = await confirm(api, listed["id"], location="MAD-1/A-01", sku="LAP-1", quantity=0, short=True)
    assert response.status_code == 200, response.text
    view = await api.ok("get", f"/orders/{order['number']}")
    assert view["status"] == "backordered"
    line = view["lines"][0]
    assert (line["picked"], line["reserved"], line["backordered"], line["promise_basis"]) == (0, 0, 3, "cannot_promise")
    level = await stock_of(api, "LAP-1", "MAD-1")
    assert (level["on_hand"], level["reserved"], level["backordered"]) == (0, 0, 3)


async def test_a_short_pick_also_takes_back_reservations_that_counted_on_the_missing_units(api):
    await given_world(api)
    await given_stock(api, "LAP-1", "MAD-1/A-01", 4)
    await given_stock(api, "LAP-1", "BER-1/B-01", 1)
    first = await place(api, ("LAP-1", 2))
    listed = await pick_list(api)
    second = await place(api, ("LAP-1", 2))  # reserved at MAD-1, not yet on a pick list
    response = await confirm(api, listed["id"], location="MAD-1/A-01", sku="LAP-1", quantity=1, short=True)
    assert response.status_code == 200, response.text
    first_line = (await api.ok("get", f"/orders/{first['number']}"))["lines"][0]
    second_line = (await api.ok("get", f"/orders/{second['number']}"))["lines"][0]
    assert (first_line["picked"], first_line["reserved"], first_line["backordered"]) == (1, 1, 0)
    assert first_line["allocations"] == [{"warehouse": "BER-1", "reserved": 1}]
    assert (second_line["reserved"], second_line["backordered"]) == (0, 2)


async def test_packing_needs_a_second_person_and_an_exact_match(api):
    await given_world(api)
    await given_stock(api, "LAP-1", "MAD-1/A-01", 5)
    await given_stock(api, "MON-1", "MAD-1/A-02", 5)
    order = await place(api, ("LAP-1", 2), ("MON-1", 1))
    listed = await pick_list(api)
    for line in listed["lines"]:
        await confirm(api, listed["id"], location=line["location"], sku=line["sku"], quantity=line["quantity"])
    number = order["number"]
    items = [{"sku": "LAP-1", "quantity": 2}, {"barcode": "1002", "quantity": 1}]
    same_person = await api.as_("warehouse").post(f"/orders/{number}/pack", {"items": items})
    assert same_person.status_code == 403
    for wrong in ([{"sku": "LAP-1", "quantity": 2}],
                  [{"sku": "LAP-1", "quantity": 3}, {"sku": "MON-1", "quantity": 1}],
                  items + [{"sku": "TAB-9", "quantity": 1}]):
        response = await api.as_("warehouse2").post(f"/orders/{number}/pack", {"items": wrong})
        assert (response.status_code, response.json()["code"]) == (409, "scan_mismatch"), wrong
    packed = await api.as_("warehouse2").ok("post", f"/orders/{number}/pack", {"items": items}, status=200)
    assert packed["status"] == "packed"
    again = await api.as_("warehouse2").post(f"/orders/{number}/pack", {"items": items})
    assert (again.status_code, again.json()["code"]) == (409, "invalid_transition")


async def test_a_pack_mismatch_is_refused_and_recorded_once_per_request(api):
    await given_world(api)
    await given_stock(api, "LAP-1", "MAD-1/A-01", 5)
    order = await place(api, ("LAP-1", 2))
    listed = await pick_list(api)
    await confirm(api, listed["id"], location="MAD-1/A-01", sku="LAP-1", quantity=2)
    number = order["number"]
    wrong = {"items": [{"sku": "LAP-1", "quantity": 1}]}
    for _ in range(2):  # the retry with the same Idempotency-Key replays the refusal, recording nothing
        response = await api.as_("warehouse2").post(f"/orders/{number}/pack", wrong,
                                                    headers={"Idempotency-Key": "pack-1"})
        assert (response.status_code, response.json()["code"]) == (409, "scan_mismatch")
        assert response.headers["content-type"].startswith("application/problem+json")
    view = await api.ok("get", f"/orders/{number}")
    (mismatch,) = [e for e in view["timeline"] if e["type"] == "order.pack_mismatch"]
    assert mismatch["data"] == {"problems": ["LAP-1: scanned 1, picked 2"]}
    assert mismatch["summary"] == "Packing blocked, the scan did not match the picks: LAP-1: scanned 1, picked 2"
    assert (view["status"], view["lines"][0]["packed"]) == ("picking", 0)


async def ready_to_ship(api, *lines):
    order = await place(api, *lines)
    listed = await pick_list(api)
    for line in listed["lines"]:
        await confirm(api, listed["id"], location=line["location"], sku=line["sku"], quantity=line["quantity"])
    await api.as_("warehouse2").ok("post", f"/orders/{order['number']}/pack",
                                   {"items": [{"sku": s, "quantity": q} for s, q in lines]}, status=200)
    return order["number"]


async def test_partial_shipments_then_delivery(api):
    await given_world(api)
    await given_stock(api, "LAP-1", "MAD-1/A-01", 5)
    await given_stock(api, "MON-1", "MAD-1/A-02", 5)
    number = await ready_to_ship(api, ("LAP-1", 2), ("MON-1", 1))
    early = await api.as_("integration").post(f"/orders/{number}/delivered")
    assert (early.status_code, early.json()["code"]) == (409, "invalid_transition")
    first = await api.as_("warehouse").ok("post", f"/orders/{number}/shipments",
                                          {"carrier": "UPS", "tracking_number": "1Z1", "lines": [{"sku": "LAP-1", "quantity": 1}]})
    assert first["status"] == "partially_shipped"
    too_much = await api.as_("warehouse").post(f"/orders/{number}/shipments",
                                               {"carrier": "UPS", "tracking_number": "1Z2", "lines": [{"sku": "LAP-1", "quantity": 2}]})
    assert (too_much.status_code, too_much.json()["code"]) == (409, "invalid_transition")
    rest = await api.as_("warehouse").ok("post", f"/orders/{number}/shipments", {"carrier": "DHL", "tracking_number": "J1"})
    assert rest["status"] == "shipped"
    assert [(s["carrier"], s["tracking_number"]) for s in rest["shipments"]] == [("UPS", "1Z1"), ("DHL", "J1")]
    locations = {x["location"]: x["quantity"] for x in (await api.ok("get", "/stock/LAP-1/locations"))["items"]}
    assert locations == {"MAD-1/A-01": 3}
    delivered = await api.as_("integration").ok("post", f"/orders/{number}/delivered", status=200)
    assert delivered["status"] == "delivered"
    assert delivered["status_text"].startswith("Delivered")


async def test_cancel_releases_reservations_at_once_and_fills_waiting_backorders(api):
    await given_world(api)
    await given_stock(api, "LAP-1", "MAD-1/A-01", 3)
    first = await place(api, ("LAP-1", 3))
    waiting = await place(api, ("LAP-1", 2))
    assert waiting["status"] == "backordered"
    cancelled = await api.as_("service").ok("post", f"/orders/{first['number']}/cancel", {"reason": "changed mind"},
                                            status=200)
    assert cancelled["status"] == "cancelled"
    filled = await api.ok("get", f"/orders/{waiting['number']}")
    assert filled["status"] == "confirmed"
    assert (filled["lines"][0]["reserved"], filled["lines"][0]["backordered"]) == (2, 0)
    assert filled["lines"][0]["promise_basis"] == "in_stock"
    level = await stock_of(api, "LAP-1", "MAD-1")
    assert (level["reserved"], level["backordered"]) == (2, 0)


async def test_cancel_part_of_a_line_and_picked_units_cannot_be_cancelled(api):
    await given_world(api)
    await given_stock(api, "LAP-1", "MAD-1/A-01", 5)
    order = await place(api, ("LAP-1", 4))
    number = order["number"]
    partial = await api.as_("service").ok("post", f"/orders/{number}/cancel",
                                          {"lines": [{"sku": "LAP-1", "quantity": 1}]}, status=200)
    assert (partial["lines"][0]["cancelled"], partial["lines"][0]["reserved"]) == (1, 3)
    listed = await pick_list(api)
    await confirm(api, listed["id"], location="MAD-1/A-01", sku="LAP-1", quantity=3)
    response = await api.as_("service").post(f"/orders/{number}/cancel", {"lines": [{"sku": "LAP-1", "quantity": 1}]})
    assert (response.status_code, response.json()["code"]) == (409, "invalid_transition")
    response = await api.as_("service").post(f"/orders/{number}/cancel", {})
    assert (response.status_code, response.json()["code"]) == (409, "invalid_transition")


async def test_cancelling_reserved_units_takes_them_off_open_pick_lists(api):
    await given_world(api)
    await given_stock(api, "LAP-1", "MAD-1/A-01", 5)
    order = await place(api, ("LAP-1", 3))
    listed = await pick_list(api)
    await api.as_("service").ok("post", f"/orders/{order['number']}/cancel", {}, status=200)
    assert (await api.ok("get", f"/pick-lists/{listed['id']}"))["lines"][0]["quantity"] == 0
    response = await confirm(api, listed["id"], location="MAD-1/A-01", sku="LAP-1", quantity=1)
    assert response.json()["code"] in ("scan_mismatch", "invalid_transition")


async def test_contacts_are_logged_counted_and_flagged_and_the_timeline_tells_the_story(api):
    await given_world(api)
    order = await place(api, ("LAP-1", 1))
    number = order["number"]
    for n in range(4):
        await api.as_("service").ok("post", f"/orders/{number}/contacts",
                                    {"channel": "chat", "direction": "inbound", "summary": f"where is it? ({n})"})
    view = await api.as_("service").ok("get", f"/orders/{number}")
    assert (view["touches"], view["needs_attention"]) == (4, True)
    contacts = await api.ok("get", f"/orders/{number}/contacts")
    assert [c["summary"] for c in contacts["items"]][0] == "where is it? (0)"
    timeline = await api.ok("get", f"/orders/{number}/timeline?limit=2")
    assert [e["type"] for e in timeline["items"]] == ["order.placed", "order.contact_logged"]
    assert timeline["items"][1]["channel"] == "chat"
    assert timeline["next_cursor"]
    forbidden = await api.as_("warehouse").post(f"/orders/{number}/contacts",
                                                {"channel": "chat", "direction": "inbound", "summary": "x"})
    assert forbidden.status_code == 403
