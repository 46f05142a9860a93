"""From reserved to doorstep: pick lists, picks confirmed by scan, four-eyes packing, shipping.

Lock order (shared with placement, cancelling and inventory): stock levels, then orders, then lines.
"""

import json
from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from erp import events
from erp.auth import Principal
from erp.errors import Conflict, Forbidden, InvalidTransition, NotFound, ScanMismatch
from erp.inventory import service as inventory
from erp.orders import backorders
from erp.orders.schemas import (
    PackRequest,
    PickConfirm,
    PickLineOut,
    PickListCreate,
    PickListOut,
    ShipmentCreate,
)
from erp.orders.service import order_id, refresh_status, shrink_open_picks


class NothingToPick(Conflict):
    code, title = "nothing_to_pick", "Nothing to pick"


# --- pick lists -------------------------------------------------------------------------------------


def choose_bins(needed: int, bins: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Take `needed` units from bins in walking order, never more than a bin has free: [(bin, qty)]."""
    taken = []
    for location_id, free in bins:
        take = min(needed, free)
        if take > 0:
            taken.append((location_id, take))
            needed -= take
        if needed == 0:
            break
    return taken


async def create_pick_list(session: AsyncSession, data: PickListCreate, actor: Principal) -> PickListOut:
    warehouse = await inventory.get_warehouse(session, data.warehouse)
    # One pick list at a time per warehouse, so two lists never claim the same units.
    await session.execute(text("SELECT 1 FROM warehouse WHERE id = :w FOR UPDATE"), {"w": warehouse.id})
    candidates = (await session.execute(text("""
        SELECT l.order_id, min(l.promised_date) AS promised, array_agg(DISTINCT l.product_id) AS products
          FROM reservation r JOIN order_line l ON l.id = r.owner_id
         WHERE r.owner_type = 'order_line' AND r.warehouse_id = :w AND r.quantity > 0
           AND r.quantity > (SELECT coalesce(sum(p.quantity - p.picked - p.short), 0) FROM pick_list_line p
                              JOIN location loc ON loc.id = p.location_id
                             WHERE p.order_line_id = l.id AND loc.warehouse_id = :w)
         GROUP BY l.order_id ORDER BY min(l.promised_date) NULLS LAST, l.order_id LIMIT :n
    """), {"w": warehouse.id, "n": data.max_orders})).all()
    if not candidates:
        raise NothingToPick(f"No reserved lines waiting to be picked at {data.warehouse}.")
    products = sorted({p for c in candidates for p in c.products})
    await inventory.lock_stock_levels(session, [(p, warehouse.id) for p in products])
    order_ids = [c.order_id for c in candidates]
    await session.execute(text("SELECT 1 FROM sales_order WHERE id = ANY(:ids) ORDER BY id FOR UPDATE"),
                          {"ids": sorted(order_ids)})
    # Re-read under the locks: what each line still needs listed here.
    needs = (await session.execute(text("""
        SELECT l.id AS line_id, l.order_id, l.product_id,
               r.quantity - (SELECT coalesce(sum(p.quantity - p.picked - p.short), 0) FROM pick_list_line p
                              JOIN location loc ON loc.id = p.location_id
                             WHERE p.order_line_id = l.id AND loc.warehouse_id = :w) AS needed
          FROM order_line l
          JOIN (SELECT owner_id, sum(quantity) AS quantity FROM reservation
                 WHERE owner_type = 'order_line' AND warehouse_id = :w GROUP BY owner_id) r ON r.owner_id = l.id
         WHERE l.order_id = ANY(:orders)
         ORDER BY array_position(CAST(:orders AS int[]), l.order_id), l.line_no
    """), {"w": warehouse.id, "orders": order_ids})).all()
    bins = await _free_bins(session, warehouse.id, products)
    planned: list[dict[str, Any]] = []
    for need in needs:
        if need.needed <= 0:
            continue
        available = bins[need.product_id]
        for location_id, quantity in choose_bins(need.needed, [(b["id"], b["free"]) for b in available]):
            next(b for b in available if b["id"] == location_id)["free"] -= quantity
            planned.append({"line_id": need.line_id, "order_id": need.order_id, "product_id": need.product_id,
                            "location_id": location_id, "quantity": quantity,
                            "walk": next(b["walk"] for b in available if b["id"] == location_id)})
    if not planned:
        raise NothingToPick(f"No reserved lines waiting to be picked at {data.warehouse}.")
    planned.sort(key=lambda p: (p["walk"], p["order_id"]))
    pick_list = (await session.execute(text(
        "INSERT INTO pick_list (warehouse_id, created_by) VALUES (:w, :a) RETURNING id"
    ), {"w": warehouse.id, "a": actor.name})).scalar_one()
    await session.execute(text(
        "INSERT INTO pick_list_line (pick_list_id, position, order_line_id, product_id, location_id, quantity)"
        " VALUES (:pick_list, :position, :line_id, :product_id, :location_id, :quantity)"
    ), [{"pick_list": pick_list, "position": n, **{k: p[k] for k in ("line_id", "product_id", "location_id",
                                                                        "quantity")}}
        for n, p in enumerate(planned, 1)])
    numbers = dict((await session.execute(text("SELECT id, number FROM sales_order WHERE id = ANY(:ids)"),
                                          {"ids": order_ids})).all())
    for oid in sorted({p["order_id"] for p in planned}):
        await events.record(session, "order.pick_listed", numbers[oid], actor.name, order_id=oid,
                            data={"pick_list": pick_list, "warehouse": data.warehouse})
        await refresh_status(session, oid, actor.name)
    return await get_pick_list(session, pick_list)


async def _free_bins(session: AsyncSession, warehouse_id: int, products: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Storage bins holding each product, in walking order, less what open pick lists already claim."""
    rows = (await session.execute(text("""
        SELECT b.product_id, loc.id, loc.sequence, loc.code,
               b.quantity - coalesce((SELECT sum(p.quantity - p.picked - p.short) FROM pick_list_line p
                                       WHERE p.location_id = loc.id AND p.product_id = b.product_id), 0) AS free
          FROM location_balance b JOIN location loc ON loc.id = b.location_id
         WHERE loc.warehouse_id = :w AND loc.type = 'storage' AND b.product_id = ANY(:products) AND b.quantity > 0
         ORDER BY loc.sequence, loc.code
    """), {"w": warehouse_id, "products": products})).all()
    bins: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        bins[row.product_id].append({"id": row.id, "free": row.free, "walk": (row.sequence, row.code)})
    return bins


async def get_pick_list(session: AsyncSession, pick_list_id: int) -> PickListOut:
    head = (await session.execute(text(
        "SELECT pl.id, pl.status, pl.created_at, w.code FROM pick_list pl JOIN warehouse w ON w.id = pl.warehouse_id"
        " WHERE pl.id = :id"
    ), {"id": pick_list_id})).first()
    if head is None:
        raise NotFound(f"No pick list {pick_list_id}.")
    lines = (await session.execute(text("""
        SELECT p.id, o.number AS order, w.code || '/' || loc.code AS location, pr.sku, pr.barcode,
               p.quantity, p.picked, p.short
          FROM pick_list_line p JOIN order_line l ON l.id = p.order_line_id JOIN sales_order o ON o.id = l.order_id
          JOIN location loc ON loc.id = p.location_id JOIN warehouse w ON w.id = loc.warehouse_id
          JOIN product pr ON pr.id = p.product_id
         WHERE p.pick_list_id = :id ORDER BY p.position
    """), {"id": pick_list_id})).all()
    return PickListOut(id=head.id, warehouse=head.code, status=head.status, created_at=head.created_at,
                       lines=[PickLineOut.model_validate(r._mapping) for r in lines])


# --- confirming picks by scan -------------------------------------------------------------------------


async def confirm_pick(session: AsyncSession, pick_list_id: int, scan: PickConfirm, actor: Principal,
                       today: date) -> PickListOut:
    head = (await session.execute(text("SELECT warehouse_id, status FROM pick_list WHERE id = :id"),
                                  {"id": pick_list_id})).first()
    if head is None:
        raise NotFound(f"No pick list {pick_list_id}.")
    location, warehouse = await inventory.resolve_location(session, scan.location)
    if warehouse.id != head.warehouse_id:
        raise ScanMismatch(f"{scan.location} is not in this pick list's warehouse.")
    product = (await session.execute(text(
        "SELECT id, sku FROM product WHERE sku = :v" if scan.sku else "SELECT id, sku FROM product WHERE barcode = :v"
    ), {"v": scan.sku or scan.barcode})).first()
    if product is None:
        raise ScanMismatch(f"Scanned {'sku' if scan.sku else 'barcode'} {scan.sku or scan.barcode} is no product.")

    if scan.short:
        await inventory.lock_products_everywhere(session, [product.id])
    else:
        await inventory.lock_stock_levels(session, [(product.id, warehouse.id)])
    if (await session.execute(text("SELECT status FROM pick_list WHERE id = :id"), {"id": pick_list_id})).scalar() != "open":
        raise InvalidTransition(f"Pick list {pick_list_id} is completed.")
    at_location = (await session.execute(text("""
        SELECT p.id, p.product_id, p.order_line_id, p.quantity - p.picked - p.short AS open, l.order_id,
               o.number, pr.sku
          FROM pick_list_line p JOIN order_line l ON l.id = p.order_line_id JOIN sales_order o ON o.id = l.order_id
          JOIN product pr ON pr.id = p.product_id
         WHERE p.pick_list_id = :list AND p.location_id = :loc AND p.quantity - p.picked - p.short > 0
         ORDER BY p.position
    """), {"list": pick_list_id, "loc": location.id})).all()
    if not at_location:
        raise ScanMismatch(f"Pick list {pick_list_id} has nothing to pick at {scan.location}.")
    lines = [line for line in at_location if line.product_id == product.id]
    if not lines:
        expected = ", ".join(sorted({line.sku for line in at_location}))
        raise ScanMismatch(f"Wrong product: {product.sku} scanned at {scan.location}, which is for {expected}.")
    wanted = sum(line.open for line in lines)
    if scan.quantity > wanted:
        raise ScanMismatch(f"Too many: pick list {pick_list_id} asks for {wanted} x {product.sku} at {scan.location}.")
    if scan.short and scan.quantity == wanted:
        raise ScanMismatch(f"Not short: {wanted} x {product.sku} is exactly what the pick list asks for.")

    await session.execute(text("SELECT 1 FROM sales_order WHERE id = ANY(:ids) ORDER BY id FOR UPDATE"),
                          {"ids": sorted({line.order_id for line in lines})})
    packing = await inventory.location_of_type(session, warehouse.id, "packing")
    remaining = scan.quantity
    for line in lines:
        take = min(remaining, line.open)
        if take:
            await backorders.release(session, line.order_line_id, warehouse.id, take)
            await inventory.record_move(session, product_id=product.id, from_location_id=location.id,
                                        to_location_id=packing.id, quantity=take, reason="pick",
                                        reference=line.number, actor=actor.name)
            await session.execute(text("UPDATE order_line SET picked = picked + :q WHERE id = :id"),
                                  {"q": take, "id": line.order_line_id})
            await session.execute(text(
                "UPDATE pick_list_line SET picked = picked + :q, picked_by = :a, picked_by_key_id = :k WHERE id = :id"
            ), {"q": take, "a": actor.name, "k": actor.key_id, "id": line.id})
            await events.record(session, "order.picked", line.number, actor.name, order_id=line.order_id,
                                data={"sku": product.sku, "quantity": take, "location": scan.location})
            remaining -= take
    if scan.short:
        await _short_pick(session, pick_list_id, location.id, scan.location, product.id, product.sku,
                          warehouse.id, actor, today)
    await _complete_if_done(session, pick_list_id)
    for oid in sorted({line.order_id for line in lines}):
        await refresh_status(session, oid, actor.name)
    return await get_pick_list(session, pick_list_id)


async def _short_pick(session: AsyncSession, pick_list_id: int, location_id: int, address: str, product_id: int,
                      sku: str, warehouse_id: int, actor: Principal, today: date) -> None:
    """The bin held less than the ledger said: it is empty now. Record the discrepancy as an adjustment,
    and find the units every open pick in that bin was counting on elsewhere, or backorder them."""
    affected = (await session.execute(text("""
        SELECT p.id, p.order_line_id, p.quantity - p.picked - p.short AS open, l.order_id, o.number
          FROM pick_list_line p JOIN order_line l ON l.id = p.order_line_id JOIN sales_order o ON o.id = l.order_id
         WHERE p.location_id = :loc AND p.product_id = :product AND p.quantity - p.picked - p.short > 0
         ORDER BY p.pick_list_id = :list DESC, p.id FOR UPDATE OF p
    """), {"loc": location_id, "product": product_id, "list": pick_list_id})).all()
    await session.execute(text("SELECT 1 FROM sales_order WHERE id = ANY(:ids) ORDER BY id FOR UPDATE"),
                          {"ids": sorted({a.order_id for a in affected})})
    for line in affected:
        await session.execute(text("UPDATE pick_list_line SET short = short + :q WHERE id = :id"),
                              {"q": line.open, "id": line.id})
        await backorders.release(session, line.order_line_id, warehouse_id, line.open)
    missing = await inventory.location_quantity(session, location_id, product_id)
    # Reservations not yet on any pick list may have counted on the vanished units too: take back the newest.
    over = (await session.execute(text(
        "SELECT reserved - (on_hand - :missing) FROM stock_level WHERE product_id = :p AND warehouse_id = :w"
    ), {"missing": missing, "p": product_id, "w": warehouse_id})).scalar_one()
    bumped = []
    if over > 0:
        for reservation in (await session.execute(text("""
            SELECT r.owner_id AS line_id, r.quantity, l.order_id, o.number FROM reservation r
              JOIN order_line l ON l.id = r.owner_id JOIN sales_order o ON o.id = l.order_id
             WHERE r.owner_type = 'order_line' AND r.product_id = :p AND r.warehouse_id = :w AND r.quantity > 0
             ORDER BY r.id DESC
        """), {"p": product_id, "w": warehouse_id})).all():
            if over <= 0:
                break
            take = min(over, reservation.quantity)
            await backorders.release(session, reservation.line_id, warehouse_id, take)
            await shrink_open_picks(session, reservation.line_id, take, warehouse_id)
            bumped.append((reservation, take))
            over -= take
    if missing:
        adjustment = await inventory.location_of_type(session, warehouse_id, "adjustment")
        await inventory.record_move(session, product_id=product_id, from_location_id=location_id,
                                    to_location_id=adjustment.id, quantity=missing, reason="short_pick",
                                    reference=f"PICK-{pick_list_id}", actor=actor.name)
    for line in affected:
        await events.record(session, "order.short_picked", line.number, actor.name, order_id=line.order_id,
                            data={"sku": sku, "missing": line.open, "location": address})
        await backorders.reallocate(session, order_id=line.order_id, number=line.number, line_id=line.order_line_id,
                                    product_id=product_id, quantity=line.open, actor=actor.name, today=today,
                                    why=f"a short pick at {address}")
    for reservation, take in bumped:
        await backorders.reallocate(session, order_id=reservation.order_id, number=reservation.number,
                                    line_id=reservation.line_id, product_id=product_id, quantity=take,
                                    actor=actor.name, today=today, why=f"missing stock at {address}")
    for oid in sorted({a.order_id for a in affected} | {r.order_id for r, _ in bumped}):
        await refresh_status(session, oid, actor.name)


async def _complete_if_done(session: AsyncSession, pick_list_id: int) -> None:
    await session.execute(text("""
        UPDATE pick_list SET status = 'completed', completed_at = now()
         WHERE id = :id AND status = 'open'
           AND NOT EXISTS (SELECT 1 FROM pick_list_line WHERE pick_list_id = :id AND picked + short < quantity)
    """), {"id": pick_list_id})


# --- packing, shipping, delivery ----------------------------------------------------------------------


async def pack(session: AsyncSession, number: str, data: PackRequest, actor: Principal, today: date) -> None:
    """A second person scans what goes into the box: it must be exactly what was picked and not packed."""
    oid = await order_id(session, number, lock=True)
    lines = (await session.execute(text("""
        SELECT l.id, l.product_id, p.sku, p.barcode, l.picked - l.packed AS unpacked FROM order_line l
          JOIN product p ON p.id = l.product_id WHERE l.order_id = :id AND l.picked > l.packed FOR UPDATE OF l
    """), {"id": oid})).all()
    if not lines:
        status = (await session.execute(text("SELECT status FROM sales_order WHERE id = :id"), {"id": oid})).scalar()
        raise InvalidTransition(f"Order {number} is {status}: nothing picked is waiting to be packed.")
    pickers = set((await session.execute(text(
        "SELECT DISTINCT p.picked_by_key_id FROM pick_list_line p JOIN order_line l ON l.id = p.order_line_id"
        " WHERE l.order_id = :id AND p.picked > 0"
    ), {"id": oid})).scalars())
    if actor.key_id in pickers:
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
        raise ScanMismatch(f"Packing blocked for {number}: " + "; ".join(problems) + ".")
    await session.execute(text("UPDATE order_line SET packed = picked WHERE order_id = :id AND picked > packed"),
                          {"id": oid})
    await events.record(session, "order.packed", number, actor.name, order_id=oid,
                        data={"items": [{"sku": sku, "quantity": q} for sku, q in scanned.items()]})
    await refresh_status(session, oid, actor.name)


async def ship(session: AsyncSession, number: str, data: ShipmentCreate, actor: Principal) -> None:
    oid = await order_id(session, number, lock=True)
    lines = {r.sku: r for r in (await session.execute(text("""
        SELECT l.id, l.product_id, p.sku, l.packed - l.shipped AS shippable, o.delivered_at FROM order_line l
          JOIN product p ON p.id = l.product_id JOIN sales_order o ON o.id = l.order_id
         WHERE l.order_id = :id ORDER BY l.product_id FOR UPDATE OF l
    """), {"id": oid})).all()}
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
        status = (await session.execute(text("SELECT status FROM sales_order WHERE id = :id"), {"id": oid})).scalar()
        raise InvalidTransition(f"Order {number} is {status}: nothing is packed and waiting to ship.")
    # Picked units wait in the packing location of the warehouse they were picked in.
    waiting = defaultdict(list)
    for row in (await session.execute(text("""
        SELECT l.id AS line_id, loc.warehouse_id, sum(p.picked) - coalesce((
                 SELECT sum(m.quantity) FROM stock_move m JOIN location f ON f.id = m.from_location_id
                  WHERE m.reference = :number AND m.reason = 'ship' AND m.product_id = l.product_id
                    AND f.warehouse_id = loc.warehouse_id), 0) AS in_packing
          FROM pick_list_line p JOIN location loc ON loc.id = p.location_id JOIN order_line l ON l.id = p.order_line_id
          JOIN warehouse w ON w.id = loc.warehouse_id
         WHERE l.order_id = :id GROUP BY l.id, l.product_id, loc.warehouse_id, w.priority ORDER BY w.priority, loc.warehouse_id
    """), {"id": oid, "number": number})).all():
        waiting[row.line_id].append((row.warehouse_id, row.in_packing))
    for sku in sorted(wanted, key=lambda s: lines[s].product_id):
        line, remaining = lines[sku], wanted[sku]
        for warehouse_id, in_packing in waiting[line.id]:
            take = min(remaining, in_packing)
            if take <= 0:
                continue
            packing = await inventory.location_of_type(session, warehouse_id, "packing")
            customer = await inventory.location_of_type(session, warehouse_id, "customer")
            await inventory.record_move(session, product_id=line.product_id, from_location_id=packing.id,
                                        to_location_id=customer.id, quantity=take, reason="ship",
                                        reference=number, actor=actor.name)
            remaining -= take
        await session.execute(text("UPDATE order_line SET shipped = shipped + :q WHERE id = :id"),
                              {"q": wanted[sku], "id": line.id})
    shipped = [{"sku": sku, "quantity": q} for sku, q in wanted.items()]
    await session.execute(text(
        "INSERT INTO shipment (order_id, carrier, tracking_number, lines, created_by)"
        " VALUES (:o, :c, :t, CAST(:l AS jsonb), :a)"
    ), {"o": oid, "c": data.carrier, "t": data.tracking_number, "l": json.dumps(shipped),
        "a": actor.name})
    await events.record(session, "order.shipped", number, actor.name, order_id=oid,
                        data={"carrier": data.carrier, "tracking_number": data.tracking_number, "lines": shipped})
    await refresh_status(session, oid, actor.name)


async def mark_delivered(session: AsyncSession, number: str, actor: Principal) -> None:
    oid = await order_id(session, number, lock=True)
    status = (await session.execute(text("SELECT status FROM sales_order WHERE id = :id"), {"id": oid})).scalar()
    if status != "shipped":
        raise InvalidTransition(f"Order {number} is {status}: only a fully shipped order can be delivered.")
    await session.execute(text("UPDATE sales_order SET delivered_at = now() WHERE id = :id"), {"id": oid})
    await events.record(session, "order.delivered", number, actor.name, order_id=oid)
    await refresh_status(session, oid, actor.name)
