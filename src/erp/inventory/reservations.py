"""Reservations: the only code that reserves, releases and consumes stock (DOMAIN.md section 2).

A reservation claims units of a product at a warehouse for one owner: an order line, a repair part or
a hold. `stock_level.reserved` is the sum of the active reservations (invariant 3); the two change here
and nowhere else, always together.

Reserving is one conditional update per product and warehouse
(`SET reserved = reserved + n WHERE on_hand - reserved >= n`) with its reservation row, made for a
whole batch by the database function `reserve_stock()` (see the migrations), all or nothing: two claims
racing for the last unit can never both win. Batches go in the global lock order (product, warehouse
priority, warehouse id), the order in which every operation that changes stock locks it
(`ledger.lock_stock_levels`), so concurrent work cannot deadlock. Releasing and consuming are done by
callers that already hold those locks.

Other domains read what an owner holds through the SQL fragments below (`held`, `holdings`), so the
reservation table has one home.
"""

from collections.abc import Iterable
from typing import Any, NamedTuple

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from erp.inventory.ledger import record_move
from erp.inventory.messages import Reclaimed

OWNER_TYPES = ("order_line", "repair_part", "hold")
ORDER_LINE, REPAIR_PART, HOLD = OWNER_TYPES


class Claim(NamedTuple):
    """Units to reserve for one owner at one warehouse. Claims sort into the global lock order."""

    product_id: int
    priority: int  # the warehouse's
    warehouse_id: int
    owner_id: int
    quantity: int


def reserve_call(owners: str = "CAST(:r_owners AS int[])", *, or_raise: bool = False) -> str:
    """The `reserve_stock()` call over the parameters `claim_params` gives. `owners` is the SQL that
    yields the owner ids, so a statement that creates the owners can reserve for them too (placement).
    `or_raise`: `claim_stock()`, which raises `SHORT` instead of answering false, undoing the whole
    statement (for a statement that commits on its own)."""
    function = "claim_stock" if or_raise else "reserve_stock"
    return (f"{function}(CAST(:r_owner_type AS text), CAST(:r_products AS int[]), CAST(:r_warehouses AS int[]),"
            f" CAST(:r_quantities AS bigint[]), {owners})")


# The SQLSTATE `claim_stock()` raises when stock fell short.
SHORT = "ER001"


RESERVE = text(f"SELECT {reserve_call()}")
HELD = text(
    "SELECT id, warehouse_id, product_id, quantity FROM reservation"
    " WHERE owner_type = :owner_type AND owner_id = :owner AND quantity > 0"
    " AND (CAST(:warehouse AS int) IS NULL OR warehouse_id = :warehouse) ORDER BY id DESC"
)
SHRINK = text("UPDATE reservation SET quantity = quantity - :q WHERE id = :id")
UNRESERVE = text("UPDATE stock_level SET reserved = reserved - :q WHERE product_id = :p AND warehouse_id = :w")
# How many reservations stock would no longer cover once `missing` units leave storage.
UNCOVERED = text(
    "SELECT reserved - (on_hand - :missing) FROM stock_level WHERE product_id = :p AND warehouse_id = :w"
)
TRANSFER = text(
    "UPDATE reservation SET owner_type = :to_type, owner_id = :to_id"
    " WHERE owner_type = :from_type AND owner_id = :from_id AND quantity > 0"
)
NEWEST_AT = text(
    "SELECT owner_type, owner_id, quantity FROM reservation"
    " WHERE product_id = :p AND warehouse_id = :w AND quantity > 0 ORDER BY id DESC"
)


def _owner_type(owner_type: str) -> str:
    if owner_type not in OWNER_TYPES:
        raise ValueError(f"unknown reservation owner {owner_type!r}")
    return owner_type


def claim_params(owner_type: str, claims: Iterable[Claim]) -> dict[str, Any]:
    """Parameters of `reserve_call()` for `claims`, put in the global lock order."""
    ordered = sorted(claims)
    return {
        "r_owner_type": _owner_type(owner_type),
        "r_products": [c.product_id for c in ordered],
        "r_warehouses": [c.warehouse_id for c in ordered],
        "r_quantities": [c.quantity for c in ordered],
        "r_owners": [c.owner_id for c in ordered],
    }


async def reserve_all(session: AsyncSession, owner_type: str, claims: Iterable[Claim]) -> bool:
    """Every claim, or none: False when stock could not cover one of them, and then nothing changed."""
    return (await session.execute(RESERVE, claim_params(owner_type, claims))).scalar_one()


async def reserve(session: AsyncSession, owner_type: str, owner_id: int, product_id: int, warehouse_id: int,
                  quantity: int) -> bool:
    """Reserve for one owner at one warehouse; False if stock is short, and nothing changed."""
    return await reserve_all(session, owner_type, [Claim(product_id, 0, warehouse_id, owner_id, quantity)])


async def release(session: AsyncSession, owner_type: str, owner_id: int, quantity: int,
                  warehouse_id: int | None = None) -> int:
    """Release up to `quantity` of an owner's reservations (at one warehouse, or any), newest first.
    Returns how many units were released."""
    released = 0
    rows = (await session.execute(HELD, {"owner_type": _owner_type(owner_type), "owner": owner_id,
                                         "warehouse": warehouse_id})).all()
    for row in rows:
        take = min(quantity - released, row.quantity)
        if take <= 0:
            break
        await session.execute(SHRINK, {"q": take, "id": row.id})
        await session.execute(UNRESERVE, {"q": take, "p": row.product_id, "w": row.warehouse_id})
        released += take
    return released


async def transfer(session: AsyncSession, from_type: str, from_id: int, to_type: str, to_id: int) -> None:
    """Another owner takes over what one holds (an order takes a hold's units): stock levels do not change,
    nobody else can get in between."""
    await session.execute(TRANSFER, {"from_type": _owner_type(from_type), "from_id": from_id,
                                     "to_type": _owner_type(to_type), "to_id": to_id})


async def consume(session: AsyncSession, owner_type: str, owner_id: int, *, product_id: int, warehouse_id: int,
                  from_location_id: int, to_location_id: int, quantity: int, reason: str, reference: str,
                  actor: str) -> int:
    """Reserved units leave storage for their owner (picked for an order line, used by a repair): the
    reservation shrinks and the ledger records the move, together. Returns the move's id."""
    released = await release(session, owner_type, owner_id, quantity, warehouse_id)
    if released != quantity:
        raise RuntimeError(f"{owner_type} {owner_id} holds {released}, not {quantity}, at warehouse {warehouse_id}")
    return await record_move(session, product_id=product_id, from_location_id=from_location_id,
                             to_location_id=to_location_id, quantity=quantity, reason=reason, reference=reference,
                             actor=actor)


async def reclaim(session: AsyncSession, product_id: int, warehouse_id: int, missing: int) -> list[Reclaimed]:
    """`missing` units of storage stock turned out not to exist: release the newest reservations (of any
    owner) that stock would no longer cover, before the units are written off. Returns what was taken
    back, for the owners to find elsewhere."""
    over = (await session.execute(UNCOVERED, {"missing": missing, "p": product_id, "w": warehouse_id})).scalar_one()
    reclaimed: list[Reclaimed] = []
    if over <= 0:
        return reclaimed
    for row in (await session.execute(NEWEST_AT, {"p": product_id, "w": warehouse_id})).all():
        if over <= 0:
            break
        take = await release(session, row.owner_type, row.owner_id, min(over, row.quantity), warehouse_id)
        reclaimed.append(Reclaimed(row.owner_type, row.owner_id, product_id, warehouse_id, take))
        over -= take
    return reclaimed


# --- reading, for the owners' own queries -------------------------------------------------------------


def held(owner_type: str, owner_id: str, warehouse_id: str | None = None) -> str:
    """SQL for the units an owner holds (at one warehouse, or all); `owner_id` and `warehouse_id` are SQL
    expressions, e.g. `held(ORDER_LINE, "l.id")`."""
    at = f" AND r.warehouse_id = {warehouse_id}" if warehouse_id else ""
    return (f"coalesce((SELECT sum(r.quantity) FROM reservation r WHERE r.owner_type = '{_owner_type(owner_type)}'"
            f" AND r.owner_id = {owner_id}{at}), 0)::bigint")


def holdings(owner_type: str, *, owner_id: str | None = None, warehouse_id: str | None = None) -> str:
    """SQL for a relation (owner_id, warehouse_id, quantity) of what owners hold, per owner and warehouse,
    only where they hold something; narrowed to one owner or one warehouse by SQL expressions."""
    where = [f"owner_type = '{_owner_type(owner_type)}'", "quantity > 0"]
    if owner_id:
        where.append(f"owner_id = {owner_id}")
    if warehouse_id:
        where.append(f"warehouse_id = {warehouse_id}")
    return (f"(SELECT owner_id, warehouse_id, sum(quantity)::bigint AS quantity FROM reservation"
            f" WHERE {' AND '.join(where)} GROUP BY owner_id, warehouse_id)")
