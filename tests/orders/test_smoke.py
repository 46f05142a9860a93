from tests.builders import given_product, given_stock, given_warehouse


async def test_smoke(api):
    await given_warehouse(api, "MAD-1", bins=("A-01", "A-02"))
    await given_product(api, "LAP-1", barcode="111")
    await given_stock(api, "LAP-1", "MAD-1/A-01", 3)
    order = await api.ok("post", "/orders", {"customer": {"name": "Ana", "email": "ana@example.com"},
                                              "channel": "phone", "lines": [{"sku": "LAP-1", "quantity": 5}]})
    print(order)
    pick = await api.as_("warehouse").ok("post", "/pick-lists", {"warehouse": "MAD-1"})
    print(pick)
    picked = await api.as_("warehouse").ok("post", f"/pick-lists/{pick['id']}/confirm",
                                           {"location": "MAD-1/A-01", "sku": "LAP-1", "quantity": 3}, status=200)
    print(picked)
    packed = await api.as_("warehouse2").ok("post", f"/orders/{order['number']}/pack",
                                            {"items": [{"barcode": "111", "quantity": 3}]}, status=200)
    print(packed["status"], packed["status_text"])
    shipped = await api.as_("warehouse").ok("post", f"/orders/{order['number']}/shipments",
                                            {"carrier": "UPS", "tracking_number": "1Z"})
    print(shipped["status"], shipped["status_text"])
    for e in shipped["timeline"]:
        print(e["summary"])
