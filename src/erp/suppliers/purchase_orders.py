"""Purchase orders: draft -> sent -> partially_received -> received -> closed, or cancelled; dated lines
whose open quantity is supply that backorders are promised from (DOMAIN.md section 5).

Every change to dated supply says so on the bus (`SupplyChanged`), so waiting backorders are
re-promised in the same transaction, with the products' stock levels locked everywhere first.
"""

from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from erp import bus, events
from erp.auth import Principal
from erp.concurrency import IfMatch
from erp.db import first_or_404
from erp.errors import InvalidRequest, InvalidTransition, NotFound
from erp.inventory import catalogue, ledger
from erp.inventory.availability import days_after
from erp.inventory.messages import SupplyChanged
from erp.suppliers.schemas import PurchaseOrderCreate, PurchaseOrderLineOut, PurchaseOrderOut
from erp.suppliers.service import get_supplier

TERMS = text("""
    SELECT p.id, p.sku, sp.unit_cost, sp.currency, sp.lead_time_days FROM product p
      LEFT JOIN supplier_product sp ON sp.product_id = p.id AND sp.supplier_id = :s
     WHERE p.sku = ANY(:skus)
""")
INSERT_PO = text("""
    INSERT INTO purchase_order (supplier_id, warehouse_id, inspection_required, currency, created_by)
    VALUES (:s, :w, :i, :c, :a) RETURNING id, number
""")
INSERT_PO_LINE = text("""
    INSERT INTO purchase_order_line (purchase_order_id, line_no, product_id, quantity, unit_cost, expected_date,
                                     promised_date)
    VALUES (:po, :n, :p, :q, :c, :d, :d)
""")
PO_HEAD = text("""
    SELECT po.*, s.code AS supplier, w.code AS warehouse FROM purchase_order po
      JOIN supplier s ON s.id = po.supplier_id JOIN warehouse w ON w.id = po.warehouse_id
     WHERE po.number = :n
""")
PO_LINES = text("""
    SELECT l.line_no, p.sku, l.quantity, l.received, l.rejected, l.unit_cost, l.expected_date, l.promised_date,
           CASE WHEN po.status IN ('sent', 'partially_received', 'draft')
                THEN greatest(l.quantity - l.received + l.rejected, 0) ELSE 0 END AS open
      FROM purchase_order_line l JOIN product p ON p.id = l.product_id
      JOIN purchase_order po ON po.id = l.purchase_order_id
     WHERE l.purchase_order_id = :id ORDER BY l.line_no
""")
PO_PRODUCTS = text(
    "SELECT l.product_id FROM purchase_order_line l JOIN purchase_order po ON po.id = l.purchase_order_id"
    " WHERE po.number = :n"
)
LOCK_PO = text("SELECT * FROM purchase_order WHERE number = :n FOR UPDATE")
MOVE_DATE = text(
    "UPDATE purchase_order_line SET expected_date = :d WHERE purchase_order_id = :po AND line_no = :n"
    " RETURNING (SELECT sku FROM product WHERE id = product_id) AS sku"
)
BUMP_VERSION = text("UPDATE purchase_order SET version = version + 1 WHERE id = :id")
REFRESH_STATUS = text("""
    UPDATE purchase_order po SET status = CASE
             WHEN NOT EXISTS (SELECT 1 FROM purchase_order_line l WHERE l.purchase_order_id = po.id
                               AND l.received - l.rejected < l.quantity) THEN 'received'
             WHEN EXISTS (SELECT 1 FROM purchase_order_line l WHERE l.purchase_order_id = po.id
                           AND l.received > 0) THEN 'partially_received'
             ELSE po.status END,
           version = version + 1
     WHERE po.id = :id AND po.status IN ('sent', 'partially_received', 'received')
""")
STAMP_FULLY_RECEIVED = text("""
    UPDATE purchase_order_line SET fully_received_at = CASE WHEN received - rejected >= quantity
           THEN coalesce(fully_received_at, now()) END
     WHERE purchase_order_id = :id
""")


async def create_purchase_order(session: AsyncSession, data: PurchaseOrderCreate, actor: Principal,
                                today: date) -> PurchaseOrderOut:
    supplier = await get_supplier(session, data.supplier)
    warehouse = await catalogue.get_warehouse(session, data.warehouse)
    terms = {r.sku: r for r in (await session.execute(
        TERMS, {"s": supplier.id, "skus": [line.sku for line in data.lines]})).all()}
    missing = sorted({line.sku for line in data.lines} - terms.keys())
    if missing:
        raise NotFound(f"No product {', '.join(missing)}.")
    lines = []
    for n, line in enumerate(data.lines, 1):
        term = terms[line.sku]
        cost = line.unit_cost if line.unit_cost is not None else term.unit_cost
        if cost is None:
            raise InvalidRequest(f"{line.sku}: no unit_cost given and {data.supplier} has no price for it.")
        lead = term.lead_time_days if term.lead_time_days is not None else supplier.lead_time_days
        expected = line.expected_date or days_after(today, lead)
        if expected < today:
            raise InvalidRequest(f"{line.sku}: expected_date {expected} is in the past.")
        lines.append({"n": n, "p": term.id, "q": line.quantity, "c": cost, "d": expected})
    currency = data.currency or next((t.currency for t in terms.values() if t.currency), None) or "EUR"
    po = (await session.execute(INSERT_PO, {"s": supplier.id, "w": warehouse.id, "i": data.inspection_required,
                                            "c": currency, "a": actor.name})).one()
    await session.execute(INSERT_PO_LINE, [{"po": po.id, **line} for line in lines])
    await events.record(session, "purchase_order.created", po.number, actor.name,
                        data={"supplier": data.supplier, "warehouse": data.warehouse, "lines": len(lines)})
    return await purchase_order_view(session, po.number)


async def purchase_order_view(session: AsyncSession, number: str) -> PurchaseOrderOut:
    head = await first_or_404(session, PO_HEAD, {"n": number}, missing=f"No purchase order {number}.")
    lines = (await session.execute(PO_LINES, {"id": head.id})).all()
    return PurchaseOrderOut(
        number=head.number, supplier=head.supplier, warehouse=head.warehouse, status=head.status,
        inspection_required=head.inspection_required, currency=head.currency, created_at=head.created_at,
        sent_at=head.sent_at, version=head.version,
        lines=[PurchaseOrderLineOut.model_validate(line._mapping) for line in lines],
    )


async def lock_purchase_order(session: AsyncSession, number: str) -> tuple[Any, list[int]]:
    """Lock the PO's products everywhere (the global lock order), then the PO itself; return the PO row
    and its products."""
    products = (await session.execute(PO_PRODUCTS, {"n": number})).scalars().all()
    if not products:
        raise NotFound(f"No purchase order {number}.")
    await ledger.lock_products_everywhere(session, products)
    po = (await session.execute(LOCK_PO, {"n": number})).one()
    return po, sorted(set(products))


# Each transition: the states it leaves from, and the timestamp it sets.
TRANSITIONS = {
    "sent": (("draft",), "sent_at = now(), "),
    "cancelled": (("draft", "sent"), "closed_at = now(), "),
    "closed": (("partially_received", "received"), "closed_at = now(), "),
}
SET_STATUS = {to: text(f"UPDATE purchase_order SET {stamp}status = :s, version = version + 1 WHERE id = :id")
              for to, (_, stamp) in TRANSITIONS.items()}


async def _transition(session: AsyncSession, number: str, to: str, actor: Principal, expected: IfMatch | None,
                      extra: str = "") -> PurchaseOrderOut:
    po, products = await lock_purchase_order(session, number)
    if expected is not None:
        expected.check(po.version, f"Purchase order {number}")
    if po.status not in TRANSITIONS[to][0]:
        raise InvalidTransition(f"Purchase order {number} is {po.status}; it cannot become {to}.{extra}")
    await session.execute(SET_STATUS[to], {"s": to, "id": po.id})
    await events.record(session, f"purchase_order.{to}", number, actor.name, data={"from": po.status})
    await bus.publish(session, SupplyChanged(tuple(products), actor.name))
    return await purchase_order_view(session, number)


async def send(session: AsyncSession, number: str, actor: Principal,
               expected: IfMatch | None = None) -> PurchaseOrderOut:
    return await _transition(session, number, "sent", actor, expected)


async def cancel(session: AsyncSession, number: str, actor: Principal,
                 expected: IfMatch | None = None) -> PurchaseOrderOut:
    return await _transition(session, number, "cancelled", actor, expected,
                             " Once goods are received, close it instead.")


async def close(session: AsyncSession, number: str, actor: Principal,
                expected: IfMatch | None = None) -> PurchaseOrderOut:
    """Nothing more will come: whatever is still open stops being supply."""
    return await _transition(session, number, "closed", actor, expected)


async def move_expected_date(session: AsyncSession, number: str, line_no: int, expected: date, actor: Principal,
                             today: date, if_match: IfMatch | None = None) -> PurchaseOrderOut:
    po, products = await lock_purchase_order(session, number)
    if if_match is not None:
        if_match.check(po.version, f"Purchase order {number}")
    if po.status not in ("draft", "sent", "partially_received"):
        raise InvalidTransition(f"Purchase order {number} is {po.status}; its dates are final.")
    if expected < today:
        raise InvalidRequest(f"expected_date {expected} is in the past.")
    line = (await session.execute(MOVE_DATE, {"d": expected, "po": po.id, "n": line_no})).first()
    if line is None:
        raise NotFound(f"Purchase order {number} has no line {line_no}.")
    await session.execute(BUMP_VERSION, {"id": po.id})
    await events.record(session, "purchase_order.date_changed", number, actor.name,
                        data={"line": line_no, "sku": line.sku, "expected_date": expected})
    await bus.publish(session, SupplyChanged(tuple(products), actor.name))
    return await purchase_order_view(session, number)


async def refresh_status(session: AsyncSession, po_id: int) -> None:
    """Received or partially received, from the lines' quantities; lines stamped when fully received."""
    await session.execute(REFRESH_STATUS, {"id": po_id})
    await session.execute(STAMP_FULLY_RECEIVED, {"id": po_id})
