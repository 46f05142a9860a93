"""The raw-SQL floor: the app's order hot path sent straight to PostgreSQL with asyncpg.

Per order, in one transaction, as `erp.orders.service.place_order` does it: read the lines' products and
stock per warehouse (1), then one statement that inserts the order, its lines and its event and, last,
reserves through `reserve_stock()` (one conditional update per product and warehouse, in product order,
all or nothing) (2), and commit. Nothing an HTTP service adds (parsing, validation, auth, an ORM,
serialising the answer) is in it, so app/floor is what the service costs on top of the database.

The reads (W3, W4) send the app's own read statements, compiled from `erp` with the app's dialect, one
statement after another on a connection without BEGIN/COMMIT, as the app runs GET requests.
"""

import functools
from collections.abc import Sequence
from typing import Any

import asyncpg

STOCK = """
SELECT p.id, p.sku, p.active, w.id AS warehouse_id, w.code, w.priority, w.handling_days,
       s.on_hand - s.reserved AS available
  FROM product p
  JOIN stock_level s ON s.product_id = p.id
  JOIN warehouse w ON w.id = s.warehouse_id
 WHERE p.sku = ANY($1::text[])
"""

PLACE = """
WITH o AS (
    INSERT INTO sales_order (channel, status, customer_name, customer_email, created_by, allow_backorder)
    VALUES ('api', 'confirmed', $1, $2, 'bench', true)
    RETURNING id, number, created_at
), l AS (
    INSERT INTO order_line (order_id, line_no, product_id, quantity, promised_date, promise_basis, promise_reason)
    SELECT o.id, x.line_no, x.product_id, x.quantity, current_date + 1, 'in_stock', 'in stock at WH'
      FROM o, unnest($3::int[], $4::int[], $5::bigint[]) AS x(line_no, product_id, quantity)
    RETURNING id, line_no
), e AS (
    INSERT INTO event (type, subject, order_id, actor, channel, data)
    SELECT 'order.placed', o.number, o.id, 'bench', 'api', '{}'::jsonb FROM o
    RETURNING id
), r AS (
    SELECT reserve_stock($6::int[], $7::int[], $8::bigint[],
                         ARRAY(SELECT l.id FROM unnest($9::int[]) WITH ORDINALITY AS x(line_no, n)
                                 JOIN l ON l.line_no = x.line_no ORDER BY x.n)) AS reserved
)
SELECT o.id, o.number, (SELECT reserved FROM r) AS reserved FROM o
"""


class Short(Exception):
    """Not enough stock for the floor's order (the bench stocks enough; a race may still lose)."""


def allocate(lines: Sequence[tuple[str, int]], rows: Sequence[Any]) -> list[tuple[int, int, int, int]]:
    """(product_id, warehouse_id, quantity, line_no) per line: one warehouse for the whole order if one
    can ship it, else each line from the first warehouse by priority that can."""
    stock: dict[str, dict[int, int]] = {}
    product: dict[str, int] = {}
    order: dict[int, tuple[int, str]] = {}
    for row in rows:
        if not row["active"]:
            continue
        stock.setdefault(row["sku"], {})[row["warehouse_id"]] = row["available"]
        product[row["sku"]] = row["id"]
        order[row["warehouse_id"]] = (row["priority"], row["code"])
    warehouses = sorted(order, key=order.__getitem__)
    for warehouse in warehouses:
        if all(stock.get(sku, {}).get(warehouse, 0) >= quantity for sku, quantity in lines):
            return [(product[sku], warehouse, quantity, n) for n, (sku, quantity) in enumerate(lines, 1)]
    plan = []
    for n, (sku, quantity) in enumerate(lines, 1):
        warehouse = next((w for w in warehouses if stock.get(sku, {}).get(w, 0) >= quantity), None)
        if warehouse is None:
            raise Short(sku)
        plan.append((product[sku], warehouse, quantity, n))
    return plan


async def place_order(
    connection: asyncpg.Connection, lines: Sequence[tuple[str, int]], name: str, email: str
) -> tuple[str, int]:
    """One order through the floor's transaction; returns (number, units reserved)."""
    async with connection.transaction():
        rows = await connection.fetch(STOCK, [sku for sku, _ in lines])
        plan = allocate(lines, rows)
        pairs = sorted(plan)
        placed = await connection.fetchrow(
            PLACE,
            name,
            email,
            [n for *_, n in plan],
            [product_id for product_id, *_ in plan],
            [quantity for _, _, quantity, _ in plan],
            [product_id for product_id, *_ in pairs],
            [warehouse_id for _, warehouse_id, *_ in pairs],
            [quantity for _, _, quantity, _ in pairs],
            [n for *_, n in pairs],
        )
        if not placed["reserved"]:
            raise Short("a concurrent order took the stock")
    return placed["number"], sum(quantity for _, _, quantity, _ in plan)


# --- the reads: the app's own SQL, compiled once to what its asyncpg dialect sends ---------------------


@functools.cache
def statements() -> dict[str, tuple[str, tuple[str, ...], dict[str, Any]]]:
    """name -> (SQL with $n parameters, parameter names in $n order, the values bound in the statement
    itself, such as the page size), compiled from the app's own
    statements with the app's dialect (SQLAlchemy's asyncpg), so the floor sends the same text:
    `view` for GET /orders/{number}; `stock` for GET /stock?sku=, built as the route and `paginate` build
    it (one sku, first page of 50: ORDER BY sku, warehouse LIMIT 51); `by_sku`, `supply` and `lead_time`
    for GET /availability/{sku} and POST /availability/check."""
    from sqlalchemy import bindparam
    from sqlalchemy.dialects.postgresql.asyncpg import dialect

    from erp.inventory import availability, service
    from erp.inventory.models import Product, Warehouse
    from erp.orders.view import VIEW

    keys = [Product.sku, Warehouse.code]
    stock = (
        service.stock_level_query()
        .where(Product.sku == bindparam("sku"))
        .add_columns(*(key.label(f"_cursor_{i}") for i, key in enumerate(keys)))
        .order_by(*keys)
        .limit(51)
    )
    compiled = {}
    for name, statement in {
        "view": VIEW,
        "stock": stock,
        "by_sku": availability.BY_SKU,
        "supply": availability.SUPPLY,
        "lead_time": availability.LEAD_TIME,
    }.items():
        sql = statement.compile(dialect=dialect())
        compiled[name] = (sql.string, tuple(sql.positiontup or ()), dict(sql.params))
    return compiled


async def _fetch(connection: asyncpg.Connection, name: str, **params: Any) -> list[Any]:
    sql, names, bound = statements()[name]
    return await connection.fetch(sql, *(params[n] if n in params else bound[n] for n in names))


async def order_view(connection: asyncpg.Connection, number: str) -> Any:
    """GET /orders/{number}: the order status view, one query."""
    rows = await _fetch(connection, "view", number=number)
    if not rows:
        raise LookupError(number)
    return rows[0]


async def stock_level(connection: asyncpg.Connection, sku: str) -> list[Any]:
    """GET /stock?sku=: the stock positions of one product, first page."""
    return await _fetch(connection, "stock", sku=sku)


async def availability(connection: asyncpg.Connection, skus: Sequence[str]) -> list[Any]:
    """GET /availability/{sku} and POST /availability/check: stock per warehouse for the skus, then
    dated supply and the preferred lead time for their products, as `availability.load` and
    `with_supply` send them."""
    rows = await _fetch(connection, "by_sku", skus=list(skus), warehouse=None)
    if len({row["sku"] for row in rows}) < len(set(skus)):
        raise LookupError("no such product")
    ids = list(dict.fromkeys(row["product_id"] for row in rows))
    await _fetch(connection, "supply", ids=ids)
    await _fetch(connection, "lead_time", ids=ids)
    return rows
