"""The whole life of an order, driven as a warehouse and a rep would, with the invariants checked after
every step (`erp check` at the end)."""

from tests.builders import given_product, given_stock, given_warehouse
from tests.conftest import assert_invariants
from tests.orders.test_placing import order_body
from tests.test_cli import erp


async def test_order_to_doorstep_with_a_short_pick(api, database_url):
    async def step(method, path, body=None, role="warehouse", status=None):
        result = await api.as_(role).ok(method, path, body, status=status)
        await assert_invariants(database_url)
        return result

    await given_warehouse(api, "MAD-1", priority=10, bins=("A-01", "A-02"))
    await given_warehouse(api, "BER-1", priority=20, handling_days=2, bins=("B-01",))
    await given_product(api, "LAP-1", barcode="1001")
    await given_product(api, "MON-1", barcode="1002")
    await given_stock(api, "LAP-1", "MAD-1/A-01", 2)
    await given_stock(api, "LAP-1", "MAD-1/A-02", 1)
    await given_stock(api, "LAP-1", "BER-1/B-01", 5)
    await given_stock(api, "MON-1", "MAD-1/A-02", 4)

    order = await step("post", "/orders", order_body(("LAP-1", 3), ("MON-1", 2)), role="service")
    number = order["number"]
    assert order["status"] == "confirmed"
    assert order["lines"][0]["allocations"] == [{"warehouse": "MAD-1", "reserved": 3}]

    listed = await step("post", "/pick-lists", {"warehouse": "MAD-1"})
    assert [(x["location"], x["sku"], x["quantity"]) for x in listed["lines"]] == [
        ("MAD-1/A-01", "LAP-1", 2), ("MAD-1/A-02", "LAP-1", 1), ("MAD-1/A-02", "MON-1", 2)]
    confirm = f"/pick-lists/{listed['id']}/confirm"
    await step("post", confirm, {"location": "MAD-1/A-01", "sku": "LAP-1", "quantity": 2}, status=200)
    # A-02 holds no LAP-1 after all: short pick, re-reserved in Berlin.
    await step("post", confirm, {"location": "MAD-1/A-02", "sku": "LAP-1", "quantity": 0, "short": True}, status=200)
    await step("post", confirm, {"location": "MAD-1/A-02", "barcode": "1002", "quantity": 2}, status=200)
    view = await step("get", f"/orders/{number}", role="service")
    assert view["lines"][0]["allocations"] == [{"warehouse": "BER-1", "reserved": 1}]
    assert view["status"] == "picking"

    berlin = await step("post", "/pick-lists", {"warehouse": "BER-1"})
    await step("post", f"/pick-lists/{berlin['id']}/confirm",
               {"location": "BER-1/B-01", "sku": "LAP-1", "quantity": 1}, status=200)

    packed = await step("post", f"/orders/{number}/pack",
                        {"items": [{"sku": "LAP-1", "quantity": 3}, {"sku": "MON-1", "quantity": 2}]},
                        role="warehouse2", status=200)
    assert packed["status"] == "packed"
    shipped = await step("post", f"/orders/{number}/shipments", {"carrier": "SEUR", "tracking_number": "S-1"})
    assert shipped["status"] == "shipped"
    delivered = await step("post", f"/orders/{number}/delivered", role="integration", status=200)
    assert delivered["status"] == "delivered"
    assert [e["type"] for e in delivered["timeline"]].count("order.picked") == 3
    assert "order.short_picked" in [e["type"] for e in delivered["timeline"]]
    checked = await erp(database_url, "check")
    assert checked.returncode == 0, checked.stdout
