"""The warehouse's screens (API.md "Pages", DOMAIN.md sections 3-5): open pick lists, picking by scan,
pack verification by a second person, receiving purchase orders and returns; every form done once."""

import pytest

from tests.builders import given_product, given_stock, given_warehouse
from tests.orders.test_placing import order_body
from tests.pages.test_pages import PASSWORD, _browser, _field, _sql, sign_in
from tests.returns.builders import given_shipped_order, given_shop, return_body
from tests.suppliers.test_dated_promises import given_sent_po, given_supplier

BARCODE = "8400000000017"


@pytest.fixture
async def staff(api):
    made = {}
    for name, role in (("Jon", "warehouse"), ("Kim", "warehouse"), ("Lucia", "service")):
        made[name] = await api.ok("post", "/people", {"name": name, "role": role, "password": PASSWORD})
    return made


@pytest.fixture
async def jon(app, staff):
    async with _browser(app) as browser:
        await sign_in(browser, "Jon")
        yield browser


@pytest.fixture
async def kim(app, staff):
    async with _browser(app) as browser:
        await sign_in(browser, "Kim")
        yield browser


async def given_reserved_order(api, quantity=2):
    await given_warehouse(api, "MAD-1", bins=("A-01", "A-02"))
    await given_product(api, "LAP-1", barcode=BARCODE)
    await given_product(api, "MON-1", barcode="8400000000024")
    await given_stock(api, "LAP-1", "MAD-1/A-01", 5)
    return await api.as_("service").ok("post", "/orders", order_body(("LAP-1", quantity)))


async def build_pick_list(browser):
    page = await browser.get("/warehouse")
    built = await browser.post("/warehouse/pick-lists", data={
        "csrf": _field(page.text, "csrf"), "form_token": _field(page.text, "form_token"), "warehouse": "MAD-1"})
    assert built.status_code == 303, built.text
    return built


async def scan(browser, pick_list, value, at="", short=False):
    page = await browser.get(f"/warehouse/pick-lists/{pick_list}", params={"at": at} if at else None)
    data = {"csrf": _field(page.text, "csrf"), "form_token": _field(page.text, "form_token"), "at": at, "scan": value}
    if short:
        data["short"] = "1"
    return await browser.post(f"/warehouse/pick-lists/{pick_list}/scan", data=data)


async def test_a_picker_builds_a_pick_list_once_however_often_the_form_is_sent(api, jon, database_url):
    await given_reserved_order(api)
    page = await jon.get("/warehouse")
    assert page.status_code == 200 and "No open pick list at MAD-1" in page.text
    data = {"csrf": _field(page.text, "csrf"), "form_token": _field(page.text, "form_token"), "warehouse": "MAD-1"}
    first = await jon.post("/warehouse/pick-lists", data=data)
    again = await jon.post("/warehouse/pick-lists", data=data)  # a double click
    (pick_list,) = [row[0] for row in await _sql(database_url, "SELECT id FROM pick_list")]
    assert first.headers["location"] == f"/warehouse/pick-lists/{pick_list}"
    assert again.headers["location"] == "/warehouse?warehouse=MAD-1"
    listed = await jon.get("/warehouse?warehouse=MAD-1")
    assert f'href="/warehouse/pick-lists/{pick_list}"' in listed.text and "0 / 2" in listed.text
    nothing = await jon.post("/warehouse/pick-lists", data={**data, "form_token": _field(listed.text, "form_token")})
    assert nothing.status_code == 409 and "No reserved lines waiting to be picked at MAD-1." in nothing.text


async def test_picking_by_scan_a_bin_then_items_and_a_wrong_scan_changes_nothing(api, jon):
    order = await given_reserved_order(api)
    pick_list = (await build_pick_list(jon)).headers["location"].rsplit("/", 1)[1]
    page = await jon.get(f"/warehouse/pick-lists/{pick_list}")
    assert "MAD-1/A-01" in page.text and "Scan the bin label" in page.text and "autofocus" in page.text
    chosen = await scan(jon, pick_list, "a-01")  # the bin's own label, within the list's warehouse
    assert chosen.headers["location"] == f"/warehouse/pick-lists/{pick_list}?at=MAD-1%2FA-01"
    for wrong, said in (("MON-1", "Wrong product: MON-1 scanned at MAD-1/A-01, which is for LAP-1."),
                        ("NOPE-9", "Scanned sku NOPE-9 is no product."),
                        ("3*LAP-1", f"Too many: pick list {pick_list} asks for 2 x LAP-1 at MAD-1/A-01.")):
        refused = await scan(jon, pick_list, wrong, at="MAD-1/A-01")
        assert refused.status_code == 409 and 'class="scan-error"' in refused.text and said in refused.text
    wrong_bin = await scan(jon, pick_list, "MAD-1/A-02")
    assert wrong_bin.status_code == 409 and f"Pick list {pick_list} has nothing to pick at MAD-1/A-02." in wrong_bin.text
    assert (await api.ok("get", f"/pick-lists/{pick_list}"))["lines"][0]["picked"] == 0

    page = await jon.get(f"/warehouse/pick-lists/{pick_list}", params={"at": "MAD-1/A-01"})
    data = {"csrf": _field(page.text, "csrf"), "form_token": _field(page.text, "form_token"), "at": "MAD-1/A-01",
            "scan": BARCODE}
    for _ in range(2):  # the scanner's Enter sent twice
        picked = await jon.post(f"/warehouse/pick-lists/{pick_list}/scan", data=data)
        assert picked.status_code == 303
    shown = await jon.get(picked.headers["location"])
    assert "Picked 1 × LAP-1 from MAD-1/A-01." in shown.text
    assert (await api.ok("get", f"/pick-lists/{pick_list}"))["lines"][0]["picked"] == 1
    assert (await scan(jon, pick_list, "lap-1", at="MAD-1/A-01")).status_code == 303  # a sku typed by hand
    done = await jon.get(f"/warehouse/pick-lists/{pick_list}")
    assert "Every pick of this list is done." in done.text
    assert (await api.ok("get", f"/orders/{order['number']}"))["lines"][0]["picked"] == 2


async def test_a_short_pick_is_one_key_away_and_goes_through_the_domains_short_pick(api, jon):
    order = await given_reserved_order(api)
    pick_list = (await build_pick_list(jon)).headers["location"].rsplit("/", 1)[1]
    needs_bin = await scan(jon, pick_list, "!1")
    assert needs_bin.status_code == 422 and "Scan the bin first" in needs_bin.text
    short = await scan(jon, pick_list, "1", at="MAD-1/A-01", short=True)  # the Short button (Alt+S)
    assert short.status_code == 303
    assert "Short pick recorded: 1 × LAP-1 found at MAD-1/A-01." in (await jon.get(short.headers["location"])).text
    (line,) = (await api.ok("get", f"/pick-lists/{pick_list}"))["lines"]
    assert (line["picked"], line["short"]) == (1, 1)
    events = [e["type"] for e in (await api.ok("get", f"/orders/{order['number']}"))["timeline"]]
    assert "order.short_picked" in events


async def picked_by_jon(api, jon):
    order = await given_reserved_order(api)
    pick_list = (await build_pick_list(jon)).headers["location"].rsplit("/", 1)[1]
    assert (await scan(jon, pick_list, "2*" + BARCODE, at="MAD-1/A-01")).status_code == 303
    return order["number"]


async def test_a_second_person_verifies_and_packs_and_the_picker_is_refused(api, jon, kim):
    number = await picked_by_jon(api, jon)
    box = await kim.get(f"/warehouse/orders/{number}/pack")
    assert box.status_code == 200 and "Picked by Jon" in box.text
    unknown = await kim.get(f"/warehouse/orders/{number}/pack", params={"scan": "MON-1"})
    assert unknown.status_code == 409 and "“MON-1” is not in this order&#39;s picks; not counted." in unknown.text
    counted = await kim.get(f"/warehouse/orders/{number}/pack", params={"scan": BARCODE})
    assert counted.headers["location"] == f"/warehouse/orders/{number}/pack?count.LAP-1=1"
    one = await kim.get(counted.headers["location"])
    data = {"csrf": _field(one.text, "csrf"), "form_token": _field(one.text, "form_token"), "count.LAP-1": "1"}
    blocked = await kim.post(f"/warehouse/orders/{number}/pack", data=data)
    assert blocked.status_code == 409 and f"Packing blocked for {number}: LAP-1: scanned 1, picked 2." in blocked.text

    page = await jon.get(f"/warehouse/orders/{number}/pack?count.LAP-1=2")
    refused = await jon.post(f"/warehouse/orders/{number}/pack", data={
        "csrf": _field(page.text, "csrf"), "form_token": _field(page.text, "form_token"), "count.LAP-1": "2"})
    assert refused.status_code == 403 and "Jon picked this order; a second person must verify and pack it." in refused.text

    two = await kim.get(f"/warehouse/orders/{number}/pack?count.LAP-1=2")
    data = {"csrf": _field(two.text, "csrf"), "form_token": _field(two.text, "form_token"), "count.LAP-1": "2"}
    for _ in range(2):
        packed = await kim.post(f"/warehouse/orders/{number}/pack", data=data)
        assert packed.headers["location"] == f"/warehouse/orders/{number}/pack?packed=1"
    assert f"Packed {number}" in (await kim.get(packed.headers["location"])).text
    view = await api.ok("get", f"/orders/{number}")
    assert view["status"] == "packed" and view["lines"][0]["packed"] == 2
    assert [e["type"] for e in view["timeline"]].count("order.packed") == 1


async def test_a_purchase_order_is_received_once_and_over_receipt_shows_the_domains_message(api, jon):
    await given_warehouse(api, "MAD-1", bins=("A-01",))
    await given_product(api, "X-1")
    await given_supplier(api)
    number = await given_sent_po(api, "X-1", 10, 7)
    page = await jon.get("/warehouse/receiving/purchase-orders", params={"number": number.lower()})
    assert page.status_code == 200 and 'name="qty.X-1" ' in page.text and 'value="10"' in page.text
    data = {"csrf": _field(page.text, "csrf"), "form_token": _field(page.text, "form_token"), "qty.X-1": "4"}
    for _ in range(2):
        received = await jon.post(f"/warehouse/receiving/purchase-orders/{number}", data=data)
        assert received.status_code == 303
    after = await jon.get(received.headers["location"])
    assert f"Received on {number}." in after.text
    assert (await api.ok("get", f"/purchase-orders/{number}"))["lines"][0]["received"] == 4
    over = await jon.post(f"/warehouse/receiving/purchase-orders/{number}", data={
        **data, "form_token": _field(after.text, "form_token"), "qty.X-1": "40"})
    assert over.status_code == 409 and "exceeds the" in over.text
    missing = await jon.get("/warehouse/receiving/purchase-orders", params={"number": "PO-999999"})
    assert missing.status_code == 404 and "No purchase order" in missing.text


async def test_a_return_is_received_by_a_signed_in_person_who_then_may_not_inspect_it(api, staff, jon, database_url):
    await given_shop(api, "LAP-1")
    order = await given_shipped_order(api, ("LAP-1", 2))
    ret = await api.as_("service").ok("post", "/returns", return_body(order["number"], ("LAP-1", 2, "defective")))
    page = await jon.get("/warehouse/receiving/returns", params={"number": ret["number"]})
    assert page.status_code == 200 and 'name="qty.LAP-1"' in page.text
    data = {"csrf": _field(page.text, "csrf"), "form_token": _field(page.text, "form_token"), "qty.LAP-1": "1"}
    for _ in range(2):
        assert (await jon.post(f"/warehouse/receiving/returns/{ret['number']}", data=data)).status_code == 303
    view = await api.ok("get", f"/returns/{ret['number']}")
    assert view["status"] == "received" and view["lines"][0]["received"] == 1
    receipts = await _sql(database_url, "SELECT r.received_by, r.received_by_key_id, p.name FROM return_receipt r"
                                        " JOIN person p ON p.id = r.received_by_person_id")
    assert receipts == [("Jon", None, "Jon")]
    # Four-eyes compares people: Jon with a key of his own may not inspect what he received on the page.
    key = await api.ok("post", "/api-keys", {"name": "jon scanner", "role": "warehouse", "person_id": staff["Jon"]["id"]})
    api.keys = {**api.keys, "jon scanner": key["key"]}
    inspection = {"lines": [{"sku": "LAP-1", "restock": 1}]}
    refused = await api.as_("jon scanner").post(f"/returns/{ret['number']}/inspect", inspection)
    assert refused.status_code == 403 and "Jon received these goods" in refused.json()["detail"]
    await api.as_("warehouse2").ok("post", f"/returns/{ret['number']}/inspect", inspection, status=200)


@pytest.mark.parametrize("path", ["/warehouse", "/warehouse/receiving/returns", "/warehouse/receiving/purchase-orders",
                                  "/warehouse/pick-lists/1", "/warehouse/orders/SO-000001/pack"])
async def test_the_warehouse_screens_are_for_the_warehouse_and_admins(app, api, staff, path):
    async with _browser(app) as anonymous:
        assert (await anonymous.get(path)).headers["location"] == "/"
    async with _browser(app) as lucia:
        await sign_in(lucia, "Lucia")
        refused = await lucia.get(path)
        assert refused.status_code == 403 and "Not for your role" in refused.text
