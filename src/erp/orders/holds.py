"""Holds: stock reserved for a customer who has not ordered yet, for a limited time (DOMAIN.md section 2).

A hold reserves through the same conditional update as an order (`reservations.reserve_all`, owner
`hold`), all or nothing: it never holds what it cannot get. An order placed with the hold takes its
reservations over in the same transaction (no second race for the stock); a hold released, or past its
expiry (released by the worker within a second or so), gives its units back, and waiting backorders claim
them first.

Lock order, as everywhere: the products' stock levels first, then the hold.
"""

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from erp import bus, events, metrics
from erp.auth import Principal
from erp.db import first_or_404
from erp.errors import Conflict, InsufficientStock, InvalidRequest, InvalidTransition
from erp.inventory import availability, ledger, reservations
from erp.inventory.messages import StockAdded
from erp.inventory.reservations import HOLD, ORDER_LINE, Claim, holdings
from erp.orders.allocation import LineRequest, allocate
from erp.orders.schemas import AllocationOut, HoldCreate, HoldLineOut, HoldOut


class HoldMismatch(Conflict):
    code, title = "hold_mismatch", "The order does not match the hold"


INSERT_HOLD = text("INSERT INTO hold (expires_at, created_by) VALUES (:expires, :actor) RETURNING id, created_at")
INSERT_LINES = text(
    "INSERT INTO hold_line (hold_id, line_no, product_id, quantity)"
    " SELECT :hold, x.n, x.p, x.q FROM unnest(CAST(:ns AS int[]), CAST(:ps AS int[]), CAST(:qs AS bigint[]))"
    " AS x(n, p, q) RETURNING id, line_no"
)
HOLD_PRODUCTS = text("SELECT product_id FROM hold_line WHERE hold_id = :id")
LOCK_HOLD = text("SELECT *, expires_at <= now() AS lapsed FROM hold WHERE id = :id FOR UPDATE")
HOLD_LINES = text(f"""
    SELECT hl.id, hl.line_no, hl.product_id, p.sku, hl.quantity,
           coalesce((SELECT json_agg(json_build_object('warehouse_id', w.id, 'warehouse', w.code,
                                                       'reserved', h.quantity) ORDER BY w.priority, w.id)
                       FROM {holdings(HOLD, owner_id='hl.id')} h JOIN warehouse w ON w.id = h.warehouse_id),
                    '[]') AS allocations
      FROM hold_line hl JOIN product p ON p.id = hl.product_id WHERE hl.hold_id = :id ORDER BY hl.line_no
""")
HOLD_VIEW = text("SELECT h.*, o.number AS order_number FROM hold h LEFT JOIN sales_order o ON o.id = h.order_id"
            " WHERE h.id = :id")
END = text("UPDATE hold SET status = :s, ended_at = now(), order_id = :o WHERE id = :id")
DUE = text("SELECT id FROM hold WHERE status = 'active' AND expires_at <= now() ORDER BY expires_at LIMIT :n")
LOCK_DUE = text("SELECT id FROM hold WHERE id = :id AND status = 'active' AND expires_at <= now()"
                " FOR UPDATE SKIP LOCKED")


async def create(session: AsyncSession, data: HoldCreate, actor: Principal) -> UUID:
    """Reserve every line, or refuse (409 `insufficient_stock`) and hold nothing."""
    skus = [line.sku for line in data.lines]
    stock = await availability.load(session, skus, data.warehouse, demand=False)
    inactive = [sku for sku in skus if not stock[sku].active]
    if inactive:
        raise InvalidRequest(f"Not sold: {', '.join(inactive)} is inactive.")
    requests = [LineRequest(n, stock[line.sku].product_id, line.quantity) for n, line in enumerate(data.lines, 1)]
    plan = allocate(requests, {entry.product_id: entry.stock for entry in stock.values()})
    if any(a.backordered for a in plan):
        # Under the locks, on fresh numbers, before refusing: a racing hold may have just let go.
        await ledger.lock_products_everywhere(session, [r.product_id for r in requests])
        stock = await availability.load(session, skus, data.warehouse, demand=False)
        plan = allocate(requests, {entry.product_id: entry.stock for entry in stock.values()})
        _refuse_short(plan, stock, data)
    expires = datetime.now(UTC) + timedelta(seconds=data.expires_in)
    hold = (await session.execute(INSERT_HOLD, {"expires": expires, "actor": actor.name})).one()
    line_ids = {row.line_no: row.id for row in (await session.execute(INSERT_LINES, {
        "hold": hold.id, "ns": [r.line_no for r in requests], "ps": [r.product_id for r in requests],
        "qs": [r.quantity for r in requests]})).all()}
    claims = [Claim(a.product_id, s.priority, s.warehouse_id, line_ids[a.line_no], q) for a in plan for s, q in a.takes]
    if not await reservations.reserve_all(session, HOLD, claims):
        # A racing claim took the stock between the read and the reservation: refuse, holding nothing.
        raise InsufficientStock("The stock for this hold was just taken; nothing is held. Try again.")
    await events.record(session, "hold.placed", str(hold.id), actor.name, data={
        "lines": [{"sku": line.sku, "quantity": line.quantity} for line in data.lines], "expires_at": expires})
    return hold.id


def _refuse_short(plan: list[Any], stock: dict[str, Any], data: HoldCreate) -> None:
    short = [f"{line.sku} ({min(line.quantity, a.reserved)} of {line.quantity})"
             for line, a in zip(data.lines, plan, strict=True) if a.backordered]
    if short:
        raise InsufficientStock(f"Not enough stock to hold {', '.join(short)}; nothing is held.",
                                extra={"lines": [{"sku": line.sku, "requested": line.quantity,
                                                  "available_now": stock[line.sku].available_now}
                                                 for line in data.lines]})


async def view(session: AsyncSession, hold_id: UUID) -> HoldOut:
    hold = await first_or_404(session, HOLD_VIEW, {"id": hold_id}, missing=f"No hold {hold_id}.")
    lines = (await session.execute(HOLD_LINES, {"id": hold_id})).all()
    return HoldOut(id=hold.id, status=hold.status, expires_at=hold.expires_at, order=hold.order_number,
                   created_at=hold.created_at, lines=[HoldLineOut(
                       sku=line.sku, quantity=line.quantity,
                       allocations=[AllocationOut(warehouse=a["warehouse"], reserved=a["reserved"])
                                    for a in line.allocations]) for line in lines])


async def _lock(session: AsyncSession, hold_id: UUID) -> tuple[Any, list[int]]:
    """Lock the hold's products everywhere, then the hold."""
    products = (await session.execute(HOLD_PRODUCTS, {"id": hold_id})).scalars().all()
    await ledger.lock_products_everywhere(session, products)
    hold = await first_or_404(session, LOCK_HOLD, {"id": hold_id}, missing=f"No hold {hold_id}.")
    return hold, sorted(set(products))


async def _let_go(session: AsyncSession, hold_id: UUID, status: str, actor: str, products: list[int]) -> None:
    for line in (await session.execute(HOLD_LINES, {"id": hold_id})).all():
        await reservations.release(session, HOLD, line.id, line.quantity)
    await session.execute(END, {"s": status, "o": None, "id": hold_id})
    await events.record(session, f"hold.{status}", str(hold_id), actor)
    # The units are free again: waiting backorders (and repair parts) claim them first.
    await bus.publish(session, StockAdded(tuple(products), actor))


async def release(session: AsyncSession, hold_id: UUID, actor: Principal) -> None:
    hold, products = await _lock(session, hold_id)
    if hold.status != "active":
        raise InvalidTransition(f"Hold {hold_id} is {hold.status}; there is nothing to release.")
    await _let_go(session, hold_id, "released", actor.name, products)


async def expire_due(session: AsyncSession, limit: int) -> int:
    """Release holds past their expiry, at most `limit`; returns how many. Safe with many workers."""
    expired = 0
    for hold_id in (await session.execute(DUE, {"n": limit})).scalars().all():
        products = (await session.execute(HOLD_PRODUCTS, {"id": hold_id})).scalars().all()
        await ledger.lock_products_everywhere(session, products)
        if (await session.execute(LOCK_DUE, {"id": hold_id})).first() is None:
            continue  # another worker has it, or it was converted or released meanwhile
        await _let_go(session, hold_id, "expired", "system", sorted(set(products)))
        metrics.HOLDS_EXPIRED.inc()
        expired += 1
    return expired


async def take_over(session: AsyncSession, hold_id: UUID, wanted: dict[str, int]) -> list[Any]:
    """Lock an active hold for an order that asks exactly for its lines (sku -> quantity); returns its
    lines with what each holds per warehouse. The caller moves the reservations to the order's lines
    (`hand_over`)."""
    hold, _ = await _lock(session, hold_id)
    if hold.status != "active" or hold.lapsed:
        status = "expired" if hold.status == "active" else hold.status
        raise InvalidTransition(f"Hold {hold_id} is {status}; place the order without it.")
    lines = (await session.execute(HOLD_LINES, {"id": hold_id})).all()
    held = {line.sku: line.quantity for line in lines}
    if held != wanted:
        raise HoldMismatch(f"The order must ask for exactly what hold {hold_id} holds: "
                           + ", ".join(f"{q} x {sku}" for sku, q in held.items()) + ".")
    return lines


async def hand_over(session: AsyncSession, hold_id: UUID, lines: dict[int, int], order_id: int, number: str,
                    actor: str) -> None:
    """The order's lines take the hold's reservations: hold line id -> order line id."""
    for hold_line, order_line in lines.items():
        await reservations.transfer(session, HOLD, hold_line, ORDER_LINE, order_line)
    await session.execute(END, {"s": "converted", "o": order_id, "id": hold_id})
    await events.record(session, "hold.converted", str(hold_id), actor, order_id=order_id, data={"order": number})
