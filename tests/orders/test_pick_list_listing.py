"""Listing pick lists: open ones by default, by warehouse and status, with their lines, a page at a time."""

from tests.builders import given_product, given_stock, given_warehouse
from tests.orders.test_placing import order_body


async def given_lists(api):
    await given_warehouse(api, "MAD-1", bins=("A-01", "A-02"))
    await given_warehouse(api, "BER-1", priority=20, bins=("B-01",))
    await given_product(api, "LAP-1")
    await given_product(api, "MON-1")
    await given_stock(api, "LAP-1", "MAD-1/A-01", 2)
    await given_stock(api, "MON-1", "MAD-1/A-02", 5)
    await given_stock(api, "LAP-1", "BER-1/B-01", 5)
    first = await api.ok("post", "/orders", order_body(("LAP-1", 2), ("MON-1", 1)))
    mad = await api.as_("warehouse").ok("post", "/pick-lists", {"warehouse": "MAD-1"})
    await api.ok("post", "/orders", order_body(("LAP-1", 3)))
    ber = await api.as_("warehouse").ok("post", "/pick-lists", {"warehouse": "BER-1"})
    await api.ok("post", "/orders", order_body(("MON-1", 1)))
    done = await api.as_("warehouse").ok("post", "/pick-lists", {"warehouse": "MAD-1"})
    await api.as_("warehouse").ok("post", f"/pick-lists/{done['id']}/confirm",
                                  {"location": "MAD-1/A-02", "sku": "MON-1", "quantity": 1}, status=200)
    return first, mad, ber, done


async def test_open_pick_lists_are_listed_with_their_lines_in_walking_order(api):
    first, mad, ber, done = await given_lists(api)
    page = await api.as_("warehouse").ok("get", "/pick-lists")
    assert [p["id"] for p in page["items"]] == [mad["id"], ber["id"]]
    assert page["next_cursor"] is None
    listed = page["items"][0]
    assert listed == await api.as_("warehouse").ok("get", f"/pick-lists/{mad['id']}")
    assert [(line["location"], line["sku"], line["quantity"], line["picked"], line["order"])
            for line in listed["lines"]] == [("MAD-1/A-01", "LAP-1", 2, 0, first["number"]),
                                             ("MAD-1/A-02", "MON-1", 1, 0, first["number"])]


async def test_pick_lists_are_filtered_by_warehouse_and_status(api):
    _, mad, ber, done = await given_lists(api)
    assert [p["id"] for p in (await api.ok("get", "/pick-lists?warehouse=BER-1"))["items"]] == [ber["id"]]
    completed = (await api.ok("get", "/pick-lists?status=completed&warehouse=MAD-1"))["items"]
    assert [(p["id"], p["status"], p["lines"][0]["picked"]) for p in completed] == [(done["id"], "completed", 1)]
    assert (await api.ok("get", "/pick-lists?warehouse=NOPE"))["items"] == []


async def test_pick_lists_are_paginated(api):
    _, mad, ber, _ = await given_lists(api)
    first = await api.ok("get", "/pick-lists?limit=1")
    assert [p["id"] for p in first["items"]] == [mad["id"]]
    second = await api.ok("get", f"/pick-lists?limit=1&cursor={first['next_cursor']}")
    assert [p["id"] for p in second["items"]] == [ber["id"]] and second["next_cursor"] is None


async def test_listing_pick_lists_refuses_unknown_or_invalid_filters(api):
    await given_lists(api)
    for query in ("?wh=MAD-1", "?status=started", "?warehouse=mad 1"):
        response = await api.get(f"/pick-lists{query}")
        assert (response.status_code, response.json()["code"]) == (422, "validation_error"), query
