"""Repair orders: units repaired in a warehouse with parts reserved from its stock (DOMAIN.md section 4).

Opened by a return's inspection (the units are in quarantine already) or for a walk-in (the unit comes
into quarantine now). Parts are reserved through `erp.inventory.reservations` like order lines, so two
repairs racing for the last part can never both get it; what cannot be reserved waits in the same
first-come, first-served queue as backordered orders (`erp.inventory.waiting`) and is promised from its
place there, and stock that arrives fills it without anyone asking. The repair's promise is the day its
last part is there plus the repair time; completing a repair consumes its parts (a ledger move to the
warehouse's consumption location, referenced by the repair), giving up on it releases them.

Odoo moved repair parts only at the end, with no reservation or demand before (OCA/manufacture #604,
OCA/repair #119): repairs stalled on parts nobody knew were missing. Here a short part shows at once, as
a dated promise, and `waiting_parts` is set and left by the server.

Lock order: the products' stock levels (the unit's and the parts') first, then the repair.
"""

from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from erp import bus, events
from erp.auth import Principal
from erp.concurrency import IfMatch
from erp.db import first_or_404
from erp.errors import Conflict, InvalidRequest, InvalidTransition, NotFound
from erp.inventory import availability, catalogue, ledger, reservations, waiting
from erp.inventory.availability import Promise
from erp.inventory.messages import ReservationsReclaimed, StockAdded, SupplyChanged
from erp.inventory.reservations import REPAIR_PART, held
from erp.orders.picking import choose_bins, free_bins
from erp.returns import cases, replacements
from erp.returns.schemas import PartIn, RepairCreate, RepairOutcome, RepairStatusChange
from erp.returns.status import REPAIR_TRANSITIONS, repair_promise


class WaitingForParts(Conflict):
    code, title = "waiting_for_parts", "Waiting for parts"


INSERT_REPAIR = text("""
    INSERT INTO repair_order (return_line_id, order_id, product_id, warehouse_id, quantity, customer_name,
                              customer_email, customer_phone, problem, ships_to_customer, repair_days,
                              promised_date, promise_basis, promise_reason, created_by)
    VALUES (:return_line, :order_id, :product, :warehouse, :quantity, :name, :email, :phone, :problem, :ships,
            :days, NULL, 'in_stock', '', :actor)
    RETURNING id, number
""")
ORDER_CUSTOMER = text("SELECT id, customer_name, customer_email, customer_phone FROM sales_order WHERE number = :n")
ORDER_CUSTOMER_BY_ID = text("SELECT customer_name, customer_email, customer_phone FROM sales_order WHERE id = :o")
FIRST_WAREHOUSE = text("SELECT id FROM warehouse ORDER BY priority, id LIMIT 1")
REPAIR_OF_LINE = text("SELECT id, number, status FROM repair_order WHERE return_line_id = :l FOR UPDATE")
GROW_REPAIR = text("UPDATE repair_order SET quantity = quantity + :q, version = version + 1 WHERE id = :id")
# The products a repair touches: its unit's and its parts'.
REPAIR_PRODUCTS = text("""
    SELECT product_id FROM repair_order WHERE number = :n
    UNION SELECT p.product_id FROM repair_part p JOIN repair_order r ON r.id = p.repair_order_id WHERE r.number = :n
""")
LOCK_REPAIR = text("SELECT * FROM repair_order WHERE number = :n FOR UPDATE")
LOCK_REPAIR_BY_ID = text("SELECT * FROM repair_order WHERE id = :id FOR UPDATE")
PARTS = text(f"""
    SELECT pt.id, pt.product_id, pr.sku, pt.quantity, pt.waiting, pt.consumed, pt.cancelled,
           {held(REPAIR_PART, 'pt.id')} AS reserved, pt.promised_date, pt.promise_basis, pt.promise_reason
      FROM repair_part pt JOIN product pr ON pr.id = pt.product_id
     WHERE pt.repair_order_id = :id ORDER BY pt.id FOR UPDATE OF pt
""")
INSERT_PART = text("""
    INSERT INTO repair_part (repair_order_id, product_id, warehouse_id, quantity, promise_basis, promise_reason)
    VALUES (:repair, :product, :warehouse, :quantity, 'in_stock', 'reserved') RETURNING id
""")
SET_WAITING = text(
    "UPDATE repair_part SET waiting = :w, promised_date = :d, promise_basis = :b, promise_reason = :r WHERE id = :id"
)
ADD_PART_CANCELLED = text(
    "UPDATE repair_part SET cancelled = cancelled + :q, waiting = 0, promised_date = NULL,"
    " promise_basis = 'in_stock', promise_reason = 'not needed' WHERE id = :id"
)
ADD_CONSUMED = text("UPDATE repair_part SET consumed = consumed + :q WHERE id = :id")
SET_PROMISE = text(
    "UPDATE repair_order SET promised_date = :d, promise_basis = :b, promise_reason = :r, version = version + 1"
    " WHERE id = :id"
)
SET_STATUS = text(
    "UPDATE repair_order SET status = CAST(:s AS varchar), version = version + 1,"
    " started_at = CASE WHEN CAST(:s AS varchar) = 'in_progress' THEN coalesce(started_at, now()) ELSE started_at END,"
    " completed_at = CASE WHEN CAST(:s AS varchar) = 'completed' THEN now() ELSE completed_at END,"
    " shipped_at = CASE WHEN CAST(:s AS varchar) = 'shipped' THEN now() ELSE shipped_at END"
    " WHERE id = :id"
)
MARK_STARTED = text("UPDATE repair_order SET started_at = coalesce(started_at, now()) WHERE id = :id")
BUMP = text("UPDATE repair_order SET version = version + 1 WHERE id = :id")
SET_SHIPPING = text("UPDATE repair_order SET carrier = :c, tracking_number = :t WHERE id = :id")
SET_OUTCOME = text("UPDATE repair_order SET outcome = :o, version = version + 1 WHERE id = :id")
PART_OWNERS = text(
    "SELECT pt.id, pt.repair_order_id, pt.waiting FROM repair_part pt WHERE pt.id = ANY(:ids) FOR UPDATE"
)
REPAIRS_WAITING_ON = text(
    "SELECT DISTINCT repair_order_id FROM repair_part WHERE product_id = ANY(:products) AND waiting > 0"
)
REPAIR_LINE = text("SELECT return_id, unit_price FROM return_line WHERE id = :id")
SKU = text("SELECT sku FROM product WHERE id = :id")


# --- opening ----------------------------------------------------------------------------------------


async def open_walk_in(session: AsyncSession, data: RepairCreate, actor: Principal, today: date) -> str:
    """A customer brings a unit: it comes into the warehouse's quarantine while it is repaired."""
    product = await catalogue.get_product(session, data.sku)
    order_id = None
    if data.order is not None:
        order_id = (await first_or_404(session, ORDER_CUSTOMER, {"n": data.order},
                                       missing=f"No order {data.order}.")).id
    warehouse_id = ((await catalogue.get_warehouse(session, data.warehouse)).id if data.warehouse
                    else (await session.execute(FIRST_WAREHOUSE)).scalar_one())
    await ledger.lock_stock_levels(session, [(product.id, warehouse_id)])
    repair = (await session.execute(INSERT_REPAIR, {
        "return_line": None, "order_id": order_id, "product": product.id, "warehouse": warehouse_id,
        "quantity": data.quantity, "name": data.customer.name, "email": data.customer.email.lower(),
        "phone": data.customer.phone, "problem": data.problem, "ships": True, "days": data.repair_days,
        "actor": actor.name})).one()
    customer = await catalogue.location_of_type(session, warehouse_id, "customer")
    quarantine = await catalogue.location_of_type(session, warehouse_id, "quarantine")
    await ledger.record_move(session, product_id=product.id, from_location_id=customer.id,
                             to_location_id=quarantine.id, quantity=data.quantity, reason="repair_intake",
                             reference=repair.number, actor=actor.name)
    await events.record(session, "repair.opened", repair.number, actor.name, order_id=order_id, data={
        "sku": data.sku, "quantity": data.quantity, "problem": data.problem, "walk_in": True})
    await repromise(session, repair.id, actor.name, today)
    return repair.number


async def open_for_return(session: AsyncSession, ret: Any, line: Any, quantity: int, *, ships_to_customer: bool,
                          actor: Principal, today: date) -> str:
    """Units of a return line found worth repairing (already in quarantine): one repair order per line."""
    existing = (await session.execute(REPAIR_OF_LINE, {"l": line.id})).first()
    if existing is not None:
        if existing.status in ("completed", "shipped", "unrepairable"):
            raise InvalidTransition(f"{line.sku}: repair {existing.number} of this return line is {existing.status}; "
                                    "it takes no more units.")
        await session.execute(GROW_REPAIR, {"q": quantity, "id": existing.id})
        await repromise(session, existing.id, actor.name, today)
        return existing.number
    order = (await session.execute(ORDER_CUSTOMER_BY_ID, {"o": ret.order_id})).one()
    repair = (await session.execute(INSERT_REPAIR, {
        "return_line": line.id, "order_id": ret.order_id, "product": line.product_id, "warehouse": ret.warehouse_id,
        "quantity": quantity, "name": order.customer_name, "email": order.customer_email,
        "phone": order.customer_phone, "problem": f"returned as {line.reason.replace('_', ' ')} ({ret.number})",
        "ships": ships_to_customer, "days": 2, "actor": actor.name})).one()
    await events.record(session, "repair.opened", repair.number, actor.name, order_id=ret.order_id, data={
        "sku": line.sku, "quantity": quantity, "return": ret.number, "ships_to_customer": ships_to_customer})
    await repromise(session, repair.id, actor.name, today)
    return repair.number


# --- parts ------------------------------------------------------------------------------------------


async def add_part(session: AsyncSession, number: str, data: PartIn, actor: Principal, today: date,
                   expected: IfMatch | None = None) -> None:
    """Reserve a part at the repair's warehouse; what is not in stock waits in line for it, with a promise."""
    product = await catalogue.get_product(session, data.sku)
    repair = await _lock(session, number, expected, also=[product.id])
    if repair.status not in ("queued", "in_progress", "waiting_parts"):
        raise InvalidTransition(f"Repair {number} is {repair.status}; it takes no more parts.")
    part_id = (await session.execute(INSERT_PART, {"repair": repair.id, "product": product.id,
                                                   "warehouse": repair.warehouse_id,
                                                   "quantity": data.quantity})).scalar_one()
    (stock,) = (await availability.load_products(session, [product.id])).values()
    here = next(s for s in stock.stock if s.warehouse_id == repair.warehouse_id)
    take = min(data.quantity, max(here.available, 0))
    if take and not await reservations.reserve(session, REPAIR_PART, part_id, product.id, repair.warehouse_id, take):
        raise RuntimeError("reservation failed while holding the stock locks")
    short = data.quantity - take
    promise = None
    if short:
        await session.execute(SET_WAITING, {"w": short, "d": None, "b": "cannot_promise", "r": "", "id": part_id})
        promise = await waiting.promise_for(session, REPAIR_PART, part_id, product.id, today)
        await session.execute(SET_WAITING, {"w": short, "d": promise.date, "b": promise.basis,
                                            "r": promise.reason[:300], "id": part_id})
        if repair.status in ("queued", "in_progress"):
            await _set_status(session, repair, "waiting_parts", actor.name)
    await events.record(session, "repair.part_added", number, actor.name, order_id=repair.order_id, data={
        "sku": data.sku, "quantity": data.quantity, "reserved": take, "waiting": short,
        "promise": {"date": promise.date, "reason": promise.reason} if promise else None})
    await repromise(session, repair.id, actor.name, today)


async def remove_part(session: AsyncSession, number: str, sku: str, actor: Principal, today: date,
                      expected: IfMatch | None = None) -> None:
    """A part is not needed after all: its reservations are released and it stops waiting."""
    product = await catalogue.get_product(session, sku)
    repair = await _lock(session, number, expected, also=[product.id])
    if repair.status not in ("queued", "in_progress", "waiting_parts"):
        raise InvalidTransition(f"Repair {number} is {repair.status}; its parts are settled.")
    parts = [p for p in await _parts(session, repair.id) if p.product_id == product.id and p.reserved + p.waiting]
    if not parts:
        raise InvalidRequest(f"Repair {number} has no open part {sku}.")
    released = await _give_up_parts(session, parts)
    await events.record(session, "repair.part_removed", number, actor.name, order_id=repair.order_id,
                        data={"sku": sku, "released": released})
    await _leave_waiting_if_ready(session, repair, actor.name)
    await repromise(session, repair.id, actor.name, today)
    if released:
        await bus.publish(session, StockAdded((product.id,), actor.name))


async def _give_up_parts(session: AsyncSession, parts: list[Any]) -> int:
    released = 0
    for part in parts:
        freed = await reservations.release(session, REPAIR_PART, part.id, part.reserved)
        await session.execute(ADD_PART_CANCELLED, {"q": freed + part.waiting, "id": part.id})
        released += freed
    return released


# --- status -----------------------------------------------------------------------------------------


async def change_status(session: AsyncSession, number: str, data: RepairStatusChange, actor: Principal,
                        today: date, expected: IfMatch | None = None) -> None:
    repair = await _lock(session, number, expected)
    target = data.status
    if repair.status not in REPAIR_TRANSITIONS[target]:
        raise InvalidTransition(f"Repair {number} is {repair.status}; it cannot become {target}.")
    parts = await _parts(session, repair.id)
    short = [f"{p.waiting} x {p.sku} ({p.promise_reason})" for p in parts if p.waiting]
    if target == "in_progress" and short:
        await session.execute(MARK_STARTED, {"id": repair.id})
        if repair.status == "waiting_parts":
            raise WaitingForParts(f"Repair {number} is still waiting for {'; '.join(short)}.")
        target = "waiting_parts"
    if target == "completed":
        if short:
            raise WaitingForParts(f"Repair {number} cannot be completed: still waiting for {'; '.join(short)}.")
        await _consume_parts(session, repair, parts, actor)
        if not repair.ships_to_customer:
            await _move_unit(session, repair, "storage", "repair_restocked", actor)
    elif target == "shipped":
        await _move_unit(session, repair, "customer", "repair_shipped", actor)
        await session.execute(SET_SHIPPING, {"c": data.carrier, "t": data.tracking_number, "id": repair.id})
    elif target == "unrepairable":
        released = await _give_up_parts(session, [p for p in parts if p.reserved + p.waiting])
        await _move_unit(session, repair, "scrap", "unrepairable", actor)
        if released:
            await bus.publish(session, StockAdded(tuple(sorted({p.product_id for p in parts})), actor.name))
    await _set_status(session, repair, target, actor.name, notes=data.notes,
                      extra={"carrier": data.carrier, "tracking_number": data.tracking_number}
                      if target == "shipped" else None)
    await repromise(session, repair.id, actor.name, today)
    await _refresh_return(session, repair, actor.name)


async def choose_outcome(session: AsyncSession, number: str, data: RepairOutcome, actor: Principal,
                         today: date, expected: IfMatch | None = None) -> None:
    """For a unit that cannot be repaired and was to go back to the customer: a replacement or a refund."""
    repair = await _lock(session, number, expected)
    if repair.status != "unrepairable" or not repair.ships_to_customer:
        raise InvalidTransition(f"Repair {number} is {repair.status}; an outcome is chosen for a unit that cannot "
                                "be repaired and was to go back to the customer.")
    if repair.outcome is not None:
        raise InvalidTransition(f"Repair {number} already has the outcome {repair.outcome}.")
    if data.outcome == "refund":
        line = (await session.execute(REPAIR_LINE, {"id": repair.return_line_id})).first() \
            if repair.return_line_id else None
        if line is None or line.unit_price is None:
            raise Conflict(f"Repair {number} has no recorded price to refund ("
                           f"{'a walk-in repair' if line is None else 'the order line has no unit_price'}); "
                           "choose a replacement.")
        await cases.make_refundable(session, line.return_id, repair.return_line_id, repair.quantity)
        placed = None
    else:
        sku = (await session.execute(SKU, {"id": repair.product_id})).scalar_one()
        placed = await replacements.place(
            session, [(sku, repair.quantity)], actor, today, order_id=repair.order_id, repair_order_id=repair.id,
            customer={"name": repair.customer_name, "email": repair.customer_email, "phone": repair.customer_phone})
    await session.execute(SET_OUTCOME, {"o": data.outcome, "id": repair.id})
    await events.record(session, "repair.outcome_chosen", number, actor.name, order_id=repair.order_id,
                        data={"outcome": data.outcome, "replacement": placed})
    await _refresh_return(session, repair, actor.name)


async def _set_status(session: AsyncSession, repair: Any, status: str, actor: str, *, notes: str | None = None,
                      extra: dict[str, Any] | None = None) -> None:
    await session.execute(SET_STATUS, {"s": status, "id": repair.id})
    await events.record(session, f"repair.{status}", repair.number, actor, order_id=repair.order_id,
                        data={"from": repair.status, "to": status, "notes": notes, **(extra or {})})


async def _consume_parts(session: AsyncSession, repair: Any, parts: list[Any], actor: Principal) -> None:
    """The reserved parts go into the repaired unit: out of their bins to the consumption location."""
    consumption = await catalogue.location_of_type(session, repair.warehouse_id, "consumption")
    for part in parts:
        if not part.reserved:
            continue
        bins = (await free_bins(session, repair.warehouse_id, [part.product_id]))[part.product_id]
        chosen = choose_bins(part.reserved, [(b.location_id, b.free) for b in bins])
        if sum(quantity for _, quantity in chosen) < part.reserved:
            raise Conflict(f"The bins at the repair's warehouse do not hold the {part.reserved} x {part.sku} "
                           "reserved for it; count the stock.")
        for location_id, quantity in chosen:
            await reservations.consume(session, REPAIR_PART, part.id, product_id=part.product_id,
                                       warehouse_id=repair.warehouse_id, from_location_id=location_id,
                                       to_location_id=consumption.id, quantity=quantity, reason="repair_part",
                                       reference=repair.number, actor=actor.name)
        await session.execute(ADD_CONSUMED, {"q": part.reserved, "id": part.id})


async def _move_unit(session: AsyncSession, repair: Any, to: str, reason: str, actor: Principal) -> None:
    """The repaired (or given up) units leave quarantine: to the customer, into storage, or to scrap."""
    quarantine = await catalogue.location_of_type(session, repair.warehouse_id, "quarantine")
    if to == "storage":
        target = await catalogue.putaway_bin(session, repair.warehouse_id, repair.product_id, None)
    else:
        target = (await catalogue.location_of_type(session, repair.warehouse_id, to)).id
    await ledger.record_move(session, product_id=repair.product_id, from_location_id=quarantine.id,
                             to_location_id=target, quantity=repair.quantity, reason=reason,
                             reference=repair.number, actor=actor.name)
    if to == "storage":
        await bus.publish(session, StockAdded((repair.product_id,), actor.name))


async def _leave_waiting_if_ready(session: AsyncSession, repair: Any, actor: str) -> None:
    """No part waits any more: back to work (or to the queue, if nobody started it)."""
    current = (await session.execute(LOCK_REPAIR_BY_ID, {"id": repair.id})).one()
    if current.status == "waiting_parts" and not any(p.waiting for p in await _parts(session, repair.id)):
        await _set_status(session, current, "in_progress" if current.started_at else "queued", actor)


async def _refresh_return(session: AsyncSession, repair: Any, actor: str) -> None:
    if repair.return_line_id is not None:
        line = (await session.execute(REPAIR_LINE, {"id": repair.return_line_id})).one()
        await cases.refresh_status(session, line.return_id, actor)


# --- promises ---------------------------------------------------------------------------------------


async def repromise(session: AsyncSession, repair_id: int, actor: str, today: date) -> None:
    """The repair's promise from its parts' promises and its repair time; a change is an event."""
    repair = (await session.execute(LOCK_REPAIR_BY_ID, {"id": repair_id})).one()
    parts = await _parts(session, repair_id)
    promise = repair_promise(
        repair.status, [(p.sku, p.waiting, Promise(p.promised_date, p.promise_basis, p.promise_reason))
                        for p in parts if p.waiting], repair.repair_days, today)
    after = (promise.date, promise.basis, promise.reason[:300])
    if after == (repair.promised_date, repair.promise_basis, repair.promise_reason):
        return
    await session.execute(SET_PROMISE, {"d": promise.date, "b": promise.basis, "r": promise.reason[:300],
                                        "id": repair_id})
    if repair.promise_reason:  # not the first promise
        await events.record(session, "repair.repromised", repair.number, actor, order_id=repair.order_id, data={
            "from": {"date": repair.promised_date, "reason": repair.promise_reason},
            "to": {"date": promise.date, "reason": promise.reason}})


async def _repromise_parts(session: AsyncSession, product_ids: tuple[int, ...], actor: str, today: date) -> None:
    """Every waiting part of these products promised from its place in the queue; their repairs follow."""
    promised = [(w, p) for w, p in await waiting.promises(session, product_ids, today) if w.owner_type == REPAIR_PART]
    if not promised:
        return
    owners = {row.id: row for row in (await session.execute(PART_OWNERS, {"ids": [w.owner_id for w, _ in promised]}))}
    for entry, promise in promised:
        await session.execute(SET_WAITING, {"w": owners[entry.owner_id].waiting, "d": promise.date,
                                            "b": promise.basis, "r": promise.reason[:300], "id": entry.owner_id})
    for repair_id in sorted({owner.repair_order_id for owner in owners.values()}):
        await repromise(session, repair_id, actor, today)


# --- reactions (see erp.reactions) -------------------------------------------------------------------


async def on_stock_added(session: AsyncSession, message: StockAdded) -> None:
    """Stock arrived: waiting parts get their share, first come, first served with the orders."""
    today = date.today()
    queue = await waiting.queue(session, message.product_ids)
    filled = await waiting.fill(session, queue, REPAIR_PART)
    if not filled:
        return
    owners = {row.id: row for row in (await session.execute(PART_OWNERS, {"ids": [w.owner_id for w, _ in filled]}))}
    for entry, takes in filled:
        left = owners[entry.owner_id].waiting - sum(quantity for _, quantity in takes)
        # Still waiting: promised again below, from its place in the queue.
        await session.execute(SET_WAITING, {"w": left, "d": None, "b": "in_stock", "r": "reserved",
                                            "id": entry.owner_id})
    for repair_id in sorted({owners[w.owner_id].repair_order_id for w, _ in filled}):
        repair = (await session.execute(LOCK_REPAIR_BY_ID, {"id": repair_id})).one()
        await events.record(session, "repair.parts_reserved", repair.number, message.actor, order_id=repair.order_id,
                            data={"parts": [{"part": w.owner_id, "reserved": sum(q for _, q in t)}
                                            for w, t in filled if owners[w.owner_id].repair_order_id == repair_id]})
        await _leave_waiting_if_ready(session, repair, message.actor)
    await _repromise_parts(session, message.product_ids, message.actor, today)
    for repair_id in sorted({owners[w.owner_id].repair_order_id for w, _ in filled}):
        await repromise(session, repair_id, message.actor, today)


async def on_supply_changed(session: AsyncSession, message: SupplyChanged) -> None:
    """A purchase order moved, arrived or vanished: parts waiting for it are promised again."""
    await _repromise_parts(session, message.product_ids, message.actor, date.today())


async def on_reservations_reclaimed(session: AsyncSession, message: ReservationsReclaimed) -> None:
    """Reserved parts turned out not to be there: they wait in line again."""
    parts = [r for r in message.reclaimed if r.owner_type == REPAIR_PART]
    if not parts:
        return
    owners = {row.id: row for row in (await session.execute(PART_OWNERS, {"ids": [r.owner_id for r in parts]}))}
    for reclaimed in parts:
        await session.execute(SET_WAITING, {"w": owners[reclaimed.owner_id].waiting + reclaimed.quantity, "d": None,
                                            "b": "cannot_promise", "r": "", "id": reclaimed.owner_id})
    for repair_id in sorted({owner.repair_order_id for owner in owners.values()}):
        repair = (await session.execute(LOCK_REPAIR_BY_ID, {"id": repair_id})).one()
        if repair.status in ("queued", "in_progress"):
            await _set_status(session, repair, "waiting_parts", message.actor, notes=message.why)
    await _repromise_parts(session, tuple(sorted({r.product_id for r in parts})), message.actor, date.today())


# --- helpers ----------------------------------------------------------------------------------------


async def _lock(session: AsyncSession, number: str, expected: IfMatch | None, also: list[int] | None = None) -> Any:
    """Lock the repair's products everywhere (and `also`), then the repair; check `If-Match`."""
    products = (await session.execute(REPAIR_PRODUCTS, {"n": number})).scalars().all()
    if not products:
        raise NotFound(f"No repair {number}.")
    await ledger.lock_products_everywhere(session, [*products, *(also or [])])
    repair = (await session.execute(LOCK_REPAIR, {"n": number})).one()
    if expected is not None:
        expected.check(repair.version, f"Repair {number}")
    await session.execute(BUMP, {"id": repair.id})
    return repair


async def _parts(session: AsyncSession, repair_id: int) -> list[Any]:
    return list((await session.execute(PARTS, {"id": repair_id})).all())
