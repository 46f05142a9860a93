"""The bench's data: warehouses through the inventory catalogue, bulk products straight in SQL.

Warehouses and their bins go through `erp.inventory.catalogue`, so they get the standard locations every
warehouse has. Products are bulk-loaded with INSERT ... SELECT generate_series, each with a stock level
per warehouse as `create_product` would give it, and their stock arrives as ledger moves from the
warehouse's adjustment location into a bin, so the ledger trigger keeps every balance and `erp check`
holds from the start.
"""

import asyncio
import random
import time
from typing import Any

import asyncpg

from bench import floor, workloads
from bench.workloads import Catalogue

WAREHOUSES = [
    ("BM-1", "Bench Madrid", 10, 1),
    ("BM-2", "Bench Berlin", 20, 2),
    ("BM-3", "Bench Newark", 30, 1),
]
BIN = "A-01-1"
BULK_UNITS = 100_000  # per product and warehouse: no W2 run can exhaust it
HOT_UNITS = 10_000_000  # W1's one product, all of it at the first warehouse


async def create_key_and_warehouses(database_url: str) -> str:
    """An admin key and the warehouses with one bin each, through the service's own functions."""
    from erp import auth
    from erp.config import Settings
    from erp.db import create_engine, sessionmaker
    from erp.inventory import catalogue
    from erp.inventory.schemas import LocationCreate, WarehouseCreate

    engine = create_engine(database_url, Settings(log_level="WARNING", access_log=False))
    try:
        async with sessionmaker(engine)() as session, session.begin():
            _, key = await auth.create_key(session, name="bench", role="admin")
            for code, name, priority, handling_days in WAREHOUSES:
                await catalogue.create_warehouse(
                    session,
                    WarehouseCreate(code=code, name=name, priority=priority, handling_days=handling_days),
                )
                await catalogue.create_location(session, code, LocationCreate(code=BIN, sequence=10))
    finally:
        await engine.dispose()
    return key


# Stock arrives as moves from each warehouse's adjustment location into its bin.
STOCK_MOVES = """
INSERT INTO stock_move (product_id, from_location_id, to_location_id, quantity, reason, reference, actor)
SELECT p.id, adj.id, bin.id, {units}, 'initial_stock', 'BENCH-LOAD', 'bench'
  FROM product p
  JOIN location adj ON adj.type = 'adjustment'
  JOIN location bin ON bin.warehouse_id = adj.warehouse_id AND bin.code = '{bin}'
  JOIN warehouse w ON w.id = adj.warehouse_id
 WHERE {where}
 ORDER BY p.id, w.id
"""


async def add_product(connection: asyncpg.Connection, sku: str, units: int, warehouse: str = "BM-1") -> None:
    """One product with `units` in stock at one warehouse (none at the others)."""
    async with connection.transaction():
        await connection.execute(
            "INSERT INTO product (sku, name, reorder_point, reorder_max, active, version)"
            " VALUES ($1, $1, 0, 0, true, 1)",
            sku,
        )
        await connection.execute(
            "INSERT INTO stock_level (product_id, warehouse_id) SELECT p.id, w.id FROM product p, warehouse w"
            " WHERE p.sku = $1",
            sku,
        )
        await connection.execute(
            STOCK_MOVES.format(units=units, bin=BIN, where="p.sku = $1 AND w.code = $2"), sku, warehouse
        )


async def bulk_load(dsn: str, products: int, hot_sku: str) -> dict[str, float]:
    timings = {}
    connection = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        async with connection.transaction():
            await connection.execute(
                "INSERT INTO product (sku, name, reorder_point, reorder_max, active, version)"
                " SELECT 'BN-' || lpad(g::text, 6, '0'), 'Bench product ' || g, 0, 0, true, 1"
                "   FROM generate_series(1, $1) g",
                products,
            )
            await connection.execute(
                "INSERT INTO stock_level (product_id, warehouse_id)"
                " SELECT p.id, w.id FROM product p CROSS JOIN warehouse w ORDER BY p.id, w.id"
            )
        timings["products_s"] = time.perf_counter() - started
        # The ledger trigger costs tens of microseconds a move: two connections, one per core, halve it.
        started = time.perf_counter()
        await asyncio.gather(*(_stock_moves(dsn, part, 2) for part in range(2)))
        timings["stock_moves_s"] = time.perf_counter() - started
        await add_product(connection, hot_sku, HOT_UNITS)
        started = time.perf_counter()
        await connection.execute("VACUUM ANALYZE")
        timings["vacuum_analyze_s"] = time.perf_counter() - started
    finally:
        await connection.close()
    return {k: round(v, 1) for k, v in timings.items()}


async def _stock_moves(dsn: str, part: int, parts: int) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(
            STOCK_MOVES.format(
                units=BULK_UNITS, bin=BIN, where=f"p.sku LIKE 'BN-%' AND p.id % {parts} = {part}"
            )
        )
    finally:
        await connection.close()


async def seed_orders(dsn: str, catalogue: Catalogue, wanted: int) -> list[str]:
    """Order numbers for W3's status reads: the ones there are, topped up through the floor."""
    connection = await asyncpg.connect(dsn)
    try:
        have = await connection.fetchval("SELECT count(*) FROM sales_order")
        rng = random.Random(7)
        for _ in range(max(0, wanted - have)):
            name, email = workloads.customer(rng)
            await floor.place_order(connection, workloads.spread_lines(catalogue, rng), name, email)
        rows = await connection.fetch("SELECT number FROM sales_order ORDER BY random() LIMIT $1", wanted)
    finally:
        await connection.close()
    return [row["number"] for row in rows]


async def create_sellout(dsn: str, sku: str, units: int) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await add_product(connection, sku, units)
    finally:
        await connection.close()


async def sellout_state(dsn: str, sku: str) -> dict[str, Any]:
    """What the database says after the sell-out: the ledger's view, not the clients'."""
    connection = await asyncpg.connect(dsn)
    try:
        row = await connection.fetchrow(
            """
            SELECT sum(s.on_hand) AS on_hand, sum(s.reserved) AS reserved,
                   (SELECT count(*) FROM reservation r WHERE r.product_id = p.id) AS reservations,
                   (SELECT coalesce(sum(r.quantity), 0) FROM reservation r WHERE r.product_id = p.id) AS reserved_units,
                   (SELECT count(DISTINCT l.order_id) FROM order_line l WHERE l.product_id = p.id) AS orders,
                   (SELECT coalesce(sum(l.backordered), 0) FROM order_line l WHERE l.product_id = p.id) AS backordered
              FROM product p JOIN stock_level s ON s.product_id = p.id
             WHERE p.sku = $1 GROUP BY p.id
            """,
            sku,
        )
    finally:
        await connection.close()
    return {k: int(v) for k, v in dict(row).items()} if row else {}


async def check_invariants(database_url: str) -> dict[str, Any]:
    """`erp check`, in process: every ledger invariant, in one snapshot."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from erp.db import async_url
    from erp.invariants import CHECKS, find_violations

    engine = create_async_engine(async_url(database_url))
    started = time.perf_counter()
    try:
        async with engine.connect() as connection:
            violations = await find_violations(connection)
    finally:
        await engine.dispose()
    return {
        "held": len(CHECKS) - len(violations),
        "of": len(CHECKS),
        "violations": [{"rule": v.rule, "rows": v.rows} for v in violations],
        "seconds": round(time.perf_counter() - started, 1),
    }
