"""Reading returns and repairs: each as the rep reads it, with its state in words and its promise."""

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from erp.db import first_or_404
from erp.inventory.reservations import REPAIR_PART, held
from erp.returns.cases import counts_of
from erp.returns.schemas import (
    PartOut,
    RefundOut,
    RepairOut,
    ReplacementOut,
    ReturnLineOut,
    ReturnOut,
)
from erp.returns.status import return_text

REPAIRS = f"""
SELECT ro.*, p.sku, w.code AS warehouse, o.number AS order_number, r.number AS return_number,
       (SELECT coalesce(json_agg(ro2.number ORDER BY ro2.id), '[]') FROM replacement x
          JOIN sales_order ro2 ON ro2.id = x.order_id WHERE x.repair_order_id = ro.id) AS replacement_orders,
       (SELECT coalesce(json_agg(json_build_object(
            'id', pt.id, 'sku', pp.sku, 'quantity', pt.quantity, 'reserved', {held(REPAIR_PART, 'pt.id')},
            'waiting', pt.waiting, 'consumed', pt.consumed, 'cancelled', pt.cancelled,
            'promised_date', pt.promised_date, 'promise_basis', pt.promise_basis, 'reason', pt.promise_reason)
            ORDER BY pt.id), '[]')
          FROM repair_part pt JOIN product pp ON pp.id = pt.product_id WHERE pt.repair_order_id = ro.id) AS parts
  FROM repair_order ro JOIN product p ON p.id = ro.product_id JOIN warehouse w ON w.id = ro.warehouse_id
  LEFT JOIN sales_order o ON o.id = ro.order_id
  LEFT JOIN return_line rl ON rl.id = ro.return_line_id LEFT JOIN return_authorization r ON r.id = rl.return_id
"""
REPAIR_BY_NUMBER = text(REPAIRS + " WHERE ro.number = :n")
REPAIRS_OF_RETURN = text(REPAIRS + " WHERE rl.return_id = :r ORDER BY ro.id")
WALK_IN_REPAIRS_OF_ORDER = text(REPAIRS + " WHERE ro.order_id = :o AND ro.return_line_id IS NULL ORDER BY ro.id")
RETURN = """
SELECT r.*, o.number AS order_number, w.code AS warehouse_code,
       (SELECT coalesce(json_agg(json_build_object(
            'line_no', l.line_no, 'sku', p.sku, 'reason', l.reason, 'quantity', l.quantity, 'cancelled', l.cancelled,
            'received', l.received, 'restocked', l.restocked, 'repaired', l.repaired, 'scrapped', l.scrapped,
            'returned_to_supplier', l.returned_to_supplier, 'replaced', l.replaced, 'refundable', l.refundable,
            'unit_price', l.unit_price::text) ORDER BY l.line_no), '[]')
          FROM return_line l JOIN product p ON p.id = l.product_id WHERE l.return_id = r.id) AS lines,
       (SELECT coalesce(json_agg(json_build_object(
            'id', f.id, 'amount', f.amount::text, 'currency', f.currency, 'method', f.method, 'reference', f.reference,
            'created_by', f.created_by, 'created_at', f.created_at) ORDER BY f.id), '[]')
          FROM refund f WHERE f.return_id = r.id) AS refunds,
       (SELECT coalesce(json_agg(json_build_object(
            'number', so.number, 'status', so.status,
            'promised_date', (SELECT max(ol.promised_date) FROM order_line ol
                               WHERE ol.order_id = so.id AND ol.quantity - ol.cancelled > ol.shipped),
            'reason', coalesce((SELECT ol.promise_reason FROM order_line ol
                                 WHERE ol.order_id = so.id AND ol.quantity - ol.cancelled > ol.shipped
                                 ORDER BY ol.promised_date DESC NULLS FIRST LIMIT 1), so.status))
            ORDER BY so.id), '[]')
          FROM replacement x JOIN sales_order so ON so.id = x.order_id
         WHERE x.return_id = r.id AND x.repair_order_id IS NULL) AS replacements
  FROM return_authorization r JOIN sales_order o ON o.id = r.order_id JOIN warehouse w ON w.id = r.warehouse_id
"""
RETURN_BY_NUMBER = text(RETURN + " WHERE r.number = :n")
RETURNS_OF_ORDER = text(RETURN + " WHERE r.order_id = :o ORDER BY r.id")
# Whether anything followed an order (most orders: nothing), so the order view can skip the rest.
# Whether returns, repairs or replacements followed the order `o` (SQL, a column of the order's view).
FOLLOWED = """(EXISTS (SELECT 1 FROM return_authorization r WHERE r.order_id = o.id)
        OR EXISTS (SELECT 1 FROM repair_order ro WHERE ro.order_id = o.id)
        OR EXISTS (SELECT 1 FROM replacement x WHERE x.order_id = o.id))"""
# What an order replaces, if it is a replacement: a return, or an unrepairable repair.
REPLACES = text("""
    SELECT coalesce(r.number, ro.number) FROM replacement x
      LEFT JOIN return_authorization r ON r.id = x.return_id LEFT JOIN repair_order ro ON ro.id = x.repair_order_id
     WHERE x.order_id = :o
""")


def repair_text(repair: Any) -> str:
    when = (f"promised for {repair.promised_date.isoformat()} ({repair.promise_reason})" if repair.promised_date
            else repair.promise_reason)
    match repair.status:
        case "queued":
            return f"{repair.number} queued for repair; {when}"
        case "in_progress":
            return f"{repair.number} being repaired; {when}"
        case "waiting_parts":
            return f"{repair.number} waiting for parts; {when}"
        case "completed":
            return (f"{repair.number} repaired, ready to ship back" if repair.ships_to_customer
                    else f"{repair.number} repaired and restocked")
        case "shipped":
            return f"{repair.number} repaired and shipped with {repair.carrier}, tracking {repair.tracking_number}"
        case _:
            outcome = {"replacement": "; a replacement is sent instead", "refund": "; the customer is refunded instead"}
            return f"{repair.number} cannot be repaired{outcome.get(repair.outcome, '')}"


def repair_out(row: Any) -> RepairOut:
    return RepairOut(
        number=row.number, status=row.status, status_text=repair_text(row), sku=row.sku, quantity=row.quantity,
        warehouse=row.warehouse, order=row.order_number, return_number=row.return_number,
        customer={"name": row.customer_name, "email": row.customer_email, "phone": row.customer_phone},
        problem=row.problem, ships_to_customer=row.ships_to_customer, outcome=row.outcome,
        replacement_orders=row.replacement_orders, repair_days=row.repair_days, promised_date=row.promised_date,
        promise_basis=row.promise_basis, reason=row.promise_reason, parts=[PartOut(**p) for p in row.parts],
        carrier=row.carrier, tracking_number=row.tracking_number, created_at=row.created_at,
        started_at=row.started_at, completed_at=row.completed_at, shipped_at=row.shipped_at, version=row.version)


async def repair_view(session: AsyncSession, number: str) -> RepairOut:
    return repair_out(await first_or_404(session, REPAIR_BY_NUMBER, {"n": number}, missing=f"No repair {number}."))


async def _return_out(session: AsyncSession, row: Any) -> ReturnOut:
    lines = [ReturnLineOut(**line) for line in row.lines]
    counts = counts_of(lines)
    dispositions = {"restocked": sum(x.restocked for x in lines), "in repair": sum(x.repaired for x in lines),
                    "scrapped": sum(x.scrapped for x in lines),
                    "returned to the supplier": sum(x.returned_to_supplier for x in lines)}
    refund_left = row.refundable_amount - row.refunded_amount if row.resolution == "refund" else None
    repairs = [repair_out(r) for r in (await session.execute(REPAIRS_OF_RETURN, {"r": row.id})).all()]
    replacements = [ReplacementOut(**x) for x in row.replacements]
    words = [return_text(row.number, row.status, counts, dispositions, refund_left, row.currency)]
    words += [f"replacement {x.number} " + (f"is {x.status}" if x.status in ("shipped", "delivered", "cancelled")
                                            else f"promised for {x.promised_date}" if x.promised_date
                                            else f"not yet promised: {x.reason}") for x in replacements]
    words += [r.status_text for r in repairs if r.status != "shipped" or row.status != "resolved"]
    return ReturnOut(
        number=row.number, order=row.order_number, status=row.status, status_text="; ".join(words),
        resolution=row.resolution, advance_replacement=row.advance_replacement, warehouse=row.warehouse_code,
        currency=row.currency, refundable_amount=row.refundable_amount, refunded_amount=row.refunded_amount,
        lines=lines, replacement_orders=replacements, repairs=repairs,
        refunds=[RefundOut(**f) for f in row.refunds], notes=row.notes, created_by=row.created_by,
        created_at=row.created_at, version=row.version)


async def return_view(session: AsyncSession, number: str) -> ReturnOut:
    return await _return_out(session, await first_or_404(session, RETURN_BY_NUMBER, {"n": number},
                                                         missing=f"No return {number}."))


async def returns_of_order(session: AsyncSession, order_id: int) -> tuple[list[ReturnOut], list[RepairOut], str | None]:
    """An order's returns, its walk-in repairs, and what it replaces (if it is a replacement)."""
    returns = [await _return_out(session, row) for row in (await session.execute(RETURNS_OF_ORDER, {"o": order_id}))]
    repairs = [repair_out(row) for row in (await session.execute(WALK_IN_REPAIRS_OF_ORDER, {"o": order_id}))]
    replaces = (await session.execute(REPLACES, {"o": order_id})).scalar()
    return returns, repairs, replaces
