"""Picking: pick lists (oldest promise first, bins in walking order), picks confirmed by scan, short picks.

Lock order (shared with placement, cancelling and inventory): stock levels, then orders, then lines.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

from sqlalchemy import literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from erp import bus, events
from erp.auth import Principal
from erp.db import first_or_404
from erp.errors import Conflict, InvalidTransition, ScanMismatch
from erp.inventory import catalogue, ledger, reservations
from erp.inventory.messages import ReservationsReclaimed
from erp.inventory.models import Warehouse
from erp.inventory.reservations import ORDER_LINE, holdings
from erp.orders import backorders
from erp.orders.lines import listed, lock_orders, open_pick, refresh_status
from erp.orders.models import PickList
from erp.orders.schemas import PickConfirm, PickLineOut, PickListCreate, PickListOut
from erp.pagination import Page, paginate

LOCK_WAREHOUSE = text("SELECT 1 FROM warehouse WHERE id = :w FOR UPDATE")
# Orders with reserved units at the warehouse not yet on a pick list, oldest promise first.
CANDIDATES = text(f"""
    SELECT l.order_id, min(l.promised_date) AS promised, array_agg(DISTINCT l.product_id) AS products
      FROM {holdings(ORDER_LINE, warehouse_id=':w')} h JOIN order_line l ON l.id = h.owner_id
     WHERE h.quantity > {listed('l.id', ':w')}
     GROUP BY l.order_id ORDER BY min(l.promised_date) NULLS LAST, l.order_id LIMIT :n
""")
# What each line of the orders still needs listed at the warehouse, in the candidates' order.
NEEDS = text(f"""
    SELECT l.id AS line_id, l.order_id, l.product_id, h.quantity - {listed('l.id', ':w')} AS needed
      FROM order_line l JOIN {holdings(ORDER_LINE, warehouse_id=':w')} h ON h.owner_id = l.id
     WHERE l.order_id = ANY(:orders)
     ORDER BY array_position(CAST(:orders AS int[]), l.order_id), l.line_no
""")
# Storage bins holding each product, in walking order, less what open pick lists already claim there.
FREE_BINS = text(f"""
    SELECT b.product_id, loc.id, loc.sequence, loc.code,
           b.quantity - coalesce((SELECT sum({open_pick()}) FROM pick_list_line p
                                   WHERE p.location_id = loc.id AND p.product_id = b.product_id), 0) AS free
      FROM location_balance b JOIN location loc ON loc.id = b.location_id
     WHERE loc.warehouse_id = :w AND loc.type = 'storage' AND b.product_id = ANY(:products) AND b.quantity > 0
     ORDER BY loc.sequence, loc.code
""")
INSERT_PICK_LIST = text("INSERT INTO pick_list (warehouse_id, created_by) VALUES (:w, :a) RETURNING id")
INSERT_PICK = text(
    "INSERT INTO pick_list_line (pick_list_id, position, order_line_id, product_id, location_id, quantity)"
    " VALUES (:pick_list, :position, :line_id, :product_id, :location_id, :quantity)"
)
ORDER_NUMBERS = text("SELECT id, number FROM sales_order WHERE id = ANY(:ids)")
PICK_LIST_HEAD = text(
    "SELECT pl.id, pl.status, pl.created_at, pl.warehouse_id, w.code FROM pick_list pl"
    " JOIN warehouse w ON w.id = pl.warehouse_id WHERE pl.id = :id"
)
PICK_LIST_LINES = text("""
    SELECT p.id, o.number AS order, w.code || '/' || loc.code AS location, pr.sku, pr.barcode,
           p.quantity, p.picked, p.short
      FROM pick_list_line p JOIN order_line l ON l.id = p.order_line_id JOIN sales_order o ON o.id = l.order_id
      JOIN location loc ON loc.id = p.location_id JOIN warehouse w ON w.id = loc.warehouse_id
      JOIN product pr ON pr.id = p.product_id
     WHERE p.pick_list_id = :id ORDER BY p.position
""")
# A pick list's lines as JSON, in PICK_LIST_LINES' shape, for the list of pick lists (one round trip a page).
PICK_LIST_LINES_JSON = """
    (SELECT coalesce(json_agg(json_build_object(
                'id', p.id, 'order', o.number, 'location', w.code || '/' || loc.code, 'sku', pr.sku,
                'barcode', pr.barcode, 'quantity', p.quantity, 'picked', p.picked, 'short', p.short)
            ORDER BY p.position), '[]')
       FROM pick_list_line p JOIN order_line l ON l.id = p.order_line_id JOIN sales_order o ON o.id = l.order_id
       JOIN location loc ON loc.id = p.location_id JOIN warehouse w ON w.id = loc.warehouse_id
       JOIN product pr ON pr.id = p.product_id
      WHERE p.pick_list_id = pick_list.id)
"""
PRODUCT_BY_SKU = text("SELECT id, sku FROM product WHERE sku = :v")
PRODUCT_BY_BARCODE = text("SELECT id, sku FROM product WHERE barcode = :v")
PICK_LIST_STATUS = text("SELECT status FROM pick_list WHERE id = :id")
OPEN_AT_LOCATION = text(f"""
    SELECT p.id, p.product_id, p.order_line_id, {open_pick()} AS open, l.order_id, o.number, pr.sku
      FROM pick_list_line p JOIN order_line l ON l.id = p.order_line_id JOIN sales_order o ON o.id = l.order_id
      JOIN product pr ON pr.id = p.product_id
     WHERE p.pick_list_id = :list AND p.location_id = :loc AND {open_pick()} > 0
     ORDER BY p.position
""")
ADD_PICKED = text("UPDATE order_line SET picked = picked + :q WHERE id = :id")
CONFIRM_PICK = text(
    "UPDATE pick_list_line SET picked = picked + :q, picked_by = :a, picked_by_key_id = :k, picked_by_person_id = :p"
    " WHERE id = :id"
)
# Every open pick of the product in the bin, this list's first: a short pick empties the bin for all.
OPEN_IN_BIN = text(f"""
    SELECT p.id, p.order_line_id, {open_pick()} AS open, l.order_id, o.number
      FROM pick_list_line p JOIN order_line l ON l.id = p.order_line_id JOIN sales_order o ON o.id = l.order_id
     WHERE p.location_id = :loc AND p.product_id = :product AND {open_pick()} > 0
     ORDER BY p.pick_list_id = :list DESC, p.id FOR UPDATE OF p
""")
MARK_SHORT = text("UPDATE pick_list_line SET short = short + :q WHERE id = :id")
COMPLETE_IF_DONE = text(f"""
    UPDATE pick_list SET status = 'completed', completed_at = now()
     WHERE id = :id AND status = 'open'
       AND NOT EXISTS (SELECT 1 FROM pick_list_line p WHERE p.pick_list_id = :id AND {open_pick()} > 0)
""")


class NothingToPick(Conflict):
    code, title = "nothing_to_pick", "Nothing to pick"


@dataclass(slots=True)
class Bin:
    location_id: int
    free: int  # units not yet claimed by open pick lists
    walk: tuple[int, str]  # (sequence, code): walking order


class Pick(NamedTuple):
    line_id: int
    order_id: int
    product_id: int
    location_id: int
    quantity: int
    walk: tuple[int, str]


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


# --- pick lists -------------------------------------------------------------------------------------


async def create_pick_list(session: AsyncSession, data: PickListCreate, actor: Principal) -> PickListOut:
    warehouse = await catalogue.get_warehouse(session, data.warehouse)
    # One pick list at a time per warehouse, so two lists never claim the same units.
    await session.execute(LOCK_WAREHOUSE, {"w": warehouse.id})
    candidates = (await session.execute(CANDIDATES, {"w": warehouse.id, "n": data.max_orders})).all()
    if not candidates:
        raise NothingToPick(f"No reserved lines waiting to be picked at {data.warehouse}.")
    products = sorted({p for c in candidates for p in c.products})
    await ledger.lock_stock_levels(session, [(p, warehouse.id) for p in products])
    order_ids = [c.order_id for c in candidates]
    await lock_orders(session, order_ids)
    # Re-read under the locks: what each line still needs listed here.
    needs = (await session.execute(NEEDS, {"w": warehouse.id, "orders": order_ids})).all()
    bins = await free_bins(session, warehouse.id, products)
    planned: list[Pick] = []
    for need in needs:
        if need.needed <= 0:
            continue
        available = {b.location_id: b for b in bins[need.product_id]}
        for location_id, quantity in choose_bins(need.needed, [(b.location_id, b.free) for b in available.values()]):
            available[location_id].free -= quantity
            planned.append(Pick(need.line_id, need.order_id, need.product_id, location_id, quantity,
                                available[location_id].walk))
    if not planned:
        raise NothingToPick(f"No reserved lines waiting to be picked at {data.warehouse}.")
    planned.sort(key=lambda p: (p.walk, p.order_id))
    pick_list = (await session.execute(INSERT_PICK_LIST, {"w": warehouse.id, "a": actor.name})).scalar_one()
    await session.execute(INSERT_PICK, [
        {"pick_list": pick_list, "position": n, "line_id": p.line_id, "product_id": p.product_id,
         "location_id": p.location_id, "quantity": p.quantity} for n, p in enumerate(planned, 1)])
    numbers = dict((await session.execute(ORDER_NUMBERS, {"ids": order_ids})).all())
    for oid in sorted({p.order_id for p in planned}):
        await events.record(session, "order.pick_listed", numbers[oid], actor.name, order_id=oid,
                            data={"pick_list": pick_list, "warehouse": data.warehouse})
        await refresh_status(session, oid, actor.name)
    return await get_pick_list(session, pick_list)


async def free_bins(session: AsyncSession, warehouse_id: int, products: list[int]) -> dict[int, list[Bin]]:
    """Storage bins holding each product, in walking order, less what open pick lists already claim."""
    bins: dict[int, list[Bin]] = defaultdict(list)
    for row in (await session.execute(FREE_BINS, {"w": warehouse_id, "products": products})).all():
        bins[row.product_id].append(Bin(row.id, row.free, (row.sequence, row.code)))
    return bins


async def get_pick_list(session: AsyncSession, pick_list_id: int) -> PickListOut:
    head = await first_or_404(session, PICK_LIST_HEAD, {"id": pick_list_id}, missing=f"No pick list {pick_list_id}.")
    lines = (await session.execute(PICK_LIST_LINES, {"id": pick_list_id})).all()
    return PickListOut(id=head.id, warehouse=head.code, status=head.status, created_at=head.created_at,
                       lines=[PickLineOut.model_validate(r._mapping) for r in lines])


async def list_pick_lists(session: AsyncSession, warehouse: str | None, status: str, limit: int,
                          cursor: str | None) -> Page[PickListOut]:
    """Pick lists in `status` (at `warehouse`), oldest first, each with its lines in walking order."""
    query = (select(PickList.id, PickList.status, PickList.created_at, Warehouse.code,
                    literal_column(PICK_LIST_LINES_JSON).label("lines"))
             .join(Warehouse, Warehouse.id == PickList.warehouse_id).where(PickList.status == status))
    if warehouse is not None:
        query = query.where(Warehouse.code == warehouse)
    return await paginate(session, query, [PickList.id], limit, cursor, lambda r: PickListOut(
        id=r.id, warehouse=r.code, status=r.status, created_at=r.created_at,
        lines=[PickLineOut.model_validate(line) for line in r.lines]))


# --- confirming picks by scan -------------------------------------------------------------------------


async def confirm_pick(session: AsyncSession, pick_list_id: int, scan: PickConfirm, actor: Principal,
                       today: date) -> PickListOut:
    head = await first_or_404(session, PICK_LIST_HEAD, {"id": pick_list_id}, missing=f"No pick list {pick_list_id}.")
    location, warehouse = await catalogue.resolve_location(session, scan.location)
    if warehouse.id != head.warehouse_id:
        raise ScanMismatch(f"{scan.location} is not in this pick list's warehouse.")
    product = (await session.execute(PRODUCT_BY_SKU if scan.sku else PRODUCT_BY_BARCODE,
                                     {"v": scan.sku or scan.barcode})).first()
    if product is None:
        raise ScanMismatch(f"Scanned {'sku' if scan.sku else 'barcode'} {scan.sku or scan.barcode} is no product.")

    if scan.short:
        await ledger.lock_products_everywhere(session, [product.id])
    else:
        await ledger.lock_stock_levels(session, [(product.id, warehouse.id)])
    if (await session.execute(PICK_LIST_STATUS, {"id": pick_list_id})).scalar() != "open":
        raise InvalidTransition(f"Pick list {pick_list_id} is completed.")
    at_location = (await session.execute(OPEN_AT_LOCATION, {"list": pick_list_id, "loc": location.id})).all()
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

    await lock_orders(session, {line.order_id for line in lines})
    packing = await catalogue.location_of_type(session, warehouse.id, "packing")
    remaining = scan.quantity
    for line in lines:
        take = min(remaining, line.open)
        if take:
            await reservations.consume(session, ORDER_LINE, line.order_line_id, product_id=product.id,
                                       warehouse_id=warehouse.id, from_location_id=location.id,
                                       to_location_id=packing.id, quantity=take, reason="pick",
                                       reference=line.number, actor=actor.name)
            await session.execute(ADD_PICKED, {"q": take, "id": line.order_line_id})
            await session.execute(CONFIRM_PICK, {"q": take, "a": actor.name, "k": actor.key_id,
                                                 "p": actor.person_id, "id": line.id})
            await events.record(session, "order.picked", line.number, actor.name, order_id=line.order_id,
                                data={"sku": product.sku, "quantity": take, "location": scan.location})
            remaining -= take
    if scan.short:
        await _short_pick(session, pick_list_id, location.id, scan.location, product.id, product.sku,
                          warehouse.id, actor, today)
    await session.execute(COMPLETE_IF_DONE, {"id": pick_list_id})
    for oid in sorted({line.order_id for line in lines}):
        await refresh_status(session, oid, actor.name)
    return await get_pick_list(session, pick_list_id)


async def _short_pick(session: AsyncSession, pick_list_id: int, location_id: int, address: str, product_id: int,
                      sku: str, warehouse_id: int, actor: Principal, today: date) -> None:
    """The bin held less than the ledger said: it is empty now. Record the discrepancy as an adjustment,
    and find the units every open pick in that bin was counting on elsewhere, or backorder them;
    reservations elsewhere in the warehouse that counted on the vanished units are reclaimed too."""
    affected = (await session.execute(OPEN_IN_BIN, {"loc": location_id, "product": product_id,
                                                    "list": pick_list_id})).all()
    await lock_orders(session, {a.order_id for a in affected})
    for line in affected:
        await session.execute(MARK_SHORT, {"q": line.open, "id": line.id})
        await reservations.release(session, ORDER_LINE, line.order_line_id, line.open, warehouse_id)
    missing = await ledger.location_quantity(session, location_id, product_id)
    reclaimed = await reservations.reclaim(session, product_id, warehouse_id, missing)
    if missing:
        adjustment = await catalogue.location_of_type(session, warehouse_id, "adjustment")
        await ledger.record_move(session, product_id=product_id, from_location_id=location_id,
                                 to_location_id=adjustment.id, quantity=missing, reason="short_pick",
                                 reference=f"PICK-{pick_list_id}", actor=actor.name)
    for line in affected:
        await events.record(session, "order.short_picked", line.number, actor.name, order_id=line.order_id,
                            data={"sku": sku, "missing": line.open, "location": address})
        await backorders.reallocate(session, order_id=line.order_id, number=line.number, line_id=line.order_line_id,
                                    product_id=product_id, quantity=line.open, actor=actor.name, today=today,
                                    why=f"a short pick at {address}")
    for oid in sorted({a.order_id for a in affected}):
        await refresh_status(session, oid, actor.name)
    if reclaimed:
        await bus.publish(session, ReservationsReclaimed(tuple(reclaimed), actor.name, f"missing stock at {address}"))
