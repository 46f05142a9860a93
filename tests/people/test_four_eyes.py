"""A second person (DOMAIN.md section 8) is a different person, not a different key: packing after picking,
inspecting after receiving a return or purchase-order goods. A key of no person is its own identity."""

from tests.builders import given_product, given_stock, given_warehouse
from tests.orders.test_placing import order_body
from tests.returns.builders import given_shipped_order, given_shop, return_body
from tests.suppliers.test_dated_promises import given_sent_po, given_supplier


async def given_people(api):
    """Jon with two keys (a scanner and a laptop), Mei with one; all warehouse."""
    keys = {}
    for name, devices in (("Jon", ("jon scanner", "jon laptop")), ("Mei", ("mei scanner",))):
        person = await api.ok("post", "/people", {"name": name, "role": "warehouse"})
        for device in devices:
            created = await api.ok("post", "/api-keys", {"name": device, "role": "warehouse", "person_id": person["id"]})
            keys[device] = created["key"]
    api.keys = {**api.keys, **keys}
    return api


async def test_the_same_person_with_another_key_may_not_pack_what_they_picked_another_person_may(api):
    await given_people(api)
    await given_warehouse(api, "MAD-1", bins=("A-01",))
    await given_product(api, "LAP-1")
    await given_stock(api, "LAP-1", "MAD-1/A-01", 5)
    order = await api.as_("service").ok("post", "/orders", order_body(("LAP-1", 2)))
    listed = await api.as_("jon scanner").ok("post", "/pick-lists", {"warehouse": "MAD-1"})
    for line in listed["lines"]:
        await api.as_("jon scanner").ok("post", f"/pick-lists/{listed['id']}/confirm", {
            "location": line["location"], "sku": line["sku"], "quantity": line["quantity"]}, status=200)
    items = {"items": [{"sku": "LAP-1", "quantity": 2}]}
    refused = await api.as_("jon laptop").post(f"/orders/{order['number']}/pack", items)
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    assert "Jon picked this order" in refused.json()["detail"]
    await api.as_("mei scanner").ok("post", f"/orders/{order['number']}/pack", items, status=200)


async def test_the_same_person_with_another_key_may_not_inspect_the_return_they_received(api):
    await given_people(api)
    await given_shop(api, "LAP-1")
    order = await given_shipped_order(api, ("LAP-1", 2))
    ret = await api.as_("service").ok("post", "/returns", return_body(order["number"], ("LAP-1", 1, "defective")))
    await api.as_("jon scanner").ok("post", f"/returns/{ret['number']}/receive", {}, status=200)
    body = {"lines": [{"sku": "LAP-1", "restock": 1}]}
    refused = await api.as_("jon laptop").post(f"/returns/{ret['number']}/inspect", body)
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    await api.as_("mei scanner").ok("post", f"/returns/{ret['number']}/inspect", body, status=200)


async def test_the_same_person_with_another_key_may_not_inspect_the_goods_they_received(api):
    await given_people(api)
    await given_warehouse(api, "MAD-1", bins=("A-01",))
    await given_product(api, "X-1")
    await given_supplier(api)
    po = await given_sent_po(api, "X-1", 10, 10, inspection_required=True)
    receipt = await api.as_("jon scanner").ok("post", f"/purchase-orders/{po}/receipts",
                                              {"lines": [{"sku": "X-1", "quantity": 10}]})
    inspection = f"/inspections/{receipt['inspections'][0]['id']}"
    refused = await api.as_("jon laptop").post(inspection, {"accepted": 10, "rejected": 0})
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    await api.as_("mei scanner").ok("post", inspection, {"accepted": 10, "rejected": 0}, status=200)


async def test_a_key_of_no_person_is_its_own_identity_beside_people(api):
    """A person's key picked; a key that belongs to nobody is someone else and may pack."""
    await given_people(api)
    await given_warehouse(api, "MAD-1", bins=("A-01",))
    await given_product(api, "LAP-1")
    await given_stock(api, "LAP-1", "MAD-1/A-01", 5)
    order = await api.as_("service").ok("post", "/orders", order_body(("LAP-1", 1)))
    listed = await api.as_("jon scanner").ok("post", "/pick-lists", {"warehouse": "MAD-1"})
    line = listed["lines"][0]
    await api.as_("jon scanner").ok("post", f"/pick-lists/{listed['id']}/confirm", {
        "location": line["location"], "sku": line["sku"], "quantity": line["quantity"]}, status=200)
    await api.as_("warehouse").ok("post", f"/orders/{order['number']}/pack",
                                  {"items": [{"sku": "LAP-1", "quantity": 1}]}, status=200)
