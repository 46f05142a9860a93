"""How suppliers perform: on-time rate, fill rate, defect rate, promised vs actual lead time.

Defect rate = (units rejected at receipt inspection + units found defective after acceptance, from returns)
/ units received from the supplier, in the period (DOMAIN.md section 4)."""

from datetime import date
from typing import Any, NamedTuple

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from erp.errors import InvalidRequest
from erp.suppliers import service
from erp.suppliers.schemas import Scorecard

# Purchase-order lines due (first promised) in the period, per supplier.
DUE = text("""
    SELECT po.supplier_id, count(*) AS lines,
           count(*) FILTER (WHERE l.fully_received_at::date <= l.promised_date) AS on_time,
           sum(l.quantity) AS ordered,
           sum(least(l.received - l.rejected, l.quantity)) AS filled,
           avg(l.promised_date - po.sent_at::date) AS promised_lead,
           avg(l.fully_received_at::date - po.sent_at::date) AS actual_lead
      FROM purchase_order_line l JOIN purchase_order po ON po.id = l.purchase_order_id
     WHERE po.supplier_id = ANY(:s) AND po.status NOT IN ('draft', 'cancelled')
       AND l.promised_date BETWEEN :f AND :t
     GROUP BY po.supplier_id
""")
# Units found defective after they were accepted (returned as defective, or sent back from a return).
DEFECTS = text("SELECT supplier_id, sum(quantity) AS units FROM supplier_defect WHERE supplier_id = ANY(:s)"
               " AND created_at::date BETWEEN :f AND :t GROUP BY supplier_id")
PREFERRED_SUPPLIER = text("SELECT supplier_id FROM supplier_product WHERE product_id = :p AND preferred")
INSERT_DEFECT = text("INSERT INTO supplier_defect (supplier_id, product_id, quantity, reason, reference)"
                     " VALUES (:s, :p, :q, :reason, :reference)")
# Receipts inspected in the period, per supplier.
INSPECTED = text("""
    SELECT po.supplier_id, sum(i.quantity) AS received, sum(i.rejected) AS rejected
      FROM inspection i JOIN purchase_order_line l ON l.id = i.purchase_order_line_id
      JOIN purchase_order po ON po.id = l.purchase_order_id
     WHERE po.supplier_id = ANY(:s) AND i.status = 'done' AND i.inspected_at::date BETWEEN :f AND :t
     GROUP BY po.supplier_id
""")
ALL_SUPPLIERS = text("SELECT id, code FROM supplier ORDER BY code")


class Due(NamedTuple):
    lines: int = 0
    on_time: int = 0
    ordered: int = 0
    filled: int = 0
    promised_lead: Any = None
    actual_lead: Any = None


class Inspected(NamedTuple):
    received: int = 0
    rejected: int = 0


def _rate(part: Any, whole: Any) -> float | None:
    return round(float(part) / float(whole), 4) if whole else None


def _days(value: Any) -> float | None:
    return None if value is None else round(float(value), 2)


async def scorecard(session: AsyncSession, code: str, period_from: date, period_to: date) -> Scorecard:
    if period_to < period_from:
        raise InvalidRequest("to must not be before from.")
    supplier = await service.get_supplier(session, code)
    (card,) = await scorecards(session, {supplier.id: code}, period_from, period_to)
    return card


async def all_scorecards(session: AsyncSession, period_from: date, period_to: date) -> list[Scorecard]:
    """Every supplier's scorecard for the period, by code, in four statements whatever their number."""
    suppliers = {row.id: row.code for row in (await session.execute(ALL_SUPPLIERS)).all()}
    return await scorecards(session, suppliers, period_from, period_to) if suppliers else []


async def scorecards(session: AsyncSession, suppliers: dict[int, str], period_from: date,
                     period_to: date) -> list[Scorecard]:
    """The scorecards of `suppliers` (id: code), in that order."""
    params = {"s": list(suppliers), "f": period_from, "t": period_to}
    due = {r.supplier_id: Due(*r[1:]) for r in (await session.execute(DUE, params)).all()}
    inspected = {r.supplier_id: Inspected(r.received, r.rejected) for r in (await session.execute(INSPECTED, params)).all()}
    defects = dict((await session.execute(DEFECTS, params)).all())
    cards = []
    for supplier_id, code in suppliers.items():
        lines, seen = due.get(supplier_id, Due()), inspected.get(supplier_id, Inspected())
        cards.append(Scorecard(
            supplier=code, period_from=period_from, period_to=period_to, lines_due=lines.lines,
            on_time_rate=_rate(lines.on_time, lines.lines), fill_rate=_rate(lines.filled, lines.ordered),
            defect_rate=_rate(seen.rejected + defects.get(supplier_id, 0), seen.received),
            promised_lead_time_days=_days(lines.promised_lead), actual_lead_time_days=_days(lines.actual_lead),
        ))
    return cards


async def record_defect(session: AsyncSession, product_id: int, quantity: int, reason: str, reference: str) -> None:
    """Units of a product found defective after acceptance, charged to its preferred supplier (none: nobody)."""
    supplier_id = (await session.execute(PREFERRED_SUPPLIER, {"p": product_id})).scalar()
    if supplier_id is not None:
        await session.execute(INSERT_DEFECT, {"s": supplier_id, "p": product_id, "q": quantity, "reason": reason,
                                              "reference": reference})
