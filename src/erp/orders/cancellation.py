"""Cancelling: what is still only promised (backordered, then reserved) is given up at once; picked or
shipped units stay, and can only be returned."""

from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from erp import events
from erp.auth import Principal
from erp.concurrency import IfMatch
from erp.errors import InvalidRequest, InvalidTransition
from erp.inventory import ledger, reservations
from erp.inventory.reservations import ORDER_LINE, held
from erp.orders import backorders
from erp.orders.lines import check_version, current_status, order_id, refresh_status, shrink_open_picks
from erp.orders.schemas import CancelRequest

LINE_PRODUCTS = text("SELECT product_id FROM order_line WHERE order_id = :id")
LOCK_LINES = text(
    "SELECT l.id, l.product_id, p.sku, l.quantity, l.cancelled, l.backordered, l.picked,"
    f" {held(ORDER_LINE, 'l.id')} AS reserved"
    " FROM order_line l JOIN product p ON p.id = l.product_id WHERE l.order_id = :id FOR UPDATE OF l"
)
CANCELLABLE = text(
    f"SELECT l.backordered + {held(ORDER_LINE, 'l.id')} FROM order_line l JOIN sales_order o ON o.id = l.order_id"
    " JOIN product p ON p.id = l.product_id WHERE o.number = :n AND p.sku = :sku"
)
CANCEL_UNITS = text(
    "UPDATE order_line SET cancelled = cancelled + :q, backordered = backordered - :b WHERE id = :id"
)


async def cancel(session: AsyncSession, number: str, data: CancelRequest, actor: Principal, today: date,
                 expected: IfMatch | None = None) -> None:
    """Release what is still only promised (backordered first, then reserved). Picked units stay."""
    oid = await order_id(session, number)
    await ledger.lock_products_everywhere(session, (await session.execute(LINE_PRODUCTS, {"id": oid})).scalars())
    await order_id(session, number, lock=True)
    await check_version(session, oid, number, expected)
    current = {r.sku: r for r in (await session.execute(LOCK_LINES, {"id": oid})).all()}

    if data.lines is None:
        wanted = {sku: row.backordered + row.reserved for sku, row in current.items()}
        if not any(wanted.values()):
            raise InvalidTransition(f"Order {number} is {await current_status(session, oid)}: nothing is left to "
                                    "cancel (picked or shipped units can only be returned).")
    else:
        wanted = {}
        for line in data.lines:
            row = current.get(line.sku)
            if row is None:
                raise InvalidRequest(f"Order {number} has no line for {line.sku}.")
            cancellable = row.backordered + row.reserved
            if line.quantity > cancellable:
                raise InvalidTransition(
                    f"{line.sku}: only {cancellable} of {row.quantity} can be cancelled; {row.picked} picked or "
                    f"shipped and {row.cancelled} already cancelled.")
            wanted[line.sku] = line.quantity

    released_products = []
    cancelled_lines = []
    for sku, quantity in wanted.items():
        if quantity == 0:
            continue
        row = current[sku]
        from_backorder = min(quantity, row.backordered)
        from_reserved = quantity - from_backorder
        if from_reserved:
            await reservations.release(session, ORDER_LINE, row.id, from_reserved)
            await shrink_open_picks(session, row.id, from_reserved)
            released_products.append(row.product_id)
        await session.execute(CANCEL_UNITS, {"q": quantity, "b": from_backorder, "id": row.id})
        cancelled_lines.append({"sku": sku, "quantity": quantity})
    await backorders.repromise(session, [current[x["sku"]].id for x in cancelled_lines], today)
    await events.record(session, "order.cancelled", number, actor.name, order_id=oid,
                        data={"lines": cancelled_lines, "reason": data.reason})
    await refresh_status(session, oid, actor.name)
    if released_products:
        await backorders.fill_backorders(session, released_products, actor.name, today)


async def cancellable(session: AsyncSession, number: str, sku: str) -> int:
    """Units of the order's line for `sku` that can still be cancelled (backordered or only reserved)."""
    return (await session.execute(CANCELLABLE, {"n": number, "sku": sku})).scalar() or 0
