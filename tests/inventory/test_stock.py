import asyncio

from erp.db import Coalesced, create_engine
from erp.inventory import stock
from tests.builders import given_product, given_stock, given_warehouse, stock_of
from tests.conftest import test_settings as settings_for_tests


async def given_world(api):
    await given_warehouse(api, "MAD-1", bins=("A-01", "A-02"))
    await given_warehouse(api, "BER-1", bins=("B-01",))
    await given_product(api, "LAP-1", barcode="1234567890")


async def test_adjustment_by_delta_moves_stock_in_from_the_adjustment_location(api):
    await given_world(api)
    change = await given_stock(api, "LAP-1", "MAD-1/A-01", 10)
    (move,) = change["moves"]
    assert (move["from_location"], move["to_location"], move["quantity"], move["reason"]) == (
        "MAD-1/ADJUSTMENT", "MAD-1/A-01", 10, "initial_stock")
    assert change["stock"][0]["on_hand"] == 10
    assert (await stock_of(api, "LAP-1", "MAD-1"))["available"] == 10


async def test_counted_quantity_records_the_difference_as_one_move(api):
    await given_world(api)
    await given_stock(api, "LAP-1", "MAD-1/A-01", 10)
    change = await api.as_("warehouse").ok("post", "/stock/adjustments", {
        "sku": "LAP-1", "location": "MAD-1/A-01", "counted_quantity": 7, "reason": "cycle_count",
        "reference": "COUNT-1"})
    (move,) = change["moves"]
    assert (move["from_location"], move["to_location"], move["quantity"]) == ("MAD-1/A-01", "MAD-1/ADJUSTMENT", 3)
    assert change["locations"][0]["quantity"] == 7
    moves = await api.ok("get", "/stock/moves?reference=COUNT-1")
    assert [m["quantity"] for m in moves["items"]] == [3]


async def test_a_count_that_matches_records_no_move(api):
    await given_world(api)
    await given_stock(api, "LAP-1", "MAD-1/A-01", 4)
    change = await api.ok("post", "/stock/adjustments", {
        "sku": "LAP-1", "location": "MAD-1/A-01", "counted_quantity": 4, "reason": "cycle_count"})
    assert change["moves"] == []
    assert change["locations"][0]["quantity"] == 4


async def test_stock_cannot_go_negative(api):
    await given_world(api)
    await given_stock(api, "LAP-1", "MAD-1/A-01", 2)
    response = await api.post("/stock/adjustments", {
        "sku": "LAP-1", "location": "MAD-1/A-01", "quantity_delta": -3, "reason": "lost"})
    assert response.status_code == 409
    assert response.json()["code"] == "insufficient_stock"
    assert (await stock_of(api, "LAP-1", "MAD-1"))["on_hand"] == 2


async def test_transfer_between_bins_keeps_on_hand_and_moves_location_stock(api):
    await given_world(api)
    await given_stock(api, "LAP-1", "MAD-1/A-01", 10)
    change = await api.as_("warehouse").ok("post", "/stock/transfers", {
        "sku": "LAP-1", "from_location": "MAD-1/A-01", "to_location": "MAD-1/A-02", "quantity": 4})
    assert {loc["location"]: loc["quantity"] for loc in change["locations"]} == {"MAD-1/A-01": 6, "MAD-1/A-02": 4}
    assert change["stock"][0]["on_hand"] == 10
    locations = await api.ok("get", "/stock/LAP-1/locations")
    assert [(loc["location"], loc["quantity"]) for loc in locations["items"]] == [("MAD-1/A-01", 6), ("MAD-1/A-02", 4)]


async def test_transfer_between_warehouses_moves_on_hand(api):
    await given_world(api)
    await given_stock(api, "LAP-1", "MAD-1/A-01", 10)
    await api.ok("post", "/stock/transfers", {
        "sku": "LAP-1", "from_location": "MAD-1/A-01", "to_location": "BER-1/B-01", "quantity": 10})
    assert (await stock_of(api, "LAP-1", "MAD-1"))["on_hand"] == 0
    assert (await stock_of(api, "LAP-1", "BER-1"))["on_hand"] == 10


async def test_transfer_to_quarantine_counts_as_quarantined_not_on_hand(api):
    await given_world(api)
    await given_stock(api, "LAP-1", "MAD-1/A-01", 5)
    await api.ok("post", "/stock/transfers", {
        "sku": "LAP-1", "from_location": "MAD-1/A-01", "to_location": "MAD-1/QUARANTINE", "quantity": 2})
    level = await stock_of(api, "LAP-1", "MAD-1")
    assert (level["on_hand"], level["quarantined"]) == (3, 2)


async def test_transfer_of_more_than_the_bin_holds_is_refused_and_changes_nothing(api):
    await given_world(api)
    await given_stock(api, "LAP-1", "MAD-1/A-01", 3)
    response = await api.post("/stock/transfers", {
        "sku": "LAP-1", "from_location": "MAD-1/A-01", "to_location": "MAD-1/A-02", "quantity": 4})
    assert response.status_code == 409
    assert response.json()["code"] == "insufficient_stock"
    moves = await api.ok("get", "/stock/moves?sku=LAP-1")
    assert len(moves["items"]) == 1


async def test_virtual_locations_cannot_be_adjusted_or_transferred(api):
    await given_world(api)
    response = await api.post("/stock/adjustments", {
        "sku": "LAP-1", "location": "MAD-1/CUSTOMER", "quantity_delta": 5, "reason": "found"})
    assert response.status_code == 422
    response = await api.post("/stock/transfers", {
        "sku": "LAP-1", "from_location": "MAD-1/SUPPLIER", "to_location": "MAD-1/A-01", "quantity": 1})
    assert response.status_code == 422


async def test_adjustment_needs_exactly_one_of_delta_and_count(api):
    await given_world(api)
    for body in ({}, {"quantity_delta": 1, "counted_quantity": 1}, {"quantity_delta": 0}):
        response = await api.post("/stock/adjustments", {
            "sku": "LAP-1", "location": "MAD-1/A-01", "reason": "found", **body})
        assert response.status_code == 422, body
        assert response.json()["code"] == "validation_error"


async def test_unknown_location_or_product_is_404(api):
    await given_world(api)
    for body in ({"sku": "NOPE", "location": "MAD-1/A-01"}, {"sku": "LAP-1", "location": "MAD-1/NOPE"},
                 {"sku": "LAP-1", "location": "XXX-1/A-01"}):
        response = await api.post("/stock/adjustments", {**body, "quantity_delta": 1, "reason": "found"})
        assert response.status_code == 404, body


async def test_the_ledger_lists_moves_in_order_and_filters_by_sku(api):
    await given_world(api)
    await given_product(api, "MON-1")
    await given_stock(api, "LAP-1", "MAD-1/A-01", 1)
    await given_stock(api, "MON-1", "MAD-1/A-01", 2)
    await given_stock(api, "LAP-1", "MAD-1/A-02", 3)
    moves = await api.as_("purchasing").ok("get", "/stock/moves?sku=LAP-1")
    assert [m["quantity"] for m in moves["items"]] == [1, 3]
    assert all(m["actor"] == "admin tester" for m in moves["items"])


async def test_concurrent_adjustments_on_one_product_lose_no_update(api):
    await given_world(api)
    await given_stock(api, "LAP-1", "MAD-1/A-01", 1000)
    deltas = [5, -3] * 25

    async def adjust(delta):
        return await api.as_("warehouse").post("/stock/adjustments", {
            "sku": "LAP-1", "location": "MAD-1/A-01", "quantity_delta": delta, "reason": "correction"})

    responses = await asyncio.gather(*(adjust(d) for d in deltas))
    assert all(r.status_code == 201 for r in responses), {r.status_code for r in responses}
    assert (await stock_of(api, "LAP-1", "MAD-1"))["on_hand"] == 1000 + sum(deltas)


async def test_concurrent_opposite_transfers_neither_deadlock_nor_drift(api):
    await given_world(api)
    await given_stock(api, "LAP-1", "MAD-1/A-01", 100)
    await given_stock(api, "LAP-1", "MAD-1/A-02", 100)
    await given_stock(api, "LAP-1", "BER-1/B-01", 100)
    routes = [("MAD-1/A-01", "MAD-1/A-02"), ("MAD-1/A-02", "MAD-1/A-01"),
              ("MAD-1/A-01", "BER-1/B-01"), ("BER-1/B-01", "MAD-1/A-01")] * 10

    async def transfer(source, target):
        return await api.as_("warehouse").post("/stock/transfers", {
            "sku": "LAP-1", "from_location": source, "to_location": target, "quantity": 7})

    responses = await asyncio.gather(*(transfer(s, t) for s, t in routes))
    assert [r.status_code for r in responses] == [201] * len(routes)
    assert (await stock_of(api, "LAP-1", "MAD-1"))["on_hand"] == 200
    assert (await stock_of(api, "LAP-1", "BER-1"))["on_hand"] == 100


async def test_concurrent_withdrawals_never_take_more_than_the_bin_holds(api):
    await given_world(api)
    await given_stock(api, "LAP-1", "MAD-1/A-01", 10)

    async def take():
        return await api.as_("warehouse").post("/stock/adjustments", {
            "sku": "LAP-1", "location": "MAD-1/A-01", "quantity_delta": -1, "reason": "damaged"})

    responses = await asyncio.gather(*(take() for _ in range(30)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * 10 + [409] * 20
    assert (await stock_of(api, "LAP-1", "MAD-1"))["on_hand"] == 0


async def test_reserved_stock_can_be_re_slotted_between_bins_but_not_taken_out_of_the_warehouse(api):
    await given_world(api)
    await given_stock(api, "LAP-1", "MAD-1/A-01", 5)
    await api.as_("service").ok("post", "/orders", {"customer": {"name": "c", "email": "c@x.example"},
                                                   "channel": "web", "lines": [{"sku": "LAP-1", "quantity": 5}]})
    await api.as_("warehouse").ok("post", "/stock/transfers", {
        "sku": "LAP-1", "from_location": "MAD-1/A-01", "to_location": "MAD-1/A-02", "quantity": 5})
    level = await stock_of(api, "LAP-1", "MAD-1")
    assert (level["on_hand"], level["reserved"]) == (5, 5)
    away = await api.as_("warehouse").post("/stock/transfers", {
        "sku": "LAP-1", "from_location": "MAD-1/A-02", "to_location": "BER-1/B-01", "quantity": 1})
    assert (away.status_code, away.json()["code"]) == (409, "insufficient_stock")


async def test_one_products_levels_are_the_lists_rows_for_it_with_the_same_filters_and_cursors(api):
    # GET /stock?sku= is answered by a statement of its own (the service's most frequent stock question).
    await given_world(api)
    await given_product(api, "MON-1")
    await given_stock(api, "LAP-1", "MAD-1/A-01", 10)
    await given_stock(api, "LAP-1", "BER-1/B-01", 3)
    everything = (await api.ok("get", "/stock?limit=500"))["items"]
    laptops = [level for level in everything if level["sku"] == "LAP-1"]
    assert [(x["warehouse"], x["on_hand"]) for x in laptops] == [("BER-1", 3), ("MAD-1", 10)]
    assert (await api.ok("get", "/stock?sku=LAP-1")) == {"items": laptops, "next_cursor": None}
    assert (await api.ok("get", "/stock?sku=LAP-1&warehouse=MAD-1"))["items"] == laptops[1:]
    assert (await api.ok("get", "/stock?sku=NOPE-1")) == {"items": [], "next_cursor": None}
    first = await api.ok("get", "/stock?sku=LAP-1&limit=1")
    second = await api.ok("get", f"/stock?sku=LAP-1&limit=1&cursor={first['next_cursor']}")
    assert (first["items"], second) == (laptops[:1], {"items": laptops[1:], "next_cursor": None})
    # A cursor of the whole list goes on from the same place.
    whole = await api.ok("get", "/stock?limit=1")
    assert whole["items"][0]["sku"] == "LAP-1"
    assert (await api.ok("get", f"/stock?sku=LAP-1&cursor={whole['next_cursor']}"))["items"] == laptops[1:]


async def test_first_pages_asked_for_together_are_read_together_and_each_is_its_products_own(api, database_url):
    # GET /stock?sku= with no filter, cursor or page size (stock.FIRST_PAGE_READS): one statement for the
    # requests that come together, each product's rows cut at the page's size plus one.
    await given_world(api)
    await given_product(api, "MON-1")
    await given_stock(api, "LAP-1", "MAD-1/A-01", 10)
    await given_stock(api, "LAP-1", "BER-1/B-01", 3)
    await given_stock(api, "MON-1", "MAD-1/A-01", 4)
    alone = {sku: await api.ok("get", f"/stock?sku={sku}&limit=500") for sku in ("LAP-1", "MON-1", "NOPE-1")}
    skus = ["LAP-1", "MON-1", "NOPE-1"] * 10
    together = await asyncio.gather(*(api.ok("get", f"/stock?sku={sku}") for sku in skus))
    assert together == [alone[sku] for sku in skus]
    engine = create_engine(database_url, settings_for_tests()).execution_options(isolation_level="AUTOCOMMIT")
    try:
        rows = await Coalesced(stock.FIRST_PAGES, "skus", "sku", params={"rows": 1}).read(engine, ["LAP-1", "MON-1"])
    finally:
        await engine.dispose()
    # One row each: the first of its product's page.
    assert sorted((row["sku"], row["warehouse"]) for row in rows) == [
        (sku, alone[sku]["items"][0]["warehouse"]) for sku in ("LAP-1", "MON-1")]
