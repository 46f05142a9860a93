"""A return as one case: its lines, what the customer is owed, and its status derived from all of it
(lines, replacement orders, repair orders, refunds). Shared by the return and repair work."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from erp import events
from erp.db import first_or_404
from erp.orders.messages import OrderShipped
from erp.returns.status import RepairState, ReturnCounts, resolution_done, return_status

LOCK_RETURN = text(
    "SELECT r.*, o.number AS order_number FROM return_authorization r JOIN sales_order o ON o.id = r.order_id"
    " WHERE r.number = :n FOR UPDATE OF r"
)
LOCK_RETURN_BY_ID = text("SELECT * FROM return_authorization WHERE id = :r FOR UPDATE")
RETURN_LINES = text(
    "SELECT l.*, p.sku FROM return_line l JOIN product p ON p.id = l.product_id"
    " WHERE l.return_id = :r ORDER BY l.line_no FOR UPDATE OF l"
)
# What was paid for the units that may be refunded; only priced units count (unpriced ones block refunds).
SET_REFUNDABLE = text("""
    UPDATE return_authorization r SET refundable_amount = (
           SELECT coalesce(sum(l.refundable * l.unit_price), 0) FROM return_line l WHERE l.return_id = r.id)
     WHERE r.id = :r
""")
ADD_REFUNDABLE = text("UPDATE return_line SET refundable = refundable + :q WHERE id = :id")
SET_STATUS = text(
    "UPDATE return_authorization SET status = :s, version = version + 1, updated_at = now() WHERE id = :r"
)
BUMP = text("UPDATE return_authorization SET version = version + 1, updated_at = now() WHERE id = :r")
REPLACEMENTS = text(
    "SELECT o.id, o.number, o.status FROM replacement x JOIN sales_order o ON o.id = x.order_id"
    " WHERE x.return_id = :r AND x.repair_order_id IS NULL ORDER BY o.id"
)
REPAIR_STATES = text("""
    SELECT ro.status, ro.ships_to_customer, ro.outcome,
           CASE ro.outcome
             WHEN 'replacement' THEN coalesce((SELECT bool_and(o.status IN ('shipped', 'delivered'))
                                                 FROM replacement x JOIN sales_order o ON o.id = x.order_id
                                                WHERE x.repair_order_id = ro.id), false)
             WHEN 'refund' THEN r.refunded_amount >= r.refundable_amount
             ELSE false END AS outcome_done
      FROM repair_order ro JOIN return_line l ON l.id = ro.return_line_id
      JOIN return_authorization r ON r.id = l.return_id
     WHERE l.return_id = :r
""")
# The return a replacement order serves: its own, or that of the repair it replaces.
RETURN_OF_ORDER = text("""
    SELECT coalesce(x.return_id, (SELECT l.return_id FROM repair_order ro JOIN return_line l ON l.id = ro.return_line_id
                                    WHERE ro.id = x.repair_order_id))
      FROM replacement x WHERE x.order_id = :o
""")


async def lock(session: AsyncSession, number: str) -> Any:
    return await first_or_404(session, LOCK_RETURN, {"n": number}, missing=f"No return {number}.")


async def lines_of(session: AsyncSession, return_id: int) -> list[Any]:
    return list((await session.execute(RETURN_LINES, {"r": return_id})).all())


def counts_of(rows: Sequence[Any]) -> ReturnCounts:
    return ReturnCounts(authorized=sum(r.quantity - r.cancelled for r in rows), received=sum(r.received for r in rows),
                        inspected=sum(r.restocked + r.repaired + r.scrapped + r.returned_to_supplier for r in rows))


async def make_refundable(session: AsyncSession, return_id: int, return_line_id: int, quantity: int) -> None:
    """Units of a line the customer may now be refunded for."""
    await session.execute(ADD_REFUNDABLE, {"q": quantity, "id": return_line_id})
    await session.execute(SET_REFUNDABLE, {"r": return_id})


async def refresh_status(session: AsyncSession, return_id: int, actor: str) -> str:
    """Derive the return's status from its lines, replacements, repairs and refunds; record a change."""
    ret = (await session.execute(LOCK_RETURN_BY_ID, {"r": return_id})).one()
    rows = await lines_of(session, return_id)
    counts = counts_of(rows)
    done = resolution_done(
        ret.resolution, refundable=ret.refundable_amount, refunded=ret.refunded_amount,
        unpriced_refundable=any(r.refundable and r.unit_price is None for r in rows),
        replacements=[r.status for r in (await session.execute(REPLACEMENTS, {"r": return_id})).all()],
        replaced=sum(r.replaced for r in rows), received=counts.received,
        repairs=[RepairState(r.status, r.ships_to_customer, r.outcome, r.outcome_done)
                 for r in (await session.execute(REPAIR_STATES, {"r": return_id})).all()])
    status = return_status(ret.status, counts, done)
    if status != ret.status:
        await session.execute(SET_STATUS, {"s": status, "r": return_id})
        await events.record(session, "return.status_changed", ret.number, actor, order_id=ret.order_id,
                            data={"from": ret.status, "to": status})
    else:
        await session.execute(BUMP, {"r": return_id})
    return status


async def on_order_shipped(session: AsyncSession, message: OrderShipped) -> None:
    """A replacement shipped: the return it serves may be resolved now (see erp.reactions)."""
    return_id = (await session.execute(RETURN_OF_ORDER, {"o": message.order_id})).scalar()
    if return_id is not None:
        await refresh_status(session, return_id, message.actor)
