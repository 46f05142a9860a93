"""How suppliers perform: on-time rate, fill rate, defect rate, promised vs actual lead time.

Defect rate = (units rejected at receipt inspection + units found defective after acceptance, from returns)
/ units received from the supplier, in the period (DOMAIN.md section 4)."""

from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from erp.errors import InvalidRequest
from erp.suppliers import service
from erp.suppliers.schemas import Scorecard

# Purchase-order lines due (first promised) in the period.
DUE = text("""
    SELECT count(*) AS lines,
           count(*) FILTER (WHERE l.fully_received_at::date <= l.promised_date) AS on_time,
           sum(l.quantity) AS ordered,
           sum(least(l.received - l.rejected, l.quantity)) AS filled,
           avg(l.promised_date - po.sent_at::date) AS promised_lead,
           avg(l.fully_received_at::date - po.sent_at::date) AS actual_lead
      FROM purchase_order_line l JOIN purchase_order po ON po.id = l.purchase_order_id
     WHERE po.supplier_id = :s AND po.status NOT IN ('draft', 'cancelled')
       AND l.promised_date BETWEEN :f AND :t
""")
# Units found defective after they were accepted (returned as defective, or sent back from a return).
DEFECTS = text("SELECT coalesce(sum(quantity), 0) FROM supplier_defect WHERE supplier_id = :s"
               " AND created_at::date BETWEEN :f AND :t")
PREFERRED_SUPPLIER = text("SELECT supplier_id FROM supplier_product WHERE product_id = :p AND preferred")
INSERT_DEFECT = text("INSERT INTO supplier_defect (supplier_id, product_id, quantity, reason, reference)"
                     " VALUES (:s, :p, :q, :reason, :reference)")
# Receipts inspected in the period.
INSPECTED = text("""
    SELECT coalesce(sum(i.quantity), 0) AS received, coalesce(sum(i.rejected), 0) AS rejected
      FROM inspection i JOIN purchase_order_line l ON l.id = i.purchase_order_line_id
      JOIN purchase_order po ON po.id = l.purchase_order_id
     WHERE po.supplier_id = :s AND i.status = 'done' AND i.inspected_at::date BETWEEN :f AND :t
""")


def _rate(part: Any, whole: Any) -> float | None:
    return round(float(part) / float(whole), 4) if whole else None


async def scorecard(session: AsyncSession, code: str, period_from: date, period_to: date) -> Scorecard:
    if period_to < period_from:
        raise InvalidRequest("to must not be before from.")
    supplier = await service.get_supplier(session, code)
    due = (await session.execute(DUE, {"s": supplier.id, "f": period_from, "t": period_to})).one()
    inspected = (await session.execute(INSPECTED, {"s": supplier.id, "f": period_from, "t": period_to})).one()
    defects = (await session.execute(DEFECTS, {"s": supplier.id, "f": period_from, "t": period_to})).scalar_one()
    return Scorecard(
        supplier=code, period_from=period_from, period_to=period_to, lines_due=due.lines,
        on_time_rate=_rate(due.on_time, due.lines), fill_rate=_rate(due.filled, due.ordered),
        defect_rate=_rate(inspected.rejected + defects, inspected.received),
        promised_lead_time_days=None if due.promised_lead is None else round(float(due.promised_lead), 2),
        actual_lead_time_days=None if due.actual_lead is None else round(float(due.actual_lead), 2),
    )


async def record_defect(session: AsyncSession, product_id: int, quantity: int, reason: str, reference: str) -> None:
    """Units of a product found defective after acceptance, charged to its preferred supplier (none: nobody)."""
    supplier_id = (await session.execute(PREFERRED_SUPPLIER, {"p": product_id})).scalar()
    if supplier_id is not None:
        await session.execute(INSERT_DEFECT, {"s": supplier_id, "p": product_id, "q": quantity, "reason": reason,
                                              "reference": reference})
