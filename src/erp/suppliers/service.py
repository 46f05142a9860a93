"""Suppliers and purchase orders: supply that can be promised against (DOMAIN.md section 5).

Every change to dated supply tells inventory (`supply_changed`), so waiting backorders are re-promised in
the same transaction; accepted goods are `stock_added`, so backorders are filled first. Both run with
the products' stock levels locked everywhere, taken before anything else.
"""

import math
from datetime import date, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from erp import events
from erp.auth import Principal
from erp.db import add_unique
from erp.errors import Conflict, InvalidRequest, InvalidTransition, NotFound
from erp.inventory import service as inventory
from erp.suppliers.models import Supplier
from erp.suppliers.schemas import (
    InspectionOut,
    InspectionResult,
    PurchaseOrderCreate,
    PurchaseOrderLineOut,
    PurchaseOrderOut,
    ReceiptCreate,
    ReceiptOut,
    SupplierCreate,
    SupplierProductOut,
    SupplierProductPut,
)


class OverReceipt(Conflict):
    code, title = "over_receipt", "More than ordered"


# --- suppliers --------------------------------------------------------------------------------------


async def get_supplier(session: AsyncSession, code: str) -> Supplier:
    supplier = (await session.execute(text("SELECT * FROM supplier WHERE code = :c"), {"c": code})).first()
    if supplier is None:
        raise NotFound(f"No supplier {code!r}.")
    return Supplier.model_validate(supplier._mapping)


async def create_supplier(session: AsyncSession, data: SupplierCreate) -> Supplier:
    return await add_unique(session, Supplier.model_validate(data), f"A supplier with code {data.code!r} exists.")


async def put_supplier_product(session: AsyncSession, code: str, sku: str, data: SupplierProductPut,
                               actor: Principal) -> SupplierProductOut:
    supplier = await get_supplier(session, code)
    product = await inventory.get_product(session, sku)
    lead_time = supplier.lead_time_days if data.lead_time_days is None else data.lead_time_days
    if data.preferred:
        await session.execute(text(
            "UPDATE supplier_product SET preferred = false WHERE product_id = :p AND supplier_id <> :s AND preferred"
        ), {"p": product.id, "s": supplier.id})
    await session.execute(text("""
        INSERT INTO supplier_product (supplier_id, product_id, supplier_sku, unit_cost, currency, lead_time_days,
                                      min_order_quantity, preferred)
        VALUES (:s, :p, :sku, :cost, :cur, :lead, :moq, :pref)
        ON CONFLICT (supplier_id, product_id) DO UPDATE SET supplier_sku = excluded.supplier_sku,
            unit_cost = excluded.unit_cost, currency = excluded.currency, lead_time_days = excluded.lead_time_days,
            min_order_quantity = excluded.min_order_quantity, preferred = excluded.preferred, updated_at = now()
    """), {"s": supplier.id, "p": product.id, "sku": data.supplier_sku, "cost": data.unit_cost, "cur": data.currency,
           "lead": lead_time, "moq": data.min_order_quantity, "pref": data.preferred})
    # A preferred supplier's lead time is what backorders without dated supply are promised from.
    await inventory.lock_products_everywhere(session, [product.id])
    await inventory.supply_changed(session, [product.id], actor.name)
    return SupplierProductOut(supplier=code, sku=sku, supplier_sku=data.supplier_sku, unit_cost=data.unit_cost,
                              currency=data.currency, lead_time_days=lead_time,
                              min_order_quantity=data.min_order_quantity, preferred=data.preferred)


# --- purchase orders --------------------------------------------------------------------------------


async def create_purchase_order(session: AsyncSession, data: PurchaseOrderCreate, actor: Principal,
                                today: date) -> PurchaseOrderOut:
    supplier = await get_supplier(session, data.supplier)
    warehouse = await inventory.get_warehouse(session, data.warehouse)
    terms = {r.sku: r for r in (await session.execute(text("""
        SELECT p.id, p.sku, sp.unit_cost, sp.currency, sp.lead_time_days FROM product p
          LEFT JOIN supplier_product sp ON sp.product_id = p.id AND sp.supplier_id = :s
         WHERE p.sku = ANY(:skus)
    """), {"s": supplier.id, "skus": [line.sku for line in data.lines]})).all()}
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
        expected = line.expected_date or today + timedelta(days=lead)
        if expected < today:
            raise InvalidRequest(f"{line.sku}: expected_date {expected} is in the past.")
        lines.append({"n": n, "p": term.id, "q": line.quantity, "c": cost, "d": expected})
    currency = data.currency or next((t.currency for t in terms.values() if t.currency), None) or "EUR"
    po = (await session.execute(text("""
        INSERT INTO purchase_order (supplier_id, warehouse_id, inspection_required, currency, created_by)
        VALUES (:s, :w, :i, :c, :a) RETURNING id, number
    """), {"s": supplier.id, "w": warehouse.id, "i": data.inspection_required, "c": currency, "a": actor.name})).one()
    await session.execute(text("""
        INSERT INTO purchase_order_line (purchase_order_id, line_no, product_id, quantity, unit_cost, expected_date,
                                         promised_date)
        VALUES (:po, :n, :p, :q, :c, :d, :d)
    """), [{"po": po.id, **line} for line in lines])
    await events.record(session, "purchase_order.created", po.number, actor.name,
                        data={"supplier": data.supplier, "warehouse": data.warehouse, "lines": len(lines)})
    return await purchase_order_view(session, po.number)


async def purchase_order_view(session: AsyncSession, number: str) -> PurchaseOrderOut:
    head = (await session.execute(text("""
        SELECT po.*, s.code AS supplier, w.code AS warehouse FROM purchase_order po
          JOIN supplier s ON s.id = po.supplier_id JOIN warehouse w ON w.id = po.warehouse_id
         WHERE po.number = :n
    """), {"n": number})).first()
    if head is None:
        raise NotFound(f"No purchase order {number}.")
    lines = (await session.execute(text("""
        SELECT l.line_no, p.sku, l.quantity, l.received, l.rejected, l.unit_cost, l.expected_date, l.promised_date,
               CASE WHEN po.status IN ('sent', 'partially_received', 'draft')
                    THEN greatest(l.quantity - l.received + l.rejected, 0) ELSE 0 END AS open
          FROM purchase_order_line l JOIN product p ON p.id = l.product_id
          JOIN purchase_order po ON po.id = l.purchase_order_id
         WHERE l.purchase_order_id = :id ORDER BY l.line_no
    """), {"id": head.id})).all()
    return PurchaseOrderOut(
        number=head.number, supplier=head.supplier, warehouse=head.warehouse, status=head.status,
        inspection_required=head.inspection_required, currency=head.currency, created_at=head.created_at,
        sent_at=head.sent_at, version=head.version,
        lines=[PurchaseOrderLineOut.model_validate(line._mapping) for line in lines],
    )


async def _lock_purchase_order(session: AsyncSession, number: str) -> Any:
    """Lock the PO's products everywhere (the global lock order), then the PO itself."""
    products = (await session.execute(text(
        "SELECT l.product_id FROM purchase_order_line l JOIN purchase_order po ON po.id = l.purchase_order_id"
        " WHERE po.number = :n"), {"n": number})).scalars().all()
    if not products:
        raise NotFound(f"No purchase order {number}.")
    await inventory.lock_products_everywhere(session, products)
    po = (await session.execute(text("SELECT * FROM purchase_order WHERE number = :n FOR UPDATE"),
                                {"n": number})).one()
    return po, sorted(set(products))


async def _transition(session: AsyncSession, number: str, allowed: tuple[str, ...], to: str, actor: Principal,
                      extra: str = "") -> PurchaseOrderOut:
    po, products = await _lock_purchase_order(session, number)
    if po.status not in allowed:
        raise InvalidTransition(f"Purchase order {number} is {po.status}; it cannot become {to}.{extra}")
    stamp = {"sent": ", sent_at = now()", "closed": ", closed_at = now()", "cancelled": ", closed_at = now()"}[to]
    await session.execute(text(f"UPDATE purchase_order SET status = :s, version = version + 1{stamp} WHERE id = :id"),
                          {"s": to, "id": po.id})
    await events.record(session, f"purchase_order.{to}", number, actor.name, data={"from": po.status})
    await inventory.supply_changed(session, products, actor.name)
    return await purchase_order_view(session, number)


async def send(session: AsyncSession, number: str, actor: Principal) -> PurchaseOrderOut:
    return await _transition(session, number, ("draft",), "sent", actor)


async def cancel(session: AsyncSession, number: str, actor: Principal) -> PurchaseOrderOut:
    return await _transition(session, number, ("draft", "sent"), "cancelled", actor,
                             " Once goods are received, close it instead.")


async def close(session: AsyncSession, number: str, actor: Principal) -> PurchaseOrderOut:
    """Nothing more will come: whatever is still open stops being supply."""
    return await _transition(session, number, ("partially_received", "received"), "closed", actor)


async def move_expected_date(session: AsyncSession, number: str, line_no: int, expected: date, actor: Principal,
                             today: date) -> PurchaseOrderOut:
    po, products = await _lock_purchase_order(session, number)
    if po.status not in ("draft", "sent", "partially_received"):
        raise InvalidTransition(f"Purchase order {number} is {po.status}; its dates are final.")
    if expected < today:
        raise InvalidRequest(f"expected_date {expected} is in the past.")
    line = (await session.execute(text(
        "UPDATE purchase_order_line SET expected_date = :d WHERE purchase_order_id = :po AND line_no = :n"
        " RETURNING (SELECT sku FROM product WHERE id = product_id) AS sku"
    ), {"d": expected, "po": po.id, "n": line_no})).first()
    if line is None:
        raise NotFound(f"Purchase order {number} has no line {line_no}.")
    await session.execute(text("UPDATE purchase_order SET version = version + 1 WHERE id = :id"), {"id": po.id})
    await events.record(session, "purchase_order.date_changed", number, actor.name,
                        data={"line": line_no, "sku": line.sku, "expected_date": expected})
    await inventory.supply_changed(session, products, actor.name)
    return await purchase_order_view(session, number)


async def _refresh_status(session: AsyncSession, po_id: int) -> None:
    await session.execute(text("""
        UPDATE purchase_order po SET status = CASE
                 WHEN NOT EXISTS (SELECT 1 FROM purchase_order_line l WHERE l.purchase_order_id = po.id
                                   AND l.received - l.rejected < l.quantity) THEN 'received'
                 WHEN EXISTS (SELECT 1 FROM purchase_order_line l WHERE l.purchase_order_id = po.id
                               AND l.received > 0) THEN 'partially_received'
                 ELSE po.status END,
               version = version + 1
         WHERE po.id = :id AND po.status IN ('sent', 'partially_received', 'received')
    """), {"id": po_id})
    await session.execute(text("""
        UPDATE purchase_order_line SET fully_received_at = CASE WHEN received - rejected >= quantity
               THEN coalesce(fully_received_at, now()) END
         WHERE purchase_order_id = :id
    """), {"id": po_id})


# --- receiving and inspection -----------------------------------------------------------------------


async def receive(session: AsyncSession, number: str, data: ReceiptCreate, actor: Principal,
                  tolerance_percent: float) -> ReceiptOut:
    po, products = await _lock_purchase_order(session, number)
    if po.status not in ("sent", "partially_received"):
        raise InvalidTransition(f"Purchase order {number} is {po.status}; only a sent order can be received.")
    lines = {r.sku: r for r in (await session.execute(text("""
        SELECT l.id, l.product_id, p.sku, l.quantity, l.received, l.rejected FROM purchase_order_line l
          JOIN product p ON p.id = l.product_id WHERE l.purchase_order_id = :po FOR UPDATE OF l
    """), {"po": po.id})).all()}
    into = "quarantine" if po.inspection_required else "receiving"
    target = await inventory.location_of_type(session, po.warehouse_id, into)
    supplier_location = await inventory.location_of_type(session, po.warehouse_id, "supplier")
    inspections = []
    for item in data.lines:
        line = lines.get(item.sku)
        if line is None:
            raise InvalidRequest(f"Purchase order {number} has no line for {item.sku}.")
        allowed = math.floor(line.quantity * (1 + tolerance_percent / 100))
        kept = line.received - line.rejected
        if kept + item.quantity > allowed:
            raise OverReceipt(f"{item.sku}: {kept} of {line.quantity} already received; {item.quantity} more "
                              f"exceeds the {tolerance_percent:g}% tolerance (at most {allowed - kept} more).")
        await inventory.record_move(session, product_id=line.product_id, from_location_id=supplier_location.id,
                                    to_location_id=target.id, quantity=item.quantity, reason="receipt",
                                    reference=number, actor=actor.name)
        await session.execute(text("UPDATE purchase_order_line SET received = received + :q WHERE id = :id"),
                              {"q": item.quantity, "id": line.id})
        inspections.append((await session.execute(text("""
            INSERT INTO inspection (purchase_order_line_id, product_id, location_id, quantity, received_by)
            VALUES (:l, :p, :loc, :q, :a) RETURNING id
        """), {"l": line.id, "p": line.product_id, "loc": target.id, "q": item.quantity, "a": actor.name})).scalar())
    await _refresh_status(session, po.id)
    await events.record(session, "purchase_order.received", number, actor.name,
                        data={"lines": [x.model_dump() for x in data.lines], "into": into})
    await inventory.supply_changed(session, products, actor.name)
    return ReceiptOut(purchase_order=await purchase_order_view(session, number),
                      inspections=[await get_inspection(session, i) for i in inspections])


INSPECTION = """
    SELECT i.id, po.number AS purchase_order, p.sku, w.code || '/' || loc.code AS location, i.quantity, i.accepted,
           i.rejected, i.status, i.notes, i.received_by, i.inspected_by, i.created_at
      FROM inspection i JOIN purchase_order_line l ON l.id = i.purchase_order_line_id
      JOIN purchase_order po ON po.id = l.purchase_order_id JOIN product p ON p.id = i.product_id
      JOIN location loc ON loc.id = i.location_id JOIN warehouse w ON w.id = loc.warehouse_id
"""


async def get_inspection(session: AsyncSession, inspection_id: int) -> InspectionOut:
    row = (await session.execute(text(INSPECTION + " WHERE i.id = :id"), {"id": inspection_id})).first()
    if row is None:
        raise NotFound(f"No inspection {inspection_id}.")
    return InspectionOut.model_validate(row._mapping)


async def inspect(session: AsyncSession, inspection_id: int, data: InspectionResult, actor: Principal) -> InspectionOut:
    """Accepted units go to storage (and fill backorders); rejected ones go back to the supplier."""
    head = (await session.execute(text(
        "SELECT i.product_id, l.purchase_order_id FROM inspection i"
        " JOIN purchase_order_line l ON l.id = i.purchase_order_line_id WHERE i.id = :id"
    ), {"id": inspection_id})).first()
    if head is None:
        raise NotFound(f"No inspection {inspection_id}.")
    await inventory.lock_products_everywhere(session, [head.product_id])
    row = (await session.execute(text(
        "SELECT i.*, po.warehouse_id, po.number FROM inspection i JOIN purchase_order_line l"
        " ON l.id = i.purchase_order_line_id JOIN purchase_order po ON po.id = l.purchase_order_id"
        " WHERE i.id = :id FOR UPDATE OF i"
    ), {"id": inspection_id})).one()
    if row.status != "pending":
        raise InvalidTransition(f"Inspection {inspection_id} is already done.")
    if data.accepted + data.rejected != row.quantity:
        raise InvalidRequest(f"accepted + rejected must be {row.quantity}, the units received; "
                             f"got {data.accepted + data.rejected}.")
    if data.accepted:
        bin_id = await _putaway_bin(session, row.warehouse_id, row.product_id, data.location)
        await inventory.record_move(session, product_id=row.product_id, from_location_id=row.location_id,
                                    to_location_id=bin_id, quantity=data.accepted, reason="inspection_accepted",
                                    reference=row.number, actor=actor.name)
    if data.rejected:
        supplier_location = await inventory.location_of_type(session, row.warehouse_id, "supplier")
        await inventory.record_move(session, product_id=row.product_id, from_location_id=row.location_id,
                                    to_location_id=supplier_location.id, quantity=data.rejected,
                                    reason="inspection_rejected", reference=row.number, actor=actor.name)
        await session.execute(text("UPDATE purchase_order_line SET rejected = rejected + :q WHERE id = :id"),
                              {"q": data.rejected, "id": row.purchase_order_line_id})
    await session.execute(text("""
        UPDATE inspection SET accepted = :a, rejected = :r, notes = :n, status = 'done', inspected_by = :by,
               inspected_at = now() WHERE id = :id
    """), {"a": data.accepted, "r": data.rejected, "n": data.notes, "by": actor.name, "id": inspection_id})
    await _refresh_status(session, head.purchase_order_id)
    await events.record(session, "purchase_order.inspected", row.number, actor.name,
                        data={"inspection": inspection_id, "accepted": data.accepted, "rejected": data.rejected})
    if data.accepted:
        await inventory.stock_added(session, [row.product_id], actor.name)
    await inventory.supply_changed(session, [row.product_id], actor.name)
    return await get_inspection(session, inspection_id)


async def _putaway_bin(session: AsyncSession, warehouse_id: int, product_id: int, address: str | None) -> int:
    if address is not None:
        location, warehouse = await inventory.resolve_location(session, address)
        if warehouse.id != warehouse_id or location.type != "storage":
            raise InvalidRequest(f"{address} is not a storage bin of the receiving warehouse.")
        return location.id
    chosen = (await session.execute(text("""
        SELECT loc.id FROM location loc
          LEFT JOIN location_balance b ON b.location_id = loc.id AND b.product_id = :p
         WHERE loc.warehouse_id = :w AND loc.type = 'storage'
         ORDER BY coalesce(b.quantity, 0) > 0 DESC, loc.sequence, loc.code LIMIT 1
    """), {"p": product_id, "w": warehouse_id})).scalar()
    if chosen is None:
        raise InvalidTransition("The warehouse has no storage bin to put accepted goods in; create one first.")
    return chosen
