"""Where an order's units are: its lines' counters, its status derived from them, the order-row locks,
and the open pick-list units every fulfilment step reads. Shared by placing, cancelling, picking,
shipping and backorders.

Lock order (shared with inventory): stock levels first, then orders by id, then their lines.
"""

from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from erp import events
from erp.concurrency import IfMatch
from erp.db import first_or_404
from erp.inventory.reservations import ORDER_LINE, held
from erp.orders.status import LineState, order_status


def open_pick(alias: str = "p") -> str:
    """SQL for the units of a pick-list line still to pick: neither picked nor found missing."""
    return f"({alias}.quantity - {alias}.picked - {alias}.short)"


def listed(order_line_id: str, warehouse_id: str | None = None) -> str:
    """SQL for the units of an order line waiting on open pick lists (at one warehouse, or any)."""
    at = (" JOIN location listed_loc ON listed_loc.id = listed.location_id"
          f" AND listed_loc.warehouse_id = {warehouse_id}") if warehouse_id else ""
    return (f"coalesce((SELECT sum({open_pick('listed')}) FROM pick_list_line listed{at}"
            f" WHERE listed.order_line_id = {order_line_id}), 0)::bigint")


ORDER_ID = text("SELECT id FROM sales_order WHERE number = :n")
LOCK_ORDER_ID = text("SELECT id FROM sales_order WHERE number = :n FOR UPDATE")
LOCK_ORDERS = text("SELECT 1 FROM sales_order WHERE id = ANY(:ids) ORDER BY id FOR UPDATE")
ORDER_STATUS = text("SELECT status FROM sales_order WHERE id = :id")
# An order's version: its latest event. Every change to an order is an event, so this is its ETag.
ORDER_VERSION = text("SELECT max(id) FROM event WHERE order_id = :id")
LINE_STATES = text(
    "SELECT l.quantity, l.cancelled, l.backordered, l.picked, l.packed, l.shipped,"
    f" {held(ORDER_LINE, 'l.id')} AS reserved, {listed('l.id')} AS listed"
    " FROM order_line l WHERE l.order_id = :id"
)
STATUS_INPUTS = text("SELECT number, status, delivered_at IS NOT NULL AS delivered FROM sales_order WHERE id = :id")
SET_STATUS = text("UPDATE sales_order SET status = :s, version = version + 1, updated_at = now() WHERE id = :id")
OPEN_PICKS_OF_LINE = text(
    f"SELECT p.id, {open_pick()} AS open FROM pick_list_line p JOIN location loc ON loc.id = p.location_id"
    f" WHERE p.order_line_id = :line AND {open_pick()} > 0"
    " AND (CAST(:w AS int) IS NULL OR loc.warehouse_id = :w) ORDER BY p.id DESC FOR UPDATE OF p"
)
SHRINK_PICK = text("UPDATE pick_list_line SET quantity = quantity - :q WHERE id = :id")


async def order_id(session: AsyncSession, number: str, *, lock: bool = False) -> int:
    return (await first_or_404(session, LOCK_ORDER_ID if lock else ORDER_ID, {"n": number},
                               missing=f"No order {number}."))[0]


async def lock_orders(session: AsyncSession, order_ids: Iterable[int]) -> None:
    """Lock order rows by id, the order every operation on several orders keeps."""
    await session.execute(LOCK_ORDERS, {"ids": sorted(set(order_ids))})


async def check_version(session: AsyncSession, order_id: int, number: str, expected: IfMatch | None) -> None:
    """`If-Match` against the order's current version; call it holding the order's row lock."""
    if expected is not None:
        expected.check((await session.execute(ORDER_VERSION, {"id": order_id})).scalar_one(), f"Order {number}")


async def current_status(session: AsyncSession, order_id: int) -> str:
    return (await session.execute(ORDER_STATUS, {"id": order_id})).scalar_one()


async def line_states(session: AsyncSession, order_id: int) -> list[LineState]:
    return [LineState(r.quantity, r.cancelled, r.backordered, r.reserved, r.picked, r.packed, r.shipped, r.listed)
            for r in (await session.execute(LINE_STATES, {"id": order_id})).all()]


async def refresh_status(session: AsyncSession, order_id: int, actor: str | None) -> str:
    """Derive the order's status from its lines; record a status event when it changes."""
    row = (await session.execute(STATUS_INPUTS, {"id": order_id})).one()
    status = order_status(await line_states(session, order_id), row.delivered)
    if status != row.status:
        await session.execute(SET_STATUS, {"s": status, "id": order_id})
        await events.record(session, "order.status_changed", row.number, actor or "system", order_id=order_id,
                            data={"from": row.status, "to": status})
    return status


async def shrink_open_picks(session: AsyncSession, line_id: int, quantity: int, warehouse_id: int | None = None) -> None:
    """Take units of a line off open pick lists (at one warehouse, or any), newest first, so nobody picks
    what was cancelled or taken back."""
    for row in (await session.execute(OPEN_PICKS_OF_LINE, {"line": line_id, "w": warehouse_id})).all():
        take = min(quantity, row.open)
        if take <= 0:
            break
        await session.execute(SHRINK_PICK, {"q": take, "id": row.id})
        quantity -= take


# --- units coming back (returns hold these counters through the functions below) --------------------

CLAIM_FOR_RETURN = text(
    "UPDATE order_line SET return_authorized = return_authorized + :q"
    " WHERE id = :id AND shipped - return_authorized >= :q RETURNING id"
)
UNCLAIM_FOR_RETURN = text("UPDATE order_line SET return_authorized = return_authorized - :q WHERE id = :id")
ADD_RETURNED = text("UPDATE order_line SET returned = returned + :q WHERE id = :id")


async def claim_for_return(session: AsyncSession, line_id: int, quantity: int) -> bool:
    """Put shipped units of a line on a return: one conditional update, so concurrent returns can never
    claim more than was shipped. False (and nothing changed) when fewer are left."""
    return (await session.execute(CLAIM_FOR_RETURN, {"q": quantity, "id": line_id})).first() is not None


async def unclaim_for_return(session: AsyncSession, line_id: int, quantity: int) -> None:
    """Units a return no longer covers (cancelled, rejected, never sent) can be returned again."""
    await session.execute(UNCLAIM_FOR_RETURN, {"q": quantity, "id": line_id})


async def add_returned(session: AsyncSession, line_id: int, quantity: int) -> None:
    """Units that came back (negative: sent back to the customer after all)."""
    await session.execute(ADD_RETURNED, {"q": quantity, "id": line_id})
