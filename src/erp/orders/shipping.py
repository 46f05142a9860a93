"""After picking: four-eyes packing, shipments (partial ones too) and delivery."""

import json
from collections import defaultdict
from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from erp import bus, events
from erp.auth import Principal, same_identity
from erp.concurrency import IfMatch
from erp.errors import Forbidden, InvalidTransition, PackMismatch
from erp.inventory import catalogue, ledger
from erp.orders.lines import check_version, current_status, order_id, refresh_status
from erp.orders.messages import OrderShipped
from erp.orders.schemas import PackRequest, ShipmentCreate

UNPACKED = text("""
    SELECT l.id, l.product_id, p.sku, p.barcode, l.picked - l.packed AS unpacked FROM order_line l
      JOIN product p ON p.id = l.product_id WHERE l.order_id = :id AND l.picked > l.packed FOR UPDATE OF l
""")
PICKERS = text(
    "SELECT DISTINCT p.picked_by_key_id, p.picked_by_person_id FROM pick_list_line p JOIN order_line l ON l.id = p.order_line_id"
    " WHERE l.order_id = :id AND p.picked > 0"
)
PACK_ALL = text("UPDATE order_line SET packed = picked WHERE order_id = :id AND picked > packed")
SHIPPABLE = text("""
    SELECT l.id, l.product_id, p.sku, l.packed - l.shipped AS shippable FROM order_line l
      JOIN product p ON p.id = l.product_id WHERE l.order_id = :id ORDER BY l.product_id FOR UPDATE OF l
""")
# Picked units wait in the packing location of the warehouse they were picked in, until shipped from it.
IN_PACKING = text("""
    SELECT l.id AS line_id, loc.warehouse_id, sum(p.picked) - coalesce((
             SELECT sum(m.quantity) FROM stock_move m JOIN location f ON f.id = m.from_location_id
              WHERE m.reference = :number AND m.reason = 'ship' AND m.product_id = l.product_id
                AND f.warehouse_id = loc.warehouse_id), 0) AS in_packing
      FROM pick_list_line p JOIN location loc ON loc.id = p.location_id JOIN order_line l ON l.id = p.order_line_id
      JOIN warehouse w ON w.id = loc.warehouse_id
     WHERE l.order_id = :id GROUP BY l.id, l.product_id, loc.warehouse_id, w.priority
     ORDER BY w.priority, loc.warehouse_id
""")
ADD_SHIPPED = text("UPDATE order_line SET shipped = shipped + :q, shipped_at = now() WHERE id = :id")
INSERT_SHIPMENT = text(
    "INSERT INTO shipment (order_id, carrier, tracking_number, lines, created_by)"
    " VALUES (:o, :c, :t, CAST(:l AS jsonb), :a)"
)
DELIVERED = text("UPDATE sales_order SET delivered_at = now() WHERE id = :id")


async def pack(session: AsyncSession, number: str, data: PackRequest, actor: Principal, today: date,
               expected: IfMatch | None = None) -> None:
    """A second person scans what goes into the box: it must be exactly what was picked and not packed."""
    oid = await order_id(session, number, lock=True)
    await check_version(session, oid, number, expected)
    lines = (await session.execute(UNPACKED, {"id": oid})).all()
    if not lines:
        raise InvalidTransition(f"Order {number} is {await current_status(session, oid)}: nothing picked is "
                                "waiting to be packed.")
    pickers = (await session.execute(PICKERS, {"id": oid})).all()
    if any(same_identity(actor, picker.picked_by_key_id, picker.picked_by_person_id) for picker in pickers):
        raise Forbidden(f"{actor.name} picked this order; a second person must verify and pack it.")
    by_sku = {line.sku: line for line in lines}
    by_barcode = {line.barcode: line for line in lines if line.barcode}
    scanned: dict[str, int] = defaultdict(int)
    unknown = []
    for item in data.items:
        line = by_sku.get(item.sku) if item.sku else by_barcode.get(item.barcode)
        if line is None:
            unknown.append(item.sku or item.barcode)
        else:
            scanned[line.sku] += item.quantity
    differences = [f"{sku}: scanned {scanned.get(sku, 0)}, picked {line.unpacked}"
                   for sku, line in by_sku.items() if scanned.get(sku, 0) != line.unpacked]
    if unknown or differences:
        problems = ([f"not in this order's picks: {', '.join(map(str, unknown))}"] if unknown else []) + differences
        await events.record(session, "order.pack_mismatch", number, actor.name, order_id=oid,
                            data={"problems": problems})
        raise PackMismatch(f"Packing blocked for {number}: " + "; ".join(problems) + ".")
    await session.execute(PACK_ALL, {"id": oid})
    await events.record(session, "order.packed", number, actor.name, order_id=oid,
                        data={"items": [{"sku": sku, "quantity": q} for sku, q in scanned.items()]})
    await refresh_status(session, oid, actor.name)


async def ship(session: AsyncSession, number: str, data: ShipmentCreate, actor: Principal,
               expected: IfMatch | None = None) -> None:
    oid = await order_id(session, number, lock=True)
    await check_version(session, oid, number, expected)
    lines = {r.sku: r for r in (await session.execute(SHIPPABLE, {"id": oid})).all()}
    if data.lines is None:
        wanted = {sku: line.shippable for sku, line in lines.items() if line.shippable > 0}
    else:
        wanted = {}
        for item in data.lines:
            line = lines.get(item.sku)
            if line is None or item.quantity > line.shippable:
                have = line.shippable if line else 0
                raise InvalidTransition(f"{item.sku}: {have} packed and not yet shipped on order {number}; "
                                        f"cannot ship {item.quantity}.")
            wanted[item.sku] = item.quantity
    if not wanted:
        raise InvalidTransition(f"Order {number} is {await current_status(session, oid)}: nothing is packed and "
                                "waiting to ship.")
    waiting = defaultdict(list)
    for row in (await session.execute(IN_PACKING, {"id": oid, "number": number})).all():
        waiting[row.line_id].append((row.warehouse_id, row.in_packing))
    for sku in sorted(wanted, key=lambda s: lines[s].product_id):
        line, remaining = lines[sku], wanted[sku]
        for warehouse_id, in_packing in waiting[line.id]:
            take = min(remaining, in_packing)
            if take <= 0:
                continue
            packing = await catalogue.location_of_type(session, warehouse_id, "packing")
            customer = await catalogue.location_of_type(session, warehouse_id, "customer")
            await ledger.record_move(session, product_id=line.product_id, from_location_id=packing.id,
                                     to_location_id=customer.id, quantity=take, reason="ship",
                                     reference=number, actor=actor.name)
            remaining -= take
        await session.execute(ADD_SHIPPED, {"q": wanted[sku], "id": line.id})
    shipped = [{"sku": sku, "quantity": q} for sku, q in wanted.items()]
    await session.execute(INSERT_SHIPMENT, {"o": oid, "c": data.carrier, "t": data.tracking_number,
                                            "l": json.dumps(shipped), "a": actor.name})
    await events.record(session, "order.shipped", number, actor.name, order_id=oid,
                        data={"carrier": data.carrier, "tracking_number": data.tracking_number, "lines": shipped})
    await refresh_status(session, oid, actor.name)
    await bus.publish(session, OrderShipped(oid, actor.name))


async def mark_delivered(session: AsyncSession, number: str, actor: Principal,
                         expected: IfMatch | None = None) -> None:
    oid = await order_id(session, number, lock=True)
    await check_version(session, oid, number, expected)
    status = await current_status(session, oid)
    if status != "shipped":
        raise InvalidTransition(f"Order {number} is {status}: only a fully shipped order can be delivered.")
    await session.execute(DELIVERED, {"id": oid})
    await events.record(session, "order.delivered", number, actor.name, order_id=oid)
    await refresh_status(session, oid, actor.name)
