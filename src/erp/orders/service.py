"""Orders: placing (the hot path), reading the status view, cancelling, contacts."""

import json
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from erp import events
from erp.auth import Principal
from erp.errors import AlreadyExists, InsufficientStock, InvalidRequest, InvalidTransition, NotFound
from erp.inventory import availability
from erp.inventory import service as inventory
from erp.orders import backorders
from erp.orders.allocation import LineAllocation, LineRequest, allocate, first_choice
from erp.orders.schemas import (
    CancelRequest,
    ContactCreate,
    ContactOut,
    OrderCreate,
    OrderOut,
    UnpromisableLine,
)
from erp.orders.status import LineState, order_status
from erp.orders.view import assemble, order_view

INSERT_ORDER = text("""
WITH o AS (
    INSERT INTO sales_order (channel, status, customer_name, customer_email, customer_phone, ship_to,
                             external_ref, allow_backorder, created_by)
    VALUES (:channel, :status, :name, :email, :phone, CAST(:ship_to AS jsonb), :external_ref, :allow_backorder,
            :actor)
    RETURNING id, number, created_at
), l AS (
    INSERT INTO order_line (order_id, line_no, product_id, quantity, backordered, backorder_warehouse_id,
                            promised_date, promise_basis, promise_reason)
    SELECT o.id, x.line_no, x.product_id, x.quantity, x.backordered, x.backorder_warehouse_id,
           x.promised_date, x.promise_basis, x.promise_reason
      FROM o, unnest(CAST(:line_nos AS int[]), CAST(:products AS int[]), CAST(:quantities AS bigint[]),
                     CAST(:backordered AS bigint[]), CAST(:backorder_warehouses AS int[]),
                     CAST(:dates AS date[]), CAST(:bases AS text[]), CAST(:reasons AS text[]))
           AS x(line_no, product_id, quantity, backordered, backorder_warehouse_id, promised_date,
                promise_basis, promise_reason)
    RETURNING id, line_no
), e AS (
    INSERT INTO event (type, subject, order_id, actor, channel, data)
    SELECT 'order.placed', o.number, o.id, :actor, :channel, CAST(:event AS jsonb) FROM o
    RETURNING id
), r AS (
    -- Last: every reservation of the order, in the global lock order, all or nothing (see reserve_stock).
    SELECT reserve_stock(CAST(:r_products AS int[]), CAST(:r_warehouses AS int[]), CAST(:r_quantities AS bigint[]),
                         ARRAY(SELECT l.id FROM unnest(CAST(:r_line_nos AS int[])) WITH ORDINALITY AS x(line_no, n)
                                 JOIN l ON l.line_no = x.line_no ORDER BY x.n)) AS reserved
)
SELECT o.id, o.number, o.created_at, (SELECT array_agg(l.id ORDER BY l.line_no) FROM l) AS line_ids,
       (SELECT id FROM e) AS event_id, (SELECT reserved FROM r) AS reserved
  FROM o
""")

RESERVE_ORDER = text(
    "SELECT reserve_stock(CAST(:products AS int[]), CAST(:warehouses AS int[]),"
    " CAST(:quantities AS bigint[]), CAST(:lines AS int[]))"
)


def _promise_for(allocation: LineAllocation, stock: availability.Availability, today: date) -> availability.Promise:
    if allocation.backordered:
        return availability.backorder_promise(allocation.backordered, stock, today)
    return availability.in_stock_promise(allocation.takes, today)


async def place_order(session: AsyncSession, data: OrderCreate, actor: Principal, today: date) -> OrderOut:
    """Validate, allocate across warehouses and reserve, in this transaction.

    Round trips: one read of availability, then one statement that inserts order, lines and event and,
    last, makes every reservation (one conditional update per product and warehouse, in the global
    lock order), so row locks are held only from there to COMMIT. The answer is built from what is known.
    """
    skus = [line.sku for line in data.lines]
    stock = await availability.load(session, skus, demand=False)
    inactive = [sku for sku in skus if not stock[sku].active]
    if inactive:
        raise InvalidRequest(f"Not sold: {', '.join(inactive)} is inactive or stocked nowhere.")
    requests = [LineRequest(n, stock[line.sku].product_id, line.quantity) for n, line in enumerate(data.lines, 1)]
    plan = allocate(requests, {stock[sku].product_id: stock[sku].stock for sku in skus})
    if not data.allow_backorder and any(a.backordered for a in plan):
        raise await _insufficient(session, data, skus, today)
    if data.external_ref is not None:
        existing = (await session.execute(
            text("SELECT number FROM sales_order WHERE channel = :c AND external_ref = :r"),
            {"c": data.channel, "r": data.external_ref})).scalar_one_or_none()
        if existing is not None:
            raise AlreadyExists(f"Channel {data.channel} already has order {existing} for external_ref "
                                f"{data.external_ref!r}.", extra={"order": existing})
    locked = False
    waiting = [stock[sku] for sku, a in zip(skus, plan, strict=True) if a.backordered]
    if waiting:
        await availability.with_supply(session, waiting)
        if any(entry.all_supply for entry in waiting):
            # Waiting in line for dated supply: lock the products first, so no concurrent order is
            # promised the same incoming units, and plan again on what is true under the locks.
            stock, plan = await _plan_locked(session, skus, requests)
            locked = True

    by_product = {stock[sku].product_id: stock[sku] for sku in skus}
    promises = [_promise_for(a, by_product[a.product_id], today) for a in plan]
    status = "backordered" if any(a.backordered for a in plan) else "confirmed"
    event = {"lines": [{"sku": sku, "quantity": line.quantity} for sku, line in zip(skus, data.lines, strict=True)]}
    pairs = _reservation_order(plan)
    created = (await session.execute(INSERT_ORDER, {
        "channel": data.channel, "status": status, "name": data.customer.name,
        "email": data.customer.email.lower(), "phone": data.customer.phone,
        "ship_to": data.ship_to.model_dump_json() if data.ship_to else None,
        "external_ref": data.external_ref, "allow_backorder": data.allow_backorder, "actor": actor.name,
        "line_nos": [a.line_no for a in plan], "products": [a.product_id for a in plan],
        "quantities": [a.quantity for a in plan], "backordered": [a.backordered for a in plan],
        "backorder_warehouses": [_backorder_warehouse(a, p, by_product[a.product_id])
                                 for a, p in zip(plan, promises, strict=True)],
        "dates": [p.date for p in promises], "bases": [p.basis for p in promises],
        "reasons": [p.reason[:300] for p in promises], "event": json.dumps(event),
        "r_products": [p[0] for p in pairs], "r_warehouses": [p[2] for p in pairs],
        "r_quantities": [p[4] for p in pairs], "r_line_nos": [p[3] for p in pairs],
    })).one()
    line_ids = dict(zip([a.line_no for a in plan], created.line_ids, strict=True))

    order = {"number": created.number, "status": status, "channel": data.channel,
             "customer_name": data.customer.name, "customer_email": data.customer.email.lower(),
             "customer_phone": data.customer.phone, "ship_to": data.ship_to.model_dump() if data.ship_to else None,
             "external_ref": data.external_ref, "created_at": created.created_at, "version": 1}
    lines = [{"line_no": a.line_no, "sku": by_product[a.product_id].sku, "name": by_product[a.product_id].name,
              "quantity": a.quantity, "cancelled": 0, "backordered": a.backordered, "picked": 0, "packed": 0,
              "shipped": 0, "returned": 0, "promised_date": p.date, "promise_basis": p.basis, "reason": p.reason[:300],
              "allocations": [{"warehouse": s.code, "reserved": q} for s, q in a.takes]}
             for a, p in zip(plan, promises, strict=True)]
    placed = {"id": created.event_id, "at": created.created_at, "type": "order.placed", "actor": actor.name,
              "channel": data.channel, "data": event}
    if created.reserved:
        return assemble(order, lines, [], 0, [placed], touch_threshold=0)
    if locked:
        raise RuntimeError("reservation failed while holding the stock locks")
    # A racing order reserved first: lock the products everywhere, re-plan on fresh numbers, reserve.
    stock, plan = await _plan_locked(session, skus, requests)
    if not data.allow_backorder and any(a.backordered for a in plan):
        raise await _insufficient(session, data, skus, today)
    if not await _reserve(session, plan, line_ids):
        raise RuntimeError("reservation failed while holding the stock locks")
    await _record_plan(session, plan, {stock[sku].product_id: stock[sku] for sku in skus}, line_ids, today)
    await refresh_status(session, created.id, actor.name)
    return await order_view(session, created.number)


async def _plan_locked(
    session: AsyncSession, skus: list[str], requests: list[LineRequest]
) -> tuple[dict[str, availability.Availability], list[LineAllocation]]:
    await inventory.lock_products_everywhere(session, [r.product_id for r in requests])
    stock = await availability.load(session, skus)
    await availability.with_supply(session, list(stock.values()))
    return stock, allocate(requests, {stock[sku].product_id: stock[sku].stock for sku in skus})


def _backorder_warehouse(allocation: LineAllocation, promise: availability.Promise,
                         stock: availability.Availability) -> int | None:
    """Backordered units wait where their supply arrives, else at the product's first warehouse."""
    if not allocation.backordered:
        return None
    for lot in stock.supply:
        if lot.reference == promise.supply_reference:
            return lot.warehouse_id
    first = first_choice(stock.stock)
    return first.warehouse_id if first else None


def _reservation_order(plan: Sequence[LineAllocation]) -> list[tuple[int, int, int, int, int]]:
    """(product, priority, warehouse, line_no, quantity) of every reservation, in the global lock order."""
    return sorted((a.product_id, s.priority, s.warehouse_id, a.line_no, quantity)
                  for a in plan for s, quantity in a.takes)


async def _reserve(session: AsyncSession, plan: Sequence[LineAllocation], line_ids: dict[int, int]) -> bool:
    """Every reservation of the plan in one call, in the global lock order; all or nothing."""
    pairs = [(p, pr, w, line_ids[n], q) for p, pr, w, n, q in _reservation_order(plan)]
    return (await session.execute(RESERVE_ORDER, {
        "products": [p[0] for p in pairs], "warehouses": [p[2] for p in pairs],
        "quantities": [p[4] for p in pairs], "lines": [p[3] for p in pairs],
    })).scalar_one()


async def _record_plan(session: AsyncSession, plan: Sequence[LineAllocation],
                       by_product: dict[int, availability.Availability], line_ids: dict[int, int], today: date) -> None:
    for allocation in plan:
        stock = by_product[allocation.product_id]
        promise = _promise_for(allocation, stock, today)
        await session.execute(text(
            "UPDATE order_line SET backordered = :b, backorder_warehouse_id = :w, promised_date = :d,"
            " promise_basis = :basis, promise_reason = :r WHERE id = :id"
        ), {"b": allocation.backordered, "w": _backorder_warehouse(allocation, promise, stock),
            "d": promise.date, "basis": promise.basis, "r": promise.reason[:300], "id": line_ids[allocation.line_no]})


async def _insufficient(session: AsyncSession, data: OrderCreate, skus: list[str], today: date) -> InsufficientStock:
    """The refusal, saying per line what could be promised and when."""
    stock = await availability.load(session, skus)
    await availability.with_supply(session, list(stock.values()))
    lines = []
    for line in data.lines:
        entry = stock[line.sku]
        promise = availability.promise(line.quantity, entry, today)
        lines.append(UnpromisableLine(
            sku=line.sku, requested=line.quantity, available_now=entry.available_now,
            promised_date=promise.date, promise_basis=promise.basis, reason=promise.reason,
        ).model_dump(mode="json"))
    short = [f"{x['sku']} ({x['available_now']} of {x['requested']})" for x in lines if x["available_now"] < x["requested"]]
    return InsufficientStock(
        f"Not enough stock for {', '.join(short)} and backorders are not allowed; nothing was created.",
        extra={"lines": lines},
    )


# --- reading ----------------------------------------------------------------------------------------


async def order_id(session: AsyncSession, number: str, *, lock: bool = False) -> int:
    found = (await session.execute(
        text("SELECT id FROM sales_order WHERE number = :n" + (" FOR UPDATE" if lock else "")), {"n": number}
    )).scalar_one_or_none()
    if found is None:
        raise NotFound(f"No order {number}.")
    return found


async def line_states(session: AsyncSession, order_id: int) -> list[LineState]:
    rows = (await session.execute(text(
        "SELECT l.quantity, l.cancelled, l.backordered, l.picked, l.packed, l.shipped,"
        " coalesce((SELECT sum(r.quantity) FROM reservation r"
        "           WHERE r.owner_type = 'order_line' AND r.owner_id = l.id), 0) AS reserved,"
        " coalesce((SELECT sum(p.quantity - p.picked - p.short) FROM pick_list_line p"
        "           WHERE p.order_line_id = l.id), 0) AS listed"
        " FROM order_line l WHERE l.order_id = :id"
    ), {"id": order_id})).all()
    return [LineState(r.quantity, r.cancelled, r.backordered, r.reserved, r.picked, r.packed, r.shipped, r.listed)
            for r in rows]


async def refresh_status(session: AsyncSession, order_id: int, actor: str | None) -> str:
    """Derive the order's status from its lines; record a status event when it changes."""
    row = (await session.execute(text(
        "SELECT number, status, delivered_at IS NOT NULL AS delivered FROM sales_order WHERE id = :id"
    ), {"id": order_id})).one()
    status = order_status(await line_states(session, order_id), row.delivered)
    if status != row.status:
        await session.execute(text(
            "UPDATE sales_order SET status = :s, version = version + 1, updated_at = now() WHERE id = :id"
        ), {"s": status, "id": order_id})
        await events.record(session, "order.status_changed", row.number, actor or "system", order_id=order_id,
                            data={"from": row.status, "to": status})
    return status


# --- cancelling -------------------------------------------------------------------------------------


async def cancel(session: AsyncSession, number: str, data: CancelRequest, actor: Principal, today: date) -> None:
    """Release what is still only promised (backordered first, then reserved). Picked units stay."""
    oid = await order_id(session, number)
    lines = (await session.execute(text(
        "SELECT l.id, l.product_id, p.sku FROM order_line l JOIN product p ON p.id = l.product_id"
        " WHERE l.order_id = :id ORDER BY l.line_no"
    ), {"id": oid})).all()
    await inventory.lock_products_everywhere(session, [line.product_id for line in lines])
    await order_id(session, number, lock=True)
    current = {r.sku: r for r in (await session.execute(text(
        "SELECT l.id, l.product_id, p.sku, l.quantity, l.cancelled, l.backordered, l.picked,"
        " coalesce((SELECT sum(r.quantity) FROM reservation r"
        "           WHERE r.owner_type = 'order_line' AND r.owner_id = l.id), 0) AS reserved"
        " FROM order_line l JOIN product p ON p.id = l.product_id WHERE l.order_id = :id FOR UPDATE OF l"
    ), {"id": oid})).all()}

    if data.lines is None:
        wanted = {sku: row.backordered + row.reserved for sku, row in current.items()}
        if not any(wanted.values()):
            status = (await session.execute(text("SELECT status FROM sales_order WHERE id = :id"), {"id": oid})).scalar()
            raise InvalidTransition(f"Order {number} is {status}: nothing is left to cancel (picked or shipped "
                                    "units can only be returned).")
    else:
        wanted = {}
        for line in data.lines:
            row = current.get(line.sku)
            if row is None:
                raise InvalidRequest(f"Order {number} has no line for {line.sku}.")
            cancellable = row.backordered + row.reserved
            if line.quantity > cancellable:
                raise InvalidTransition(
                    f"{line.sku}: only {cancellable} of {row.quantity} can be cancelled; {row.picked} picked or "
                    f"shipped and {row.cancelled} already cancelled.")
            wanted[line.sku] = line.quantity

    released_products = []
    cancelled_lines = []
    for sku, quantity in wanted.items():
        if quantity == 0:
            continue
        row = current[sku]
        from_backorder = min(quantity, row.backordered)
        from_reserved = quantity - from_backorder
        if from_reserved:
            await backorders.release(session, row.id, None, from_reserved)
            await shrink_open_picks(session, row.id, from_reserved)
            released_products.append(row.product_id)
        await session.execute(text(
            "UPDATE order_line SET cancelled = cancelled + :q, backordered = backordered - :b WHERE id = :id"
        ), {"q": quantity, "b": from_backorder, "id": row.id})
        cancelled_lines.append({"sku": sku, "quantity": quantity})
    await backorders.repromise(session, [current[x["sku"]].id for x in cancelled_lines], today)
    await events.record(session, "order.cancelled", number, actor.name, order_id=oid,
                        data={"lines": cancelled_lines, "reason": data.reason})
    await refresh_status(session, oid, actor.name)
    if released_products:
        await backorders.fill_backorders(session, released_products, actor.name, today)


async def shrink_open_picks(session: AsyncSession, line_id: int, quantity: int, warehouse_id: int | None = None) -> None:
    """Take units of a line off open pick lists (at one warehouse, or any), newest first, so nobody picks
    what was cancelled or taken back."""
    rows = (await session.execute(text(
        "SELECT p.id, p.quantity - p.picked - p.short AS open FROM pick_list_line p"
        " JOIN location loc ON loc.id = p.location_id"
        " WHERE p.order_line_id = :line AND p.quantity - p.picked - p.short > 0"
        " AND (CAST(:w AS int) IS NULL OR loc.warehouse_id = :w) ORDER BY p.id DESC FOR UPDATE OF p"
    ), {"line": line_id, "w": warehouse_id})).all()
    for row in rows:
        take = min(quantity, row.open)
        if take <= 0:
            break
        await session.execute(text("UPDATE pick_list_line SET quantity = quantity - :q WHERE id = :id"),
                              {"q": take, "id": row.id})
        quantity -= take


# --- contacts ---------------------------------------------------------------------------------------


async def add_contact(session: AsyncSession, number: str, data: ContactCreate, actor: Principal) -> ContactOut:
    oid = await order_id(session, number)
    row = (await session.execute(text(
        "INSERT INTO order_contact (order_id, channel, direction, summary, rep) VALUES (:o, :c, :d, :s, :r)"
        " RETURNING id, created_at"
    ), {"o": oid, "c": data.channel, "d": data.direction, "s": data.summary, "r": actor.name})).one()
    await events.record(session, "order.contact_logged", number, actor.name, order_id=oid, channel=data.channel,
                        data={"direction": data.direction, "summary": data.summary})
    return ContactOut(id=row.id, channel=data.channel, direction=data.direction, summary=data.summary,
                      rep=actor.name, at=row.created_at)


def to_contact(row: Any) -> ContactOut:
    return ContactOut(id=row.id, channel=row.channel, direction=row.direction, summary=row.summary, rep=row.rep,
                      at=row.created_at)
