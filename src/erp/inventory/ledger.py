"""The ledger: every change of stock is a move, made under the product's stock-level row locks.

Lock order, kept by every operation that changes stock so that concurrent ones cannot deadlock:
stock_level rows first, by (product_id, warehouse priority, warehouse id); everything else after.
"""

from collections.abc import Iterable
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from erp import bus
from erp.errors import InsufficientStock, InvalidRequest
from erp.inventory.catalogue import get_product, location_of_type, resolve_location
from erp.inventory.messages import StockAdded
from erp.inventory.models import PHYSICAL_TYPES, LocationBalance, StockMove
from erp.inventory.schemas import AdjustmentCreate, StockChangeOut, TransferCreate
from erp.inventory.stock import stock_change

LOCK_LEVELS = text(
    "SELECT 1 FROM stock_level s JOIN warehouse w ON w.id = s.warehouse_id"
    " WHERE (s.product_id, s.warehouse_id) IN"
    " (SELECT * FROM unnest(CAST(:products AS int[]), CAST(:warehouses AS int[])))"
    " ORDER BY s.product_id, w.priority, w.id FOR UPDATE OF s"
)
LOCK_PRODUCTS = text(
    "SELECT 1 FROM stock_level s JOIN warehouse w ON w.id = s.warehouse_id"
    " WHERE s.product_id = ANY(CAST(:products AS int[]))"
    " ORDER BY s.product_id, w.priority, w.id FOR UPDATE OF s"
)


async def lock_stock_levels(session: AsyncSession, pairs: Iterable[tuple[int, int]]) -> None:
    """Lock (product, warehouse) stock-level rows in the one global order.

    Every operation that changes stock calls this (or `lock_products_everywhere`) before anything
    else, and reservations are made in the same order, so two operations never wait on each other in
    a cycle.
    """
    pairs = sorted(set(pairs))
    if pairs:
        await session.execute(LOCK_LEVELS, {"products": [p for p, _ in pairs], "warehouses": [w for _, w in pairs]})


async def lock_products_everywhere(session: AsyncSession, product_ids: Iterable[int]) -> None:
    """Lock a product's stock level at every warehouse (for work that may reallocate between them)."""
    await session.execute(LOCK_PRODUCTS, {"products": sorted(set(product_ids))})


async def record_move(
    session: AsyncSession,
    *,
    product_id: int,
    from_location_id: int,
    to_location_id: int,
    quantity: int,
    reason: str,
    actor: str,
    reference: str | None = None,
) -> int:
    """Append one move; the ledger trigger updates the balances and the CHECK constraints guard them."""
    return (
        await session.execute(
            insert(StockMove)
            .values(
                product_id=product_id,
                from_location_id=from_location_id,
                to_location_id=to_location_id,
                quantity=quantity,
                reason=reason,
                reference=reference,
                actor=actor,
            )
            .returning(StockMove.id)
        )
    ).scalar_one()


async def location_quantity(session: AsyncSession, location_id: int, product_id: int) -> int:
    quantity = (
        await session.execute(
            select(LocationBalance.quantity).where(
                LocationBalance.location_id == location_id, LocationBalance.product_id == product_id
            )
        )
    ).scalar_one_or_none()
    return quantity or 0


async def _guarded_move(session: AsyncSession, what: str, **move: Any) -> int:
    try:
        async with session.begin_nested():
            return await record_move(session, **move)
    except IntegrityError as exc:
        constraint = getattr(getattr(exc.orig, "__cause__", None), "constraint_name", "") or ""
        if "reserved" in constraint:
            raise InsufficientStock(f"{what}: that stock is reserved for orders; release it first.") from None
        raise InsufficientStock(f"{what}: the source location does not hold that much.") from None


async def adjust(session: AsyncSession, data: AdjustmentCreate, actor: str) -> StockChangeOut:
    product = await get_product(session, data.sku)
    location, warehouse = await resolve_location(session, data.location)
    if location.type not in PHYSICAL_TYPES:
        raise InvalidRequest(f"{data.location} is a virtual location; adjust a physical one.")
    await lock_products_everywhere(session, [product.id])
    delta = data.quantity_delta
    if delta is None:
        delta = data.counted_quantity - await location_quantity(session, location.id, product.id)
    move_ids = []
    if delta:
        outside = await location_of_type(session, warehouse.id, "adjustment")
        source, target = (outside.id, location.id) if delta > 0 else (location.id, outside.id)
        move_ids.append(
            await _guarded_move(
                session,
                f"Adjusting {data.sku} at {data.location} by {delta}",
                product_id=product.id,
                from_location_id=source,
                to_location_id=target,
                quantity=abs(delta),
                reason=data.reason,
                actor=actor,
                reference=data.reference,
            )
        )
    if delta > 0 and location.type == "storage":
        await bus.publish(session, StockAdded((product.id,), actor))
    return await stock_change(session, move_ids, product.id, [location.id], [warehouse.id])


async def transfer(session: AsyncSession, data: TransferCreate, actor: str) -> StockChangeOut:
    product = await get_product(session, data.sku)
    source, source_warehouse = await resolve_location(session, data.from_location)
    target, target_warehouse = await resolve_location(session, data.to_location)
    for location, address in ((source, data.from_location), (target, data.to_location)):
        if location.type not in PHYSICAL_TYPES:
            raise InvalidRequest(f"{address} is a virtual location; transfers move stock between physical ones.")
    if source.id == target.id:
        raise InvalidRequest("from_location and to_location are the same.")
    await lock_products_everywhere(session, [product.id])
    move_id = await _guarded_move(
        session,
        f"Transferring {data.quantity} {data.sku} from {data.from_location}",
        product_id=product.id,
        from_location_id=source.id,
        to_location_id=target.id,
        quantity=data.quantity,
        reason="transfer",
        actor=actor,
        reference=data.reference,
    )
    if target.type == "storage" and (source.type != "storage" or source_warehouse.id != target_warehouse.id):
        await bus.publish(session, StockAdded((product.id,), actor))
    return await stock_change(
        session, [move_id], product.id, [source.id, target.id], [source_warehouse.id, target_warehouse.id]
    )
