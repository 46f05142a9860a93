"""Goods in: receipts against purchase orders (within a tolerance) and their inspection."""

import math

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from erp import bus, events
from erp.auth import Principal, same_identity
from erp.db import first_or_404
from erp.errors import Conflict, Forbidden, InvalidRequest, InvalidTransition
from erp.inventory import catalogue, ledger
from erp.inventory.messages import StockAdded, SupplyChanged
from erp.suppliers.purchase_orders import lock_purchase_order, purchase_order_view, refresh_status
from erp.suppliers.schemas import InspectionOut, InspectionResult, ReceiptCreate, ReceiptOut

RECEIVABLE_LINES = text("""
    SELECT l.id, l.product_id, p.sku, l.quantity, l.received, l.rejected FROM purchase_order_line l
      JOIN product p ON p.id = l.product_id WHERE l.purchase_order_id = :po FOR UPDATE OF l
""")
ADD_RECEIVED = text("UPDATE purchase_order_line SET received = received + :q WHERE id = :id")
INSERT_INSPECTION = text("""
    INSERT INTO inspection (purchase_order_line_id, product_id, location_id, quantity, received_by,
                            received_by_key_id, received_by_person_id)
    VALUES (:l, :p, :loc, :q, :a, :k, :person) RETURNING id
""")
INSPECTION = text("""
    SELECT i.id, po.number AS purchase_order, p.sku, w.code || '/' || loc.code AS location, i.quantity, i.accepted,
           i.rejected, i.status, i.notes, i.received_by, i.inspected_by, i.created_at
      FROM inspection i JOIN purchase_order_line l ON l.id = i.purchase_order_line_id
      JOIN purchase_order po ON po.id = l.purchase_order_id JOIN product p ON p.id = i.product_id
      JOIN location loc ON loc.id = i.location_id JOIN warehouse w ON w.id = loc.warehouse_id
     WHERE i.id = :id
""")
INSPECTION_PRODUCT = text(
    "SELECT i.product_id, l.purchase_order_id FROM inspection i"
    " JOIN purchase_order_line l ON l.id = i.purchase_order_line_id WHERE i.id = :id"
)
LOCK_INSPECTION = text(
    "SELECT i.*, po.warehouse_id, po.number FROM inspection i JOIN purchase_order_line l"
    " ON l.id = i.purchase_order_line_id JOIN purchase_order po ON po.id = l.purchase_order_id"
    " WHERE i.id = :id FOR UPDATE OF i"
)
ADD_REJECTED = text("UPDATE purchase_order_line SET rejected = rejected + :q WHERE id = :id")
RECORD_INSPECTION = text("""
    UPDATE inspection SET accepted = :a, rejected = :r, notes = :n, status = 'done', inspected_by = :by,
           inspected_at = now() WHERE id = :id
""")


class OverReceipt(Conflict):
    code, title = "over_receipt", "More than ordered"


async def receive(session: AsyncSession, number: str, data: ReceiptCreate, actor: Principal,
                  tolerance_percent: float) -> ReceiptOut:
    po, products = await lock_purchase_order(session, number)
    if po.status not in ("sent", "partially_received"):
        raise InvalidTransition(f"Purchase order {number} is {po.status}; only a sent order can be received.")
    lines = {r.sku: r for r in (await session.execute(RECEIVABLE_LINES, {"po": po.id})).all()}
    into = "quarantine" if po.inspection_required else "receiving"
    target = await catalogue.location_of_type(session, po.warehouse_id, into)
    supplier_location = await catalogue.location_of_type(session, po.warehouse_id, "supplier")
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
        await ledger.record_move(session, product_id=line.product_id, from_location_id=supplier_location.id,
                                 to_location_id=target.id, quantity=item.quantity, reason="receipt",
                                 reference=number, actor=actor.name)
        await session.execute(ADD_RECEIVED, {"q": item.quantity, "id": line.id})
        inspections.append((await session.execute(INSERT_INSPECTION, {
            "l": line.id, "p": line.product_id, "loc": target.id, "q": item.quantity, "a": actor.name,
            "k": actor.key_id, "person": actor.person_id})).scalar())
    await refresh_status(session, po.id)
    await events.record(session, "purchase_order.received", number, actor.name,
                        data={"lines": [x.model_dump() for x in data.lines], "into": into})
    await bus.publish(session, SupplyChanged(tuple(products), actor.name))
    return ReceiptOut(purchase_order=await purchase_order_view(session, number),
                      inspections=[await get_inspection(session, i) for i in inspections])


async def get_inspection(session: AsyncSession, inspection_id: int) -> InspectionOut:
    row = await first_or_404(session, INSPECTION, {"id": inspection_id}, missing=f"No inspection {inspection_id}.")
    return InspectionOut.model_validate(row._mapping)


async def inspect(session: AsyncSession, inspection_id: int, data: InspectionResult, actor: Principal) -> InspectionOut:
    """Accepted units go to storage (and fill backorders); rejected ones go back to the supplier. A second
    person inspects: not the one who received the goods (DOMAIN.md section 8)."""
    head = await first_or_404(session, INSPECTION_PRODUCT, {"id": inspection_id},
                              missing=f"No inspection {inspection_id}.")
    await ledger.lock_products_everywhere(session, [head.product_id])
    row = (await session.execute(LOCK_INSPECTION, {"id": inspection_id})).one()
    if row.status != "pending":
        raise InvalidTransition(f"Inspection {inspection_id} is already done.")
    if same_identity(actor, row.received_by_key_id, row.received_by_person_id):
        raise Forbidden(f"{actor.name} received these goods; a second person must inspect them.")
    if data.accepted + data.rejected != row.quantity:
        raise InvalidRequest(f"accepted + rejected must be {row.quantity}, the units received; "
                             f"got {data.accepted + data.rejected}.")
    if data.accepted:
        bin_id = await catalogue.putaway_bin(session, row.warehouse_id, row.product_id, data.location)
        await ledger.record_move(session, product_id=row.product_id, from_location_id=row.location_id,
                                 to_location_id=bin_id, quantity=data.accepted, reason="inspection_accepted",
                                 reference=row.number, actor=actor.name)
    if data.rejected:
        supplier_location = await catalogue.location_of_type(session, row.warehouse_id, "supplier")
        await ledger.record_move(session, product_id=row.product_id, from_location_id=row.location_id,
                                 to_location_id=supplier_location.id, quantity=data.rejected,
                                 reason="inspection_rejected", reference=row.number, actor=actor.name)
        await session.execute(ADD_REJECTED, {"q": data.rejected, "id": row.purchase_order_line_id})
    await session.execute(RECORD_INSPECTION, {"a": data.accepted, "r": data.rejected, "n": data.notes, "by": actor.name, "id": inspection_id})
    await refresh_status(session, head.purchase_order_id)
    await events.record(session, "purchase_order.inspected", row.number, actor.name,
                        data={"inspection": inspection_id, "accepted": data.accepted, "rejected": data.rejected})
    if data.accepted:
        await bus.publish(session, StockAdded((row.product_id,), actor.name))
    await bus.publish(session, SupplyChanged((row.product_id,), actor.name))
    return await get_inspection(session, inspection_id)
