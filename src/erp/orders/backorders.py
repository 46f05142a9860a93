"""Units an order line lost or is waiting for: reserve them elsewhere if stock allows, else backorder
them with an honest promise; and when stock comes back, fill backorders first come, first served.

Callers hold the stock-level locks of the products concerned at every warehouse
(`inventory.lock_products_everywhere`) and the order rows, so these functions only read and write.
"""

from collections.abc import Iterable
from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from erp import events
from erp.inventory import availability
from erp.inventory.availability import by_priority


async def reserve(session: AsyncSession, line_id: int, product_id: int, warehouse_id: int, quantity: int) -> bool:
    """Reserve for one line at one warehouse through the same `reserve_stock()` placement uses (one
    conditional update and its reservation row); False if stock is short, and nothing changed."""
    return (await session.execute(
        text("SELECT reserve_stock(ARRAY[CAST(:p AS int)], ARRAY[CAST(:w AS int)], ARRAY[CAST(:q AS bigint)],"
             " ARRAY[CAST(:l AS int)])"),
        {"p": product_id, "w": warehouse_id, "q": quantity, "l": line_id},
    )).scalar_one()


async def release(session: AsyncSession, line_id: int, warehouse_id: int | None, quantity: int) -> int:
    """Release up to `quantity` of a line's reservations (at one warehouse, or any), newest first."""
    released = 0
    rows = (await session.execute(text(
        "SELECT id, warehouse_id, product_id, quantity FROM reservation"
        " WHERE owner_type = 'order_line' AND owner_id = :line AND quantity > 0"
        " AND (CAST(:warehouse AS int) IS NULL OR warehouse_id = :warehouse) ORDER BY id DESC"
    ), {"line": line_id, "warehouse": warehouse_id})).all()
    for row in rows:
        take = min(quantity - released, row.quantity)
        if take <= 0:
            break
        await session.execute(text("UPDATE reservation SET quantity = quantity - :q WHERE id = :id"),
                              {"q": take, "id": row.id})
        await session.execute(text(
            "UPDATE stock_level SET reserved = reserved - :q WHERE product_id = :p AND warehouse_id = :w"
        ), {"q": take, "p": row.product_id, "w": row.warehouse_id})
        released += take
    return released


async def reallocate(
    session: AsyncSession, *, order_id: int, number: str, line_id: int, product_id: int, quantity: int,
    actor: str, today: date, why: str,
) -> dict[str, int]:
    """Find `quantity` units for a line again: other bins or warehouses first, else a backorder."""
    (stock,) = (await availability.load_products(session, [product_id])).values()
    placed: dict[str, int] = {}
    remaining = quantity
    for warehouse in by_priority(stock.stock):
        take = min(remaining, warehouse.available)
        if take > 0 and await reserve(session, line_id, product_id, warehouse.warehouse_id, take):
            placed[warehouse.code] = take
            remaining -= take
        if remaining == 0:
            break
    if remaining:
        first = by_priority(stock.stock)[0]
        await session.execute(text(
            "UPDATE order_line SET backordered = backordered + :q,"
            " backorder_warehouse_id = coalesce(backorder_warehouse_id, :w) WHERE id = :id"
        ), {"q": remaining, "w": first.warehouse_id, "id": line_id})
    await repromise(session, [line_id], today)
    await events.record(session, "order.reallocated", number, actor, order_id=order_id, data={
        "line_id": line_id, "why": why, "reserved": placed, "backordered": remaining})
    return placed


async def repromise(session: AsyncSession, line_ids: Iterable[int], today: date, actor: str = "system") -> None:
    """Recompute the promise of lines from what they hold and wait for now."""
    rows = (await session.execute(text(
        "SELECT l.id, l.product_id, l.backordered,"
        " (SELECT array_agg(r.warehouse_id) FROM reservation r"
        "   WHERE r.owner_type = 'order_line' AND r.owner_id = l.id AND r.quantity > 0) AS warehouses"
        " FROM order_line l WHERE l.id = ANY(:ids)"
    ), {"ids": list(line_ids)})).all()
    if not rows:
        return
    stock = await availability.load_products(session, [r.product_id for r in rows])
    for row in rows:
        if row.backordered:
            continue
        held = [s for s in stock[row.product_id].stock if s.warehouse_id in (row.warehouses or [])]
        promise = (availability.in_stock_promise([(s, 1) for s in held], today) if held
                   else availability.Promise(None, "in_stock", "picked and in the warehouse"))
        await session.execute(text(
            "UPDATE order_line SET promised_date = :d, promise_basis = :b, promise_reason = :r WHERE id = :id"
        ), {"d": promise.date, "b": promise.basis, "r": promise.reason[:300], "id": row.id})
    waiting = sorted({r.product_id for r in rows if r.backordered})
    if waiting:
        await repromise_backorders(session, waiting, actor, today)


async def repromise_backorders(session: AsyncSession, product_ids: Iterable[int], actor: str, today: date) -> None:
    """Walk each product's backorders oldest first against stock and dated supply; every promise that
    changes is written to its line and recorded on the order's timeline."""
    product_ids = sorted(set(product_ids))
    queue = (await session.execute(text(
        "SELECT l.id, l.order_id, o.number, l.product_id, l.backordered, l.promised_date, l.promise_basis,"
        " l.promise_reason, p.sku FROM order_line l JOIN sales_order o ON o.id = l.order_id"
        " JOIN product p ON p.id = l.product_id"
        " WHERE l.product_id = ANY(:products) AND l.backordered > 0 ORDER BY o.id, l.id"
    ), {"products": product_ids})).all()
    if not queue:
        return
    stock = await availability.load_products(session, product_ids)
    await availability.with_supply(session, list(stock.values()))
    for product_id in product_ids:
        lines = [line for line in queue if line.product_id == product_id]
        if not lines:
            continue
        entry = stock[product_id]
        for line, promise in zip(lines, availability.queue_promises(entry, [x.backordered for x in lines], today),
                                 strict=True):
            before = (line.promised_date, line.promise_basis, line.promise_reason)
            after = (promise.date, promise.basis, promise.reason[:300])
            if before == after:
                continue
            warehouse = next((s.warehouse_id for s in entry.all_supply if s.reference == promise.supply_reference),
                             None)
            await session.execute(text(
                "UPDATE order_line SET promised_date = :d, promise_basis = :b, promise_reason = :r,"
                " backorder_warehouse_id = coalesce(:w, backorder_warehouse_id) WHERE id = :id"
            ), {"d": promise.date, "b": promise.basis, "r": promise.reason[:300], "w": warehouse, "id": line.id})
            await events.record(session, "order.repromised", line.number, actor, order_id=line.order_id, data={
                "sku": line.sku, "line_id": line.id,
                "from": {"date": line.promised_date, "basis": line.promise_basis, "reason": line.promise_reason},
                "to": {"date": promise.date, "basis": promise.basis, "reason": promise.reason}})


async def fill_backorders(session: AsyncSession, product_ids: Iterable[int], actor: str, today: date) -> list[str]:
    """Reserve newly available stock for waiting lines, oldest order first. Returns the orders touched."""
    from erp.orders.service import refresh_status  # noqa: PLC0415 - service imports this module too

    product_ids = sorted(set(product_ids))
    waiting = (await session.execute(text(
        "SELECT l.id, l.order_id, l.product_id, l.backordered, o.number FROM order_line l"
        " JOIN sales_order o ON o.id = l.order_id"
        " WHERE l.product_id = ANY(:products) AND l.backordered > 0 ORDER BY o.id, l.id"
    ), {"products": product_ids})).all()
    if not waiting:
        return []
    await session.execute(text("SELECT 1 FROM sales_order WHERE id = ANY(:ids) ORDER BY id FOR UPDATE"),
                          {"ids": sorted({w.order_id for w in waiting})})
    stock = await availability.load_products(session, product_ids)
    free = {(p, s.warehouse_id): s.available for p, a in stock.items() for s in a.stock}
    touched: dict[int, str] = {}
    for line in waiting:
        remaining, placed = line.backordered, {}
        for warehouse in by_priority(stock[line.product_id].stock):
            key = (line.product_id, warehouse.warehouse_id)
            take = min(remaining, free[key])
            if take > 0 and await reserve(session, line.id, line.product_id, warehouse.warehouse_id, take):
                free[key] -= take
                remaining -= take
                placed[warehouse.code] = take
        if placed:
            await session.execute(text("UPDATE order_line SET backordered = :b WHERE id = :id"),
                                  {"b": remaining, "id": line.id})
            if remaining == 0:
                await repromise(session, [line.id], today, actor)
            await events.record(session, "order.backorder_filled", line.number, actor, order_id=line.order_id,
                                data={"line_id": line.id, "reserved": placed, "still_backordered": remaining})
            touched[line.order_id] = line.number
    for order_id in touched:
        await refresh_status(session, order_id, actor)
    if touched:
        await repromise_backorders(session, product_ids, actor, today)
    return list(touched.values())
