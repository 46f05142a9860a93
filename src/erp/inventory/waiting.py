"""Demand waiting for stock: one first-come, first-served queue per product (DOMAIN.md section 2).

Backordered order lines and repair parts that could not be reserved wait in the same queue (the
database view `waiting_demand`, ordered by the queue position each took when it was placed). Stock that
arrives goes to the head of the queue, and every waiting owner is promised from its place in it: stock
now, then each purchase order by its date, then the lead time. Each owner domain fills and re-promises
its own entries, but all of them plan over the whole queue, so nobody jumps it.

Callers hold the products' stock-level locks at every warehouse (`ledger.lock_products_everywhere`).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from erp.inventory import availability, reservations
from erp.inventory.availability import Availability, Promise, WarehouseStock, by_priority
from erp.inventory.reservations import ORDER_LINE

QUEUE = text(
    "SELECT owner_type, owner_id, product_id, warehouse_id, quantity FROM waiting_demand"
    " WHERE product_id = ANY(:products) ORDER BY queue_position, owner_type, owner_id"
)


@dataclass(frozen=True, slots=True)
class Waiting:
    owner_type: str
    owner_id: int
    product_id: int
    warehouse_id: int | None  # where it waits: an order line's supply warehouse, a repair part's repair shop
    quantity: int


Takes = list[tuple[WarehouseStock, int]]


async def queue(session: AsyncSession, product_ids: Sequence[int]) -> list[Waiting]:
    """The products' waiting demand, head of the queue first."""
    return [Waiting(*row) for row in (await session.execute(QUEUE, {"products": sorted(set(product_ids))})).all()]


def plan_fill(waiting: Sequence[Waiting], stock: Mapping[int, Availability]) -> list[tuple[Waiting, Takes]]:
    """Who gets the free stock, first come first served: an order line from any warehouse by priority, a
    repair part only from its repair's warehouse."""
    free = {(product_id, s.warehouse_id): s.available for product_id, entry in stock.items() for s in entry.stock}
    plan = []
    for entry in waiting:
        sources = by_priority(stock[entry.product_id].stock)
        if entry.owner_type != ORDER_LINE:
            sources = [s for s in sources if s.warehouse_id == entry.warehouse_id]
        remaining, takes = entry.quantity, []
        for source in sources:
            key = (entry.product_id, source.warehouse_id)
            take = min(remaining, free[key])
            if take > 0:
                takes.append((source, take))
                free[key] -= take
                remaining -= take
        if takes:
            plan.append((entry, takes))
    return plan


async def fill(session: AsyncSession, waiting: Sequence[Waiting], owner_type: str) -> list[tuple[Waiting, Takes]]:
    """Reserve what the queue's plan gives this owner type's entries; entries of other owners ahead of
    them keep their share. Returns what was reserved for whom."""
    if not any(w.owner_type == owner_type for w in waiting):
        return []
    stock = await availability.load_products(session, sorted({w.product_id for w in waiting}))
    filled = []
    for entry, takes in plan_fill(waiting, stock):
        if entry.owner_type != owner_type:
            continue
        reserved = [(source, quantity) for source, quantity in takes
                    if await reservations.reserve(session, owner_type, entry.owner_id, entry.product_id,
                                                  source.warehouse_id, quantity)]
        if reserved:
            filled.append((entry, reserved))
    return filled


async def promises(session: AsyncSession, product_ids: Sequence[int], today: date) -> list[tuple[Waiting, Promise]]:
    """Every waiting entry's promise from its place in its product's queue."""
    waiting = await queue(session, product_ids)
    if not waiting:
        return []
    stock = await availability.load_products(session, sorted({w.product_id for w in waiting}))
    await availability.with_supply(session, list(stock.values()))
    promised = []
    for product_id, entry in stock.items():
        line = [w for w in waiting if w.product_id == product_id]
        promised += zip(line, availability.queue_promises(entry, [w.quantity for w in line], today), strict=True)
    return promised


async def promise_for(session: AsyncSession, owner_type: str, owner_id: int, product_id: int,
                      today: date) -> Promise | None:
    """One waiting entry's promise (None when it is not waiting)."""
    for entry, promise in await promises(session, [product_id], today):
        if (entry.owner_type, entry.owner_id) == (owner_type, owner_id):
            return promise
    return None
