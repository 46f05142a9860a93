"""Units an order line lost or is waiting for: reserve them elsewhere if stock allows, else backorder
them with an honest promise; and when stock comes back, fill backorders first come, first served.

Callers hold the stock-level locks of the products concerned at every warehouse
(`ledger.lock_products_everywhere`) and the order rows, so these functions only read and write. The
`on_*` handlers are how orders hears about stock and supply (registered in `erp.reactions`).
"""

from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from erp import events
from erp.inventory import availability, reservations, waiting
from erp.inventory.availability import by_priority
from erp.inventory.messages import ReservationsReclaimed, StockAdded, SupplyChanged
from erp.inventory.reservations import ORDER_LINE, holdings
from erp.orders.lines import lock_orders, refresh_status, shrink_open_picks

ADD_BACKORDER = text(
    "UPDATE order_line SET backordered = backordered + :q,"
    " backorder_warehouse_id = coalesce(backorder_warehouse_id, :w) WHERE id = :id"
)
SET_BACKORDERED = text("UPDATE order_line SET backordered = :b WHERE id = :id")
HOLDING_LINES = text(
    "SELECT l.id, l.product_id, l.backordered,"
    f" (SELECT array_agg(h.warehouse_id) FROM {holdings(ORDER_LINE, owner_id='l.id')} h) AS warehouses"
    " FROM order_line l WHERE l.id = ANY(:ids)"
)
SET_PROMISE = text(
    "UPDATE order_line SET promised_date = :d, promise_basis = :b, promise_reason = :r,"
    " backorder_warehouse_id = coalesce(:w, backorder_warehouse_id) WHERE id = :id"
)
LINES = text(
    "SELECT l.id, l.order_id, o.number, l.product_id, l.promised_date, l.promise_basis, l.promise_reason, p.sku"
    " FROM order_line l JOIN sales_order o ON o.id = l.order_id JOIN product p ON p.id = l.product_id"
    " WHERE l.id = ANY(:ids)"
)


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
        if take > 0 and await reservations.reserve(session, ORDER_LINE, line_id, product_id,
                                                   warehouse.warehouse_id, take):
            placed[warehouse.code] = take
            remaining -= take
        if remaining == 0:
            break
    if remaining:
        first = by_priority(stock.stock)[0]
        await session.execute(ADD_BACKORDER, {"q": remaining, "w": first.warehouse_id, "id": line_id})
    await repromise(session, [line_id], today)
    await events.record(session, "order.reallocated", number, actor, order_id=order_id, data={
        "line_id": line_id, "why": why, "reserved": placed, "backordered": remaining})
    return placed


async def repromise(session: AsyncSession, line_ids: Iterable[int], today: date, actor: str = "system") -> None:
    """Recompute the promise of lines from what they hold and wait for now."""
    rows = (await session.execute(HOLDING_LINES, {"ids": list(line_ids)})).all()
    if not rows:
        return
    stock = await availability.load_products(session, [r.product_id for r in rows])
    for row in rows:
        if row.backordered:
            continue
        held = [s for s in stock[row.product_id].stock if s.warehouse_id in (row.warehouses or [])]
        promise = (availability.in_stock_promise([(s, 1) for s in held], today) if held
                   else availability.Promise(None, "in_stock", "picked and in the warehouse"))
        await session.execute(SET_PROMISE, {"d": promise.date, "b": promise.basis, "r": promise.reason[:300],
                                            "w": None, "id": row.id})
    waiting = sorted({r.product_id for r in rows if r.backordered})
    if waiting:
        await repromise_backorders(session, waiting, actor, today)


async def _lines(session: AsyncSession, line_ids: Iterable[int]) -> dict[int, Any]:
    return {row.id: row for row in (await session.execute(LINES, {"ids": list(line_ids)})).all()}


async def repromise_backorders(session: AsyncSession, product_ids: Iterable[int], actor: str, today: date) -> None:
    """Promise each waiting line from its place in its product's queue (shared with repair parts); every
    promise that changes is written to its line and recorded on the order's timeline."""
    promised = [(w, p) for w, p in await waiting.promises(session, list(product_ids), today)
                if w.owner_type == ORDER_LINE]
    if not promised:
        return
    lines = await _lines(session, [w.owner_id for w, _ in promised])
    for entry, promise in promised:
        line = lines[entry.owner_id]
        before = (line.promised_date, line.promise_basis, line.promise_reason)
        after = (promise.date, promise.basis, promise.reason[:300])
        if before == after:
            continue
        await session.execute(SET_PROMISE, {"d": promise.date, "b": promise.basis, "r": promise.reason[:300],
                                            "w": promise.supply_warehouse_id, "id": line.id})
        await events.record(session, "order.repromised", line.number, actor, order_id=line.order_id, data={
            "sku": line.sku, "line_id": line.id,
            "from": {"date": line.promised_date, "basis": line.promise_basis, "reason": line.promise_reason},
            "to": {"date": promise.date, "basis": promise.basis, "reason": promise.reason}})


async def fill_backorders(session: AsyncSession, product_ids: Iterable[int], actor: str, today: date) -> list[str]:
    """Reserve newly available stock for waiting lines, first come first served (with repair parts in
    the same queue). Returns the orders touched."""
    product_ids = sorted(set(product_ids))
    queue = await waiting.queue(session, product_ids)
    mine = [w for w in queue if w.owner_type == ORDER_LINE]
    if not mine:
        return []
    lines = await _lines(session, [w.owner_id for w in mine])
    await lock_orders(session, {line.order_id for line in lines.values()})
    touched: dict[int, str] = {}
    for entry, takes in await waiting.fill(session, queue, ORDER_LINE):
        line = lines[entry.owner_id]
        remaining = entry.quantity - sum(quantity for _, quantity in takes)
        await session.execute(SET_BACKORDERED, {"b": remaining, "id": line.id})
        if remaining == 0:
            await repromise(session, [line.id], today, actor)
        await events.record(session, "order.backorder_filled", line.number, actor, order_id=line.order_id,
                            data={"line_id": line.id, "reserved": {s.code: q for s, q in takes},
                                  "still_backordered": remaining})
        touched[line.order_id] = line.number
    for order_id in touched:
        await refresh_status(session, order_id, actor)
    if touched:
        await repromise_backorders(session, product_ids, actor, today)
    return list(touched.values())


# --- reactions (see erp.reactions) -------------------------------------------------------------------


async def on_stock_added(session: AsyncSession, message: StockAdded) -> None:
    """Stock found or received goes to waiting backorders first, first come, first served."""
    await fill_backorders(session, message.product_ids, message.actor, date.today())


async def on_supply_changed(session: AsyncSession, message: SupplyChanged) -> None:
    """Dated supply moved, arrived or vanished: re-promise what waits for it."""
    await repromise_backorders(session, message.product_ids, message.actor, date.today())


async def on_reservations_reclaimed(session: AsyncSession, message: ReservationsReclaimed) -> None:
    """Order lines whose reserved units vanished: off the pick lists, and reserved again elsewhere or
    backordered."""
    lines = [r for r in message.reclaimed if r.owner_type == ORDER_LINE]
    if not lines:
        return
    orders = await _lines(session, [r.owner_id for r in lines])
    today = date.today()
    for reclaimed in lines:
        await shrink_open_picks(session, reclaimed.owner_id, reclaimed.quantity, reclaimed.warehouse_id)
    for reclaimed in lines:
        line = orders[reclaimed.owner_id]
        await reallocate(session, order_id=line.order_id, number=line.number, line_id=line.id,
                         product_id=reclaimed.product_id, quantity=reclaimed.quantity, actor=message.actor,
                         today=today, why=message.why)
    for order_id in sorted({orders[r.owner_id].order_id for r in lines}):
        await refresh_status(session, order_id, message.actor)
