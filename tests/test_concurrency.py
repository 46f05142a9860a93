"""ETags and If-Match on everything editable: a stale version is 412 and changes nothing."""

import pytest

from tests.builders import given_product, given_stock, given_warehouse
from tests.orders.test_placing import order_body
from tests.returns.builders import given_shipped_order, given_shop, return_body


async def given_order(api):
    await given_warehouse(api, "MAD-1", bins=("A-01",))
    await given_product(api, "LAP-1")
    await given_stock(api, "LAP-1", "MAD-1/A-01", 10)
    return await api.as_("service").ok("post", "/orders", order_body(("LAP-1", 3)))


async def test_a_stale_if_match_on_cancel_is_412_and_changes_nothing(api):
    order = await given_order(api)
    first = await api.get(f"/orders/{order['number']}")
    etag = first.headers["etag"]
    assert etag == f'"{first.json()["version"]}"'
    # Someone else changes the order: its ETag moves on.
    await api.as_("service").ok("post", f"/orders/{order['number']}/contacts",
                                {"channel": "phone", "direction": "inbound", "summary": "where is it?"})
    stale = await api.as_("service").post(f"/orders/{order['number']}/cancel", {}, headers={"If-Match": etag})
    assert (stale.status_code, stale.json()["code"]) == (412, "version_conflict")
    after = await api.get(f"/orders/{order['number']}")
    assert (after.json()["status"], after.json()["lines"][0]["reserved"]) == ("confirmed", 3)
    fresh = await api.as_("service").post(f"/orders/{order['number']}/cancel", {},
                                          headers={"If-Match": after.headers["etag"]})
    assert fresh.status_code == 200 and fresh.json()["status"] == "cancelled"
    assert fresh.headers["etag"] != after.headers["etag"]


@pytest.mark.parametrize(("header", "status"), [("*", 200), ('"998", "999999"', 412), ('W/"{v}"', 412),
                                                  ("3", 422), ('"unterminated', 422), ("", 422)])
async def test_if_match_accepts_star_lists_and_strong_tags_only(api, header, status):
    order = await given_order(api)
    version = (await api.get(f"/orders/{order['number']}")).json()["version"]
    response = await api.as_("service").post(f"/orders/{order['number']}/cancel", {},
                                             headers={"If-Match": header.replace("{v}", str(version))})
    assert response.status_code == status, response.text


async def test_a_stale_if_match_on_a_purchase_order_line_date_is_412_and_changes_nothing(api):
    await given_warehouse(api, "MAD-1", bins=("A-01",))
    await given_product(api, "LAP-1")
    await api.as_("purchasing").ok("post", "/suppliers", {"code": "ACME", "name": "Acme"})
    po = await api.as_("purchasing").post("/purchase-orders", {
        "supplier": "ACME", "warehouse": "MAD-1",
        "lines": [{"sku": "LAP-1", "quantity": 5, "unit_cost": "3", "expected_date": "2027-01-10"}]})
    etag = po.headers["etag"]
    number = po.json()["number"]
    sent = await api.as_("purchasing").post(f"/purchase-orders/{number}/send", headers={"If-Match": etag})
    assert sent.status_code == 200 and sent.headers["etag"] != etag
    stale = await api.as_("purchasing").patch(f"/purchase-orders/{number}/lines/1", {"expected_date": "2027-02-01"},
                                              headers={"If-Match": etag})
    assert (stale.status_code, stale.json()["code"]) == (412, "version_conflict")
    assert (await api.ok("get", f"/purchase-orders/{number}"))["lines"][0]["expected_date"] == "2027-01-10"
    moved = await api.as_("purchasing").patch(f"/purchase-orders/{number}/lines/1", {"expected_date": "2027-02-01"},
                                              headers={"If-Match": sent.headers["etag"]})
    assert moved.status_code == 200


async def test_a_stale_if_match_on_a_return_transition_is_412_and_changes_nothing(api):
    await given_shop(api, "LAP-1")
    order = await given_shipped_order(api, ("LAP-1", 1))
    created = await api.as_("service").post("/returns", return_body(order["number"], ("LAP-1", 1, "defective")))
    etag = created.headers["etag"]
    number = created.json()["number"]
    await api.as_("service").ok("post", f"/returns/{number}/cancel", {"reason": "changed mind"}, status=200)
    stale = await api.as_("warehouse").post(f"/returns/{number}/receive", {}, headers={"If-Match": etag})
    assert (stale.status_code, stale.json()["code"]) == (412, "version_conflict")
    assert (await api.ok("get", f"/returns/{number}"))["status"] == "cancelled"


async def test_every_editable_resource_says_its_version(api):
    await given_shop(api, "LAP-1")
    order = await given_shipped_order(api, ("LAP-1", 1))
    ret = await api.as_("service").ok("post", "/returns", return_body(order["number"], ("LAP-1", 1, "defective")))
    repair = await api.as_("service").ok("post", "/repairs", {"sku": "LAP-1", "problem": "p",
                                                              "customer": {"name": "c", "email": "c@x.example"}})
    await api.as_("purchasing").ok("post", "/suppliers", {"code": "ACME", "name": "Acme"})
    hook = await api.ok("post", "/webhooks", {"url": "https://example.com/h", "event_types": ["*"]})
    for path in (f"/orders/{order['number']}", f"/returns/{ret['number']}", f"/repairs/{repair['number']}",
                 "/suppliers/ACME", f"/webhooks/{hook['id']}", "/products/LAP-1"):
        response = await api.get(path)
        assert response.headers["etag"] == f'"{response.json()["version"]}"', path
    terms = await api.as_("purchasing").put("/suppliers/ACME/products/LAP-1", {
        "supplier_sku": "A", "unit_cost": "1", "currency": "EUR"})
    stale = await api.as_("purchasing").put("/suppliers/ACME/products/LAP-1", {
        "supplier_sku": "B", "unit_cost": "2", "currency": "EUR"}, headers={"If-Match": '"999"'})
    assert (terms.headers["etag"], stale.status_code) == ('"1"', 412)
    gone = await api.delete(f"/webhooks/{hook['id']}", headers={"If-Match": '"999"'})
    assert gone.status_code == 412
