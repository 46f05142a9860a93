"""The raw-SQL floor: the app's order hot path sent straight to PostgreSQL with asyncpg.

Per order, as `erp.orders.placement.place_order` places an order all in stock, with the app's own
statements (imported and compiled with the app's dialect, never copied), each in autocommit: read the
lines' products and stock per warehouse (`availability.RESERVABLE`) (1), then `placement.PLACE_NOW`,
which inserts the order, its lines and its event and, last, reserves through `claim_stock()` (one
conditional update per product and warehouse, in the global lock order, all or nothing, raising on a
shortfall) (2). Nothing an HTTP service adds (parsing, validation, auth, an ORM, serialising the
answer) is in it, so app/floor is what the service costs on top of the database. With `Grouped` (what the
bench runs, but for W1's second floor), the requests that come together go together as the app sends
them: one read for their stock, one transaction for their placing statements.

The reads (W3, W4) send the app's own read statements, compiled from `erp` with the app's dialect, without
BEGIN/COMMIT, as the app runs GET requests: coalesced as the app's are with `Grouped`, else one statement
after another on the client's connection.
"""

import functools
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import asyncpg
from sqlalchemy.exc import DBAPIError

from erp.db import Coalesced, HotStatement
from erp.errors import sqlstate
from erp.inventory.reservations import ORDER_LINE, SHORT, Claim, claim_params

PROMISED = date.today() + timedelta(days=1)


class Short(Exception):
    """Not enough stock for the floor's order (the bench stocks enough; a race may still lose)."""


def allocate(lines: Sequence[tuple[str, int]], rows: Sequence[Any]) -> list[tuple[int, int, int, int, int]]:
    """(product_id, warehouse priority, warehouse_id, line_no, quantity) per line: one warehouse for the
    whole order if one can ship it, else each line from the first warehouse by priority that can."""
    stock: dict[str, dict[int, int]] = {}
    product: dict[str, int] = {}
    order: dict[int, tuple[int, str]] = {}
    for row in rows:
        if not row["active"]:
            continue
        stock.setdefault(row["sku"], {})[row["warehouse_id"]] = row["available"]
        product[row["sku"]] = row["product_id"]
        order[row["warehouse_id"]] = (row["priority"], row["code"])
    warehouses = sorted(order, key=order.__getitem__)
    for warehouse in warehouses:
        if all(stock.get(sku, {}).get(warehouse, 0) >= quantity for sku, quantity in lines):
            return [(product[sku], order[warehouse][0], warehouse, n, quantity)
                    for n, (sku, quantity) in enumerate(lines, 1)]
    plan = []
    for n, (sku, quantity) in enumerate(lines, 1):
        warehouse = next((w for w in warehouses if stock.get(sku, {}).get(w, 0) >= quantity), None)
        if warehouse is None:
            raise Short(sku)
        plan.append((product[sku], order[warehouse][0], warehouse, n, quantity))
    return plan


class Grouped:
    """The app's shapes for requests that come together, on an engine of the floor's own in autocommit:
    orders read their stock together (`erp.db.Coalesced`, `availability.RESERVABLE_READS`' statement) and are
    placed together (`erp.db.GroupCommit` with `placement.PLACE_NOW`); order views and availability are read
    together (`service.view.CASE_VIEWS`, `availability.WITH_SUPPLY_READS`). One statement or transaction for
    the requests that come while one is in flight, as the app sends them."""

    def __init__(self, dsn: str, connections: int) -> None:
        from sqlalchemy.ext.asyncio import create_async_engine

        from erp.db import GroupCommit, async_url

        self.engine = create_async_engine(async_url(dsn), isolation_level="AUTOCOMMIT", pool_size=connections,
                                          max_overflow=0, connect_args={"server_settings": {
                                              "application_name": "bench-floor"}})
        from erp.inventory import availability, stock
        from erp.service.view import CASE_VIEWS

        self.group = GroupCommit(statements()["place"])
        # The app's own coalesced reads, each with its own queue: a GroupCommit or Coalesced is per engine.
        self.reads = Coalesced(availability.RESERVABLE, "skus", "sku")
        self.views = Coalesced(CASE_VIEWS.statement, "numbers", "number")
        self.availability = Coalesced(availability.BY_SKU_WITH_SUPPLY, "skus", "sku", params={"warehouse": None})
        self.stock = Coalesced(stock.FIRST_PAGES, "skus", "sku", params={"rows": 51})

    async def place(self, params: dict[str, Any], locks: list[tuple[int, ...]]) -> Any:
        return await self.group.send(self.engine, params, locks)

    async def close(self) -> None:
        await self.engine.dispose()


async def place_order(
    connection: asyncpg.Connection, lines: Sequence[tuple[str, int]], name: str, email: str,
    grouped: Grouped | None = None,
) -> tuple[str, int]:
    """One order, as the app places an order all in stock; returns (number, units reserved). With
    `grouped`, its read and its placing statement go with other orders', as the app's do; without, each
    alone on `connection`."""
    skus = [sku for sku, _ in lines]
    rows = await (_fetch(connection, "reservable", skus=skus) if grouped is None
                  else grouped.reads.read(grouped.engine, skus))
    plan = allocate(lines, rows)
    count = len(plan)
    claims = [Claim(*claim) for claim in plan]
    params = dict(
        channel="api", status="confirmed", name=name, email=email, phone=None,
        ship_to=None, external_ref=None, allow_backorder=True, currency=None, actor="bench",
        line_nos=[n for _, _, _, n, _ in plan], products=[p for p, *_ in plan], quantities=[q for *_, q in plan],
        unit_prices=[None] * count, backordered=[0] * count, backorder_warehouses=[None] * count,
        dates=[PROMISED] * count, bases=["in_stock"] * count, reasons=["in stock at BM-1"] * count, event="{}",
        **claim_params(ORDER_LINE, claims),
    )
    try:
        if grouped is None:
            placed = (await _fetch(connection, "place", **params))[0]
        else:
            placed = await grouped.place(params, [(c.product_id, c.priority, c.warehouse_id) for c in claims])
    except (asyncpg.PostgresError, DBAPIError) as exc:
        if (exc.sqlstate if isinstance(exc, asyncpg.PostgresError) else sqlstate(exc)) == SHORT:
            raise Short("a concurrent order took the stock") from exc
        raise
    return placed["number"], sum(q for *_, q in plan)


# --- the reads: the app's own SQL, compiled once to what its asyncpg dialect sends ---------------------


@functools.cache
def statements() -> dict[str, HotStatement]:
    """name -> the app's own statement, as the app sends it (`erp.db.HotStatement`: its text and `$n`
    parameters as SQLAlchemy's asyncpg dialect compiles them): `reservable` and `place` for POST /orders;
    `view` for GET /orders/{number} (with a list of one number); `stock` for GET /stock?sku=
    (`stock.FIRST_PAGES`, with a list of one sku); `availability` for GET /availability/{sku} and
    POST /availability/check."""
    from erp.inventory import availability, stock
    from erp.orders.placement import PLACE_NOW
    from erp.service.view import CASE_VIEWS

    return {"reservable": availability.RESERVABLE, "place": PLACE_NOW, "view": CASE_VIEWS.statement,
            "stock": stock.FIRST_PAGES, "availability": availability.BY_SKU_WITH_SUPPLY}


async def _fetch(connection: asyncpg.Connection, statement: str, /, **params: Any) -> list[Any]:
    hot = statements()[statement]
    return await connection.fetch(hot.sql, *hot.arguments(params))


async def order_view(connection: asyncpg.Connection, number: str, grouped: Grouped | None = None) -> Any:
    """GET /orders/{number}: the order's view and whether returns or repairs followed it, in one statement
    (`service.view.CASE_VIEWS`; the bench's orders have none, so the app reads no more either)."""
    rows = await (_fetch(connection, "view", numbers=[number]) if grouped is None
                  else grouped.views.read(grouped.engine, [number]))
    if not rows:
        raise LookupError(number)
    return rows[0]


async def stock_level(connection: asyncpg.Connection, sku: str, grouped: Grouped | None = None) -> list[Any]:
    """GET /stock?sku=: the stock positions of one product, first page of 50 (`stock.FIRST_PAGES`)."""
    if grouped is not None:
        return await grouped.stock.read(grouped.engine, [sku])
    return await _fetch(connection, "stock", skus=[sku], rows=51)


async def availability(connection: asyncpg.Connection, skus: Sequence[str], grouped: Grouped | None = None) -> list[Any]:
    """GET /availability/{sku} and POST /availability/check: stock per warehouse for the skus with their
    products' dated supply and preferred lead time, in one statement (`availability.BY_SKU_WITH_SUPPLY`)."""
    rows = await (_fetch(connection, "availability", skus=list(skus), warehouse=None) if grouped is None
                  else grouped.availability.read(grouped.engine, skus))
    if len({row["sku"] for row in rows}) < len(set(skus)):
        raise LookupError("no such product")
    return rows
