from tests.builders import given_product, given_warehouse


async def test_creating_a_warehouse_creates_its_standard_locations(api):
    await given_warehouse(api, "MAD-1", bins=("A-01",))
    page = await api.ok("get", "/warehouses/MAD-1/locations?limit=500")
    types = {loc["code"]: loc["type"] for loc in page["items"]}
    assert types == {
        "A-01": "storage", "RECEIVING": "receiving", "QUARANTINE": "quarantine", "PACKING": "packing",
        "SCRAP": "scrap", "SUPPLIER": "supplier", "CUSTOMER": "customer", "ADJUSTMENT": "adjustment",
            "CONSUMPTION": "consumption",
    }
    assert (await api.ok("get", "/warehouses/MAD-1"))["handling_days"] == 1


async def test_a_new_product_has_empty_stock_at_every_warehouse(api):
    await given_warehouse(api, "MAD-1")
    await given_warehouse(api, "BER-1")
    await given_product(api, "LAP-1")
    page = await api.ok("get", "/stock?sku=LAP-1")
    assert [(s["warehouse"], s["on_hand"], s["available"]) for s in page["items"]] == [("BER-1", 0, 0), ("MAD-1", 0, 0)]


async def test_products_page_through_with_a_cursor(api):
    for n in range(7):
        await given_product(api, f"P-{n}")
    seen, cursor = [], None
    while True:
        page = await api.ok("get", "/products?limit=3" + (f"&cursor={cursor}" if cursor else ""))
        seen += [p["sku"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"P-{n}" for n in range(7)]


async def test_duplicate_sku_is_409_already_exists(api):
    await given_product(api, "LAP-1")
    response = await api.post("/products", {"sku": "LAP-1", "name": "again"})
    assert response.status_code == 409
    assert response.json()["code"] == "already_exists"
    assert response.headers["content-type"] == "application/problem+json"


async def test_patch_with_stale_etag_is_412_version_conflict(api):
    await given_product(api, "LAP-1")
    first = await api.get("/products/LAP-1")
    etag = first.headers["etag"]
    updated = await api.patch("/products/LAP-1", {"name": "Renamed"}, headers={"If-Match": etag})
    assert updated.status_code == 200
    assert updated.json()["version"] == 2
    stale = await api.patch("/products/LAP-1", {"name": "Again"}, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert stale.json()["code"] == "version_conflict"
    assert (await api.ok("get", "/products/LAP-1"))["name"] == "Renamed"


async def test_patch_cannot_set_fields_a_client_does_not_own(api):
    await given_product(api, "LAP-1")
    for field, value in (("version", 9), ("sku", "OTHER"), ("created_at", "2020-01-01T00:00:00Z")):
        response = await api.patch("/products/LAP-1", {field: value})
        assert response.status_code == 422, field
    assert (await api.ok("get", "/products/LAP-1"))["version"] == 1


async def test_unknown_product_is_404_not_found(api):
    response = await api.get("/products/NOPE")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


async def test_bins_can_be_added_but_not_virtual_locations(api):
    await given_warehouse(api, "MAD-1", bins=())
    assert (await api.post("/warehouses/MAD-1/locations", {"code": "Z-9"})).status_code == 201
    response = await api.post("/warehouses/MAD-1/locations", {"code": "OUT", "type": "customer"})
    assert response.status_code == 422
    duplicate = await api.post("/warehouses/MAD-1/locations", {"code": "Z-9"})
    assert duplicate.status_code == 409
