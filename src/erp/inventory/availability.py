"""Available-to-promise: what can be promised, by when, and why (DOMAIN.md section 2).

The rules are pure functions over plain data; the loader reads that data in one query. Dated supply
(open purchase-order lines) plugs in through `Supply`: nothing here knows where it comes from.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from erp.db import Coalesced, HotStatement
from erp.errors import NotFound
from erp.inventory.schemas import AvailabilityOut, ProjectionPointOut, WarehouseAvailabilityOut


@dataclass(frozen=True, slots=True)
class WarehouseStock:
    warehouse_id: int
    code: str
    priority: int
    handling_days: int
    available: int  # on hand and not reserved: what a reservation can take now
    backordered: int = 0  # demand already waiting here, which claims stock before any new order


@dataclass(frozen=True, slots=True)
class Supply:
    """Quantity due into a warehouse on a date, not yet claimed by earlier backorders."""

    due: date
    quantity: int
    reference: str
    warehouse_id: int
    code: str
    handling_days: int
    arrived: bool = False  # received, waiting for inspection

    @property
    def reason(self) -> str:
        if self.arrived:
            return f"waiting for {self.reference}, received and awaiting inspection"
        return f"waiting for {self.reference}, due {self.due.isoformat()}"


@dataclass(frozen=True, slots=True)
class Promise:
    date: date | None
    basis: str  # in_stock | incoming_supply | supplier_lead_time | cannot_promise
    reason: str
    estimated: bool = False
    supply_reference: str | None = None  # the purchase order it waits for
    supply_warehouse_id: int | None = None  # where that supply arrives


@dataclass(frozen=True, slots=True)
class ProjectionPoint:
    date: date
    available: int
    reference: str | None = None


@dataclass(slots=True)
class Availability:
    sku: str
    product_id: int
    stock: list[WarehouseStock]
    supply: list[Supply] = field(default_factory=list)
    lead_time_days: int | None = None
    active: bool = True
    name: str = ""
    # All open supply, before earlier backorders claim their share (`supply` is what is left).
    all_supply: list[Supply] = field(default_factory=list)

    @property
    def available_now(self) -> int:
        """Units promisable from stock now: what is unreserved, less what earlier backorders claim."""
        return max(0, sum(s.available for s in self.stock) - sum(s.backordered for s in self.stock))


# The latest date a promise can name: the calendar's last day less one, since asyncpg stores date.max itself
# as PostgreSQL's `infinity`, which no longer reads back as a date.
LAST_DAY = date.max - timedelta(days=1)


def days_after(day: date, days: int) -> date:
    """`day` plus `days`, never past LAST_DAY: a date stored before client dates were bounded (a purchase
    order due 9999-12-31) makes a very late promise, never an OverflowError."""
    if days >= (LAST_DAY - day).days:
        return LAST_DAY
    return day + timedelta(days=days)


def by_priority(stock: Sequence[WarehouseStock]) -> list[WarehouseStock]:
    return sorted(stock, key=lambda s: (s.priority, s.warehouse_id))


def in_stock_promise(takes: Sequence[tuple[WarehouseStock, int]], today: date) -> Promise:
    """The promise for units reserved now: ready after the slowest warehouse's handling time."""
    used = [s for s, quantity in takes if quantity > 0]
    days = max(s.handling_days for s in used)
    codes = " and ".join(dict.fromkeys(s.code for s in used))
    return Promise(days_after(today, days), "in_stock", f"in stock at {codes}")


def promise(quantity: int, availability: Availability, today: date) -> Promise:
    """When `quantity` units can be promised: from stock now, else dated supply, else lead time."""
    if quantity > availability.available_now:
        return backorder_promise(quantity - availability.available_now, availability, today)
    remaining, takes = quantity, []
    for stock in by_priority(availability.stock):
        take = min(remaining, max(stock.available, 0))
        if take:
            takes.append((stock, take))
            remaining -= take
    return in_stock_promise(takes, today)


def backorder_promise(missing: int, availability: Availability, today: date) -> Promise:
    """The promise for `missing` units that stock cannot cover now."""
    covered = 0
    for lot in sorted(availability.supply, key=lambda s: (s.due, s.reference)):
        covered += lot.quantity
        if covered >= missing:
            ready = days_after(max(lot.due, today), lot.handling_days)
            return Promise(ready, "incoming_supply", lot.reason, supply_reference=lot.reference,
                           supply_warehouse_id=lot.warehouse_id)
    if availability.lead_time_days is not None:
        handling = min((s.handling_days for s in availability.stock), default=0)
        return Promise(
            days_after(today, availability.lead_time_days + handling),
            "supplier_lead_time",
            f"estimated from the preferred supplier's lead time of {availability.lead_time_days} days",
            estimated=True,
        )
    return Promise(
        None, "cannot_promise",
        f"{missing} not in stock ({availability.available_now} available now) and no supply planned",
    )


def queue_promises(availability: Availability, queue: Sequence[int], today: date) -> list[Promise]:
    """Promises for backordered quantities waiting in line (oldest first) for stock and dated supply."""
    free = sum(max(s.available, 0) for s in availability.stock)
    lots = sorted(availability.all_supply, key=lambda s: (s.due, s.reference))
    promises, demand = [], 0
    for need in queue:
        demand += need
        if demand <= free:
            promises.append(promise(need, Availability(availability.sku, availability.product_id,
                                                       availability.stock), today))
            continue
        covered, lot_found = free, None
        for lot in lots:
            covered += lot.quantity
            if covered >= demand:
                lot_found = lot
                break
        if lot_found is not None:
            promises.append(Promise(
                days_after(max(lot_found.due, today), lot_found.handling_days), "incoming_supply",
                lot_found.reason, supply_reference=lot_found.reference, supply_warehouse_id=lot_found.warehouse_id))
        else:
            promises.append(backorder_promise(need, Availability(
                availability.sku, availability.product_id, availability.stock,
                lead_time_days=availability.lead_time_days), today))
    return promises


def projection(availability: Availability, today: date) -> list[ProjectionPoint]:
    """Units that can be promised by each date: stock now, then each dated supply as it arrives."""
    points = [ProjectionPoint(today, availability.available_now)]
    running = availability.available_now
    for lot in sorted(availability.supply, key=lambda s: (s.due, s.reference)):
        running += lot.quantity
        points.append(ProjectionPoint(max(lot.due, today), running, lot.reference))
    return points


STOCK = """
SELECT p.id AS product_id, p.sku, p.name, p.active, w.id AS warehouse_id, w.code, w.priority, w.handling_days,
       s.available, s.backordered
  FROM product p JOIN stock_position s ON s.product_id = p.id JOIN warehouse w ON w.id = s.warehouse_id
"""
FOR_SKUS = " WHERE p.sku = ANY(:skus) AND (CAST(:warehouse AS text) IS NULL OR w.code = :warehouse)"
BY_SKU = HotStatement(text(STOCK + FOR_SKUS))
# What reserving needs, and no more: the order-placement hot path reads this.
RESERVABLE = HotStatement(text(
    "SELECT p.id AS product_id, p.sku, p.name, p.active, w.id AS warehouse_id, w.code, w.priority,"
    " w.handling_days, s.on_hand - s.reserved AS available, 0 AS backordered"
    " FROM product p JOIN stock_level s ON s.product_id = p.id JOIN warehouse w ON w.id = s.warehouse_id"
    " WHERE p.sku = ANY(:skus)"
))
BY_PRODUCT = HotStatement(text(STOCK + " WHERE p.id = ANY(:ids)"))
# Per product: its dated supply (open purchase-order lines, received goods waiting for inspection), earliest
# first, and its preferred supplier's lead time.
SUPPLY_OF = """
SELECT p.id AS product_id, t.lead_time_days,
       (SELECT coalesce(json_agg(json_build_object(
                'due', u.due, 'quantity', u.quantity, 'reference', u.reference, 'warehouse_id', u.warehouse_id,
                'code', w.code, 'handling_days', w.handling_days, 'received', u.received) ORDER BY u.due, u.reference), '[]')
          FROM open_supply u JOIN warehouse w ON w.id = u.warehouse_id WHERE u.product_id = p.id) AS lots
  FROM product p LEFT JOIN preferred_lead_time t ON t.product_id = p.id
"""
SUPPLY = HotStatement(text(SUPPLY_OF + " WHERE p.id = ANY(:ids)"))
# Stock, supply and lead time in one round trip: what answering "when can I have it?" needs.
BY_SKU_WITH_SUPPLY = HotStatement(text(f"""
WITH stock AS ({STOCK} {FOR_SKUS}),
     supply AS ({SUPPLY_OF} WHERE p.id IN (SELECT product_id FROM stock))
SELECT stock.*, supply.lead_time_days, supply.lots FROM stock JOIN supply USING (product_id)
"""))
# Requests at the same moment read their products together (issue 13): orders placing, and
# "when can I have it?" in every warehouse.
RESERVABLE_READS = Coalesced(RESERVABLE, "skus", "sku")
WITH_SUPPLY_READS = Coalesced(BY_SKU_WITH_SUPPLY, "skus", "sku", params={"warehouse": None})


def _collect(rows: Sequence[Any], key: str) -> dict[Any, Availability]:
    found: dict[Any, Availability] = {}
    for row in rows:
        entry = found.setdefault(row[key], Availability(row["sku"], row["product_id"], [], active=row["active"],
                                                        name=row["name"]))
        entry.stock.append(WarehouseStock(row["warehouse_id"], row["code"], row["priority"], row["handling_days"],
                                          row["available"], row["backordered"]))
    return found


async def load(
    session: AsyncSession, skus: Sequence[str], warehouse: str | None = None, *, demand: bool = True,
    supply: bool = False,
) -> dict[str, Availability]:
    """Availability of each sku, in one query; 404 for a sku (or warehouse) that does not exist.

    Without `demand`, backordered demand is left out (zero): enough to reserve, not to promise supply.
    With `supply`, dated supply and lead times too (`with_supply`), in the same query.
    """
    if supply and warehouse is None:  # read with other requests' when they come together
        rows = await WITH_SUPPLY_READS.fetch(session, skus)
    elif supply or demand:
        query = BY_SKU_WITH_SUPPLY if supply else BY_SKU
        rows = await query.fetch(session, {"skus": list(skus), "warehouse": warehouse})
    else:  # every warehouse's stock, read with other orders' when they come together
        rows = await RESERVABLE_READS.fetch(session, skus)
    found = _collect(rows, "sku")
    missing = sorted(set(skus) - found.keys())
    if missing:
        where = f" at warehouse {warehouse!r}" if warehouse else ""
        raise NotFound(f"No product {', '.join(missing)}{where}.")
    if supply:
        _add_supply(found.values(), rows)
    return found


async def load_products(session: AsyncSession, product_ids: Sequence[int]) -> dict[int, Availability]:
    return _collect(await BY_PRODUCT.fetch(session, {"ids": list(product_ids)}), "product_id")


async def with_supply(session: AsyncSession, found: Sequence[Availability]) -> None:
    """Add dated supply (open purchase orders) and the preferred supplier's lead time.

    Supply is first come, first served: backorders already waiting claim the earliest supply, so each
    `Supply` left here is what a new request can still be promised from.
    """
    _add_supply(found, await SUPPLY.fetch(session, {"ids": [a.product_id for a in found]}))


def _add_supply(found: Iterable[Availability], rows: Sequence[Any]) -> None:
    by_id = {a.product_id: a for a in found}
    for row in rows:
        entry = by_id.pop(row["product_id"], None)
        if entry is None:
            continue  # another warehouse's row of a product already seen
        entry.lead_time_days = row["lead_time_days"]
        entry.all_supply = [Supply(_day(lot["due"]), lot["quantity"], lot["reference"], lot["warehouse_id"],
                                   lot["code"], lot["handling_days"], lot["received"]) for lot in row["lots"]]
        claimed = max(0, sum(s.backordered for s in entry.stock) - sum(s.available for s in entry.stock))
        entry.supply = unclaimed(entry.all_supply, claimed)


def _day(value: str) -> date:
    """A date as JSON carries it; `infinity` is how asyncpg once stored date.max."""
    return date.max if value == "infinity" else date.fromisoformat(value)


def unclaimed(lots: Sequence[Supply], claimed: int) -> list[Supply]:
    """What is left of dated supply after `claimed` units go to earlier demand, earliest lots first."""
    left = []
    for lot in sorted(lots, key=lambda s: (s.due, s.reference)):
        take = min(claimed, lot.quantity)
        claimed -= take
        if lot.quantity > take:
            left.append(Supply(lot.due, lot.quantity - take, lot.reference, lot.warehouse_id, lot.code,
                               lot.handling_days, lot.arrived))
    return left


def answer(availability: Availability, quantity: int, today: date) -> AvailabilityOut:
    """What a rep says when asked for `quantity` units."""
    promised = promise(quantity, availability, today)
    return AvailabilityOut(
        sku=availability.sku,
        quantity=quantity,
        available_now=availability.available_now,
        can_promise=promised.date is not None,
        promise_date=promised.date,
        promise_basis=promised.basis,
        reason=promised.reason,
        estimated=promised.estimated,
        warehouses=[
            WarehouseAvailabilityOut(warehouse=s.code, available=s.available, backordered=s.backordered,
                                     handling_days=s.handling_days)
            for s in by_priority(availability.stock)
        ],
        projection=[ProjectionPointOut(date=p.date, available=p.available, supply=p.reference)
                    for p in projection(availability, today)],
    )
