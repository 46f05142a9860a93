"""The bench's raw-SQL floor sends the app's own statements: an order it places is an order the app serves."""

import asyncpg
import pytest

from bench import floor
from tests.builders import given_product, given_stock, given_warehouse, stock_of
from tests.conftest import assert_invariants


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


@pytest.mark.parametrize("grouped", [False, True])
async def test_the_floor_places_an_order_the_app_serves_and_loses_a_shortfall_whole(api, database_url, grouped):
    await given_warehouse(api, "BM-1")
    await given_product(api, "FL-1")
    await given_product(api, "FL-2")
    await given_stock(api, "FL-1", "BM-1/A-01", 3)
    await given_stock(api, "FL-2", "BM-1/A-01", 1)
    connection = await asyncpg.connect(_dsn(database_url))
    group = floor.Grouped(_dsn(database_url), 2) if grouped else None
    try:
        number, units = await floor.place_order(connection, [("FL-1", 2), ("FL-2", 1)], "Floor", "floor@example.com",
                                                grouped=group)
        with pytest.raises(floor.Short):
            await floor.place_order(connection, [("FL-1", 1), ("FL-2", 1)], "Floor", "floor@example.com",
                                    grouped=group)
        orders = await connection.fetchval("SELECT count(*) FROM sales_order")
    finally:
        await connection.close()
        if group is not None:
            await group.close()
    assert units == 3
    assert orders == 1
    order = (await api.get(f"/orders/{number}")).json()
    assert [(line["sku"], line["reserved"]) for line in order["lines"]] == [("FL-1", 2), ("FL-2", 1)]
    assert (await stock_of(api, "FL-1", "BM-1"))["reserved"] == 2
    await assert_invariants(database_url)
