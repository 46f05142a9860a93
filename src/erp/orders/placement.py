"""Placing an order: allocate across warehouses, promise, and reserve atomically (the hot path).

The common case, every line in stock and no Idempotency-Key to claim in the same transaction, takes two
round trips and no BEGIN or COMMIT: a read of availability, then one statement in autocommit that
inserts order, lines and event and, last, makes every reservation (`reservations.reserve_call`: one
conditional update per product and warehouse, in the global lock order, all or nothing, raising when
stock fell short so that PostgreSQL undoes the whole statement). Row locks last from the reservation to
that statement's own commit. Orders that come while one is in flight are sent together in one
transaction (`PLACING`, a `db.GroupCommit`): a hot row is locked once per group. Anything else (a lost race, a backorder, a claimed Idempotency-Key, a hold)
runs in the request's transaction, where the same statement answers false instead and the order is
re-planned under locks. The answer is built from what is known, without reading the order back.
"""

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from erp.auth import Principal
from erp.db import GroupCommit, HotStatement
from erp.errors import AlreadyExists, InsufficientStock, InvalidRequest, sqlstate
from erp.inventory import availability, ledger, reservations
from erp.inventory.reservations import ORDER_LINE, Claim, reserve_call
from erp.orders import holds
from erp.orders.allocation import LineAllocation, LineRequest, allocate, first_choice
from erp.orders.schemas import OrderCreate, OrderOut, UnpromisableLine
from erp.orders.view import assemble

PLACE = """
WITH o AS (
    INSERT INTO sales_order (channel, status, customer_name, customer_email, customer_phone, ship_to,
                             external_ref, allow_backorder, currency, created_by)
    VALUES (:channel, :status, :name, :email, :phone, CAST(:ship_to AS jsonb), :external_ref, :allow_backorder,
            :currency, :actor)
    RETURNING id, number, created_at
), l AS (
    INSERT INTO order_line (order_id, line_no, product_id, quantity, unit_price, backordered,
                            backordered_at_placement, backorder_warehouse_id, promised_date, first_promised_date,
                            promise_basis, promise_reason)
    SELECT o.id, x.line_no, x.product_id, x.quantity, x.unit_price, x.backordered, x.backordered,
           x.backorder_warehouse_id, x.promised_date, x.promised_date, x.promise_basis, x.promise_reason
      FROM o, unnest(CAST(:line_nos AS int[]), CAST(:products AS int[]), CAST(:quantities AS bigint[]),
                     CAST(:unit_prices AS numeric[]), CAST(:backordered AS bigint[]),
                     CAST(:backorder_warehouses AS int[]), CAST(:dates AS date[]), CAST(:bases AS text[]),
                     CAST(:reasons AS text[]))
           AS x(line_no, product_id, quantity, unit_price, backordered, backorder_warehouse_id, promised_date,
                promise_basis, promise_reason)
    RETURNING id, line_no
), e AS (
    INSERT INTO event (type, subject, order_id, actor, channel, data)
    SELECT 'order.placed', o.number, o.id, :actor, :channel, CAST(:event AS jsonb) FROM o
    RETURNING id
), r AS (
    -- Last: every reservation of the order, its owners being the lines just inserted (by line number).
    SELECT {reserve} AS reserved
)
SELECT o.id, o.number, o.created_at, (SELECT array_agg(l.id ORDER BY l.line_no) FROM l) AS line_ids,
       (SELECT id FROM e) AS event_id, (SELECT reserved FROM r) AS reserved
  FROM o
"""
_NEW_LINES = ("ARRAY(SELECT l.id FROM unnest(CAST(:r_owners AS int[])) WITH ORDINALITY AS x(line_no, n)"
              " JOIN l ON l.line_no = x.line_no ORDER BY x.n)")
# In the request's transaction: a shortfall answers reserved = false.
INSERT_ORDER = HotStatement(text(PLACE.format(reserve=reserve_call(owners=_NEW_LINES))))
# On its own, in autocommit: a shortfall raises reservations.SHORT and nothing of it remains.
PLACE_NOW = HotStatement(text(PLACE.format(reserve=reserve_call(owners=_NEW_LINES, or_raise=True))))
# Orders placed at the same moment go together, one transaction for all (issue 13: one hot row's lock
# taken once per group, not once per order).
PLACING = GroupCommit(PLACE_NOW)
EXISTING_REF = text("SELECT number FROM sales_order WHERE channel = :c AND external_ref = :r")
RECORD_PLAN = text(
    "UPDATE order_line SET backordered = :b, backordered_at_placement = :b, backorder_warehouse_id = :w,"
    " promised_date = :d, first_promised_date = :d, promise_basis = :basis, promise_reason = :r WHERE id = :id"
)
SET_STATUS = text("UPDATE sales_order SET status = :s WHERE id = :id")


class Plan:
    """An allocation of the order's lines with the promise each line gets and the order's status."""

    def __init__(self, stock: dict[str, availability.Availability], allocations: list[LineAllocation],
                 today: date) -> None:
        self.by_product = {entry.product_id: entry for entry in stock.values()}
        self.allocations = allocations
        self.promises = [_promise_for(a, self.by_product[a.product_id], today) for a in allocations]
        self.status = "backordered" if self.backorders else "confirmed"

    @property
    def backorders(self) -> bool:
        return any(a.backordered for a in self.allocations)

    def claims(self, owners: dict[int, int] | None = None) -> list[Claim]:
        """Every reservation of the plan; owners are line numbers unless `owners` maps them to line ids."""
        return [Claim(a.product_id, s.priority, s.warehouse_id, owners[a.line_no] if owners else a.line_no, quantity)
                for a in self.allocations for s, quantity in a.takes]

    def backorder_warehouses(self) -> list[int | None]:
        return [_backorder_warehouse(a, p, self.by_product[a.product_id])
                for a, p in zip(self.allocations, self.promises, strict=True)]


def _promise_for(allocation: LineAllocation, stock: availability.Availability, today: date) -> availability.Promise:
    if allocation.backordered:
        return availability.backorder_promise(allocation.backordered, stock, today)
    return availability.in_stock_promise(allocation.takes, today)


def _backorder_warehouse(allocation: LineAllocation, promise: availability.Promise,
                         stock: availability.Availability) -> int | None:
    """Backordered units wait where their supply arrives, else at the product's first warehouse."""
    if not allocation.backordered:
        return None
    if promise.supply_warehouse_id is not None:
        return promise.supply_warehouse_id
    first = first_choice(stock.stock)
    return first.warehouse_id if first else None


async def place_order(session: AsyncSession, data: OrderCreate, actor: Principal, today: date,
                      autocommit: async_sessionmaker[AsyncSession] | None = None) -> OrderOut:
    """Validate, allocate across warehouses and reserve, in this transaction. With `allow_backorder`
    false and not enough stock, 409 listing what could be promised, and nothing is created. With
    `autocommit` (the route's, when no other work shares its transaction), an order all in stock is placed
    in one autocommitted statement."""
    if data.hold is not None:
        return await _place_from_hold(session, data, actor, today)
    if autocommit is not None:
        placed = await _place_now(autocommit, data, actor, today)
        if placed is not None:
            return placed
    skus = [line.sku for line in data.lines]
    stock = await availability.load(session, skus, demand=False)
    inactive = [sku for sku in skus if not stock[sku].active]
    if inactive:
        raise InvalidRequest(f"Not sold: {', '.join(inactive)} is inactive or stocked nowhere.")
    requests = [LineRequest(n, stock[line.sku].product_id, line.quantity) for n, line in enumerate(data.lines, 1)]
    allocations = allocate(requests, {entry.product_id: entry.stock for entry in stock.values()})
    if not data.allow_backorder and any(a.backordered for a in allocations):
        raise await _insufficient(session, data, skus, today)
    await _refuse_known_ref(session, data)
    locked = False
    waiting = [stock[sku] for sku, a in zip(skus, allocations, strict=True) if a.backordered]
    if waiting:
        await availability.with_supply(session, waiting)
        if any(entry.all_supply for entry in waiting):
            # Waiting in line for dated supply: lock the products first, so no concurrent order is
            # promised the same incoming units, and plan again on what is true under the locks.
            stock, allocations = await _plan_locked(session, skus, requests)
            locked = True
    plan = Plan(stock, allocations, today)
    event = {"lines": [{"sku": sku, "quantity": line.quantity} for sku, line in zip(skus, data.lines, strict=True)]}
    created = await _insert(session, data, actor, plan, event, plan.claims())
    if not created.reserved:
        if locked:
            raise RuntimeError("reservation failed while holding the stock locks")
        # A racing order reserved first: lock the products everywhere, re-plan on fresh numbers, reserve.
        line_ids = dict(zip([a.line_no for a in plan.allocations], created.line_ids, strict=True))
        stock, allocations = await _plan_locked(session, skus, requests)
        if not data.allow_backorder and any(a.backordered for a in allocations):
            raise await _insufficient(session, data, skus, today)
        plan = Plan(stock, allocations, today)
        if not await reservations.reserve_all(session, ORDER_LINE, plan.claims(line_ids)):
            raise RuntimeError("reservation failed while holding the stock locks")
        await _record(session, plan, line_ids, created.id)
    return placed_answer(data, actor, plan, created.number, created.created_at, created.event_id, event)


async def _place_now(autocommit: async_sessionmaker[AsyncSession], data: OrderCreate, actor: Principal,
                     today: date) -> OrderOut | None:
    """Every line from stock, in two autocommitted statements; None when that is not how this order can be
    placed (a backorder, or a racing order took the stock), to place it in the transaction instead."""
    skus = [line.sku for line in data.lines]
    session = autocommit()
    try:
        stock = await availability.load(session, skus, demand=False)
        inactive = [sku for sku in skus if not stock[sku].active]
        if inactive:
            raise InvalidRequest(f"Not sold: {', '.join(inactive)} is inactive or stocked nowhere.")
        requests = [LineRequest(n, stock[line.sku].product_id, line.quantity) for n, line in enumerate(data.lines, 1)]
        allocations = allocate(requests, {entry.product_id: entry.stock for entry in stock.values()})
        if any(a.backordered for a in allocations):
            return None
        await _refuse_known_ref(session, data)
        plan = Plan(stock, allocations, today)
        event = {"lines": [{"sku": sku, "quantity": line.quantity}
                           for sku, line in zip(skus, data.lines, strict=True)]}
        claims = plan.claims()
        try:
            created = Created(**await PLACING.fetch(session, _insert_params(data, actor, plan, event, claims),
                                                    [(c.product_id, c.priority, c.warehouse_id) for c in claims]))
        except DBAPIError as exc:
            if sqlstate(exc) == reservations.SHORT:
                return None
            raise
    finally:
        if session.in_transaction():  # an ORM statement took a connection; hot ones gave theirs back
            await session.close()
    return placed_answer(data, actor, plan, created.number, created.created_at, created.event_id, event)


async def _place_from_hold(session: AsyncSession, data: OrderCreate, actor: Principal, today: date) -> OrderOut:
    """The order takes over a hold's reservations in this transaction: no second race for the stock."""
    assert data.hold is not None
    held = {line.sku: line for line in await holds.take_over(
        session, data.hold, {line.sku: line.quantity for line in data.lines})}
    short = [sku for sku, line in held.items() if sum(a["reserved"] for a in line.allocations) < line.quantity]
    if short:
        raise holds.HoldMismatch(f"Hold {data.hold} lost units of {', '.join(short)} to a stock count; place the "
                                 "order without it.")
    await _refuse_known_ref(session, data)
    stock = await availability.load(session, list(held), demand=False)
    at = {(entry.product_id, s.warehouse_id): s for entry in stock.values() for s in entry.stock}
    allocations = [LineAllocation(n, held[line.sku].product_id, line.quantity,
                                  [(at[held[line.sku].product_id, a["warehouse_id"]], a["reserved"])
                                   for a in held[line.sku].allocations])
                   for n, line in enumerate(data.lines, 1)]
    plan = Plan(stock, allocations, today)
    event = {"lines": [{"sku": line.sku, "quantity": line.quantity} for line in data.lines], "hold": str(data.hold)}
    created = await _insert(session, data, actor, plan, event, [])
    line_ids = dict(zip([a.line_no for a in plan.allocations], created.line_ids, strict=True))
    await holds.hand_over(session, data.hold, {held[line.sku].id: line_ids[n] for n, line in enumerate(data.lines, 1)},
                          created.id, created.number, actor.name)
    return placed_answer(data, actor, plan, created.number, created.created_at, created.event_id, event)


async def _refuse_known_ref(session: AsyncSession, data: OrderCreate) -> None:
    if data.external_ref is not None:
        existing = (await session.execute(EXISTING_REF, {"c": data.channel, "r": data.external_ref})).scalar()
        if existing is not None:
            raise AlreadyExists(f"Channel {data.channel} already has order {existing} for external_ref "
                                f"{data.external_ref!r}.", extra={"order": existing})


class Created(NamedTuple):
    id: int
    number: str
    created_at: datetime
    line_ids: list[int]
    event_id: int
    reserved: bool


async def _insert(session: AsyncSession, data: OrderCreate, actor: Principal, plan: "Plan", event: dict[str, Any],
                  claims: list[Claim]) -> Created:
    """The one statement: the order, its lines, its event and, last, the reservations of `claims`."""
    return Created(**(await INSERT_ORDER.fetch(session, _insert_params(data, actor, plan, event, claims)))[0])


def _insert_params(data: OrderCreate, actor: Principal, plan: "Plan", event: dict[str, Any],
                   claims: list[Claim]) -> dict[str, Any]:
    return {
        "channel": data.channel, "status": plan.status, "name": data.customer.name,
        "email": data.customer.email.lower(), "phone": data.customer.phone,
        "ship_to": data.ship_to.model_dump_json() if data.ship_to else None,
        "external_ref": data.external_ref, "allow_backorder": data.allow_backorder, "currency": data.currency,
        "actor": actor.name, "line_nos": [a.line_no for a in plan.allocations],
        "products": [a.product_id for a in plan.allocations], "quantities": [a.quantity for a in plan.allocations],
        "unit_prices": [line.unit_price for line in data.lines],
        "backordered": [a.backordered for a in plan.allocations],
        "backorder_warehouses": plan.backorder_warehouses(),
        "dates": [p.date for p in plan.promises], "bases": [p.basis for p in plan.promises],
        "reasons": [p.reason[:300] for p in plan.promises], "event": json.dumps(event),
        **reservations.claim_params(ORDER_LINE, claims),
    }


async def _plan_locked(
    session: AsyncSession, skus: list[str], requests: list[LineRequest]
) -> tuple[dict[str, availability.Availability], list[LineAllocation]]:
    await ledger.lock_products_everywhere(session, [r.product_id for r in requests])
    stock = await availability.load(session, skus, supply=True)
    return stock, allocate(requests, {entry.product_id: entry.stock for entry in stock.values()})


async def _record(session: AsyncSession, plan: Plan, line_ids: dict[int, int], order_id: int) -> None:
    """Write a plan made after the order's rows were inserted. Nobody saw the first one, so the status
    is set without a status-change event."""
    await session.execute(RECORD_PLAN, [
        {"b": a.backordered, "w": w, "d": p.date, "basis": p.basis, "r": p.reason[:300], "id": line_ids[a.line_no]}
        for a, p, w in zip(plan.allocations, plan.promises, plan.backorder_warehouses(), strict=True)])
    await session.execute(SET_STATUS, {"s": plan.status, "id": order_id})


def placed_answer(data: OrderCreate, actor: Principal, plan: Plan, number: str, created_at: datetime,
                  event_id: int, event: dict[str, Any]) -> OrderOut:
    """The new order's status view, built from what placing it decided."""
    order = {"number": number, "status": plan.status, "channel": data.channel,
             "customer_name": data.customer.name, "customer_email": data.customer.email.lower(),
             "customer_phone": data.customer.phone, "ship_to": data.ship_to.model_dump() if data.ship_to else None,
             "external_ref": data.external_ref, "currency": data.currency, "created_at": created_at, "version": event_id}
    lines = [{"line_no": a.line_no, "sku": plan.by_product[a.product_id].sku,
              "name": plan.by_product[a.product_id].name, "quantity": a.quantity, "cancelled": 0,
              "backordered": a.backordered, "picked": 0, "packed": 0, "shipped": 0, "returned": 0,
              "unit_price": line.unit_price, "promised_date": p.date, "first_promised_date": p.date,
              "promise_basis": p.basis, "reason": p.reason[:300],
              "allocations": [{"warehouse": s.code, "reserved": q} for s, q in a.takes]}
             for a, p, line in zip(plan.allocations, plan.promises, data.lines, strict=True)]
    placed = {"id": event_id, "at": created_at, "type": "order.placed", "actor": actor.name,
              "channel": data.channel, "data": event}
    return assemble(order, lines, [], 0, [placed], touch_threshold=0)


async def _insufficient(session: AsyncSession, data: OrderCreate, skus: Sequence[str],
                        today: date) -> InsufficientStock:
    """The refusal, saying per line what could be promised and when."""
    stock = await availability.load(session, skus, supply=True)
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
