"""Stock rules: every change is a ledger move, made under the product's stock-level row locks.

Lock order, kept by every operation that changes stock so that concurrent ones cannot deadlock:
stock_level rows first, by (product_id, warehouse_id); everything else after.
"""

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import and_, func, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from erp.db import add_unique
from erp.errors import AlreadyExists, InsufficientStock, InvalidRequest, NotFound, VersionConflict
from erp.inventory.models import (
    PHYSICAL_TYPES,
    Location,
    LocationBalance,
    Product,
    StockMove,
    Warehouse,
)
from erp.inventory.models import stock_position as position
from erp.inventory.schemas import (
    AdjustmentCreate,
    LocationCreate,
    LocationStockOut,
    MoveOut,
    ProductCreate,
    ProductUpdate,
    StockChangeOut,
    StockLevelOut,
    TransferCreate,
    WarehouseCreate,
)

# Inventory knows nothing of orders, but waiting demand must hear about supply. Hooks are called with
# (session, product ids, actor), the products' stock levels locked everywhere; orders registers itself.
StockHook = Callable[[AsyncSession, list[int], str], Awaitable[Any]]
# Stock became sellable outside of any order's work: backorders claim it first.
stock_added_hooks: list[StockHook] = []
# Dated supply changed (a purchase order sent, moved, cancelled, short-received): re-promise.
supply_changed_hooks: list[StockHook] = []


async def stock_added(session: AsyncSession, product_ids: list[int], actor: str) -> None:
    for hook in stock_added_hooks:
        await hook(session, product_ids, actor)


async def supply_changed(session: AsyncSession, product_ids: list[int], actor: str) -> None:
    for hook in supply_changed_hooks:
        await hook(session, product_ids, actor)


# Locations every warehouse gets when it is created: (code, type).
STANDARD_LOCATIONS = (
    ("RECEIVING", "receiving"),
    ("QUARANTINE", "quarantine"),
    ("PACKING", "packing"),
    ("SCRAP", "scrap"),
    ("SUPPLIER", "supplier"),
    ("CUSTOMER", "customer"),
    ("ADJUSTMENT", "adjustment"),
)


# --- catalogue -------------------------------------------------------------------------------------


async def get_product(session: AsyncSession, sku: str) -> Product:
    product = (await session.execute(select(Product).where(Product.sku == sku))).scalar_one_or_none()
    if product is None:
        raise NotFound(f"No product with sku {sku!r}.")
    return product


async def create_product(session: AsyncSession, data: ProductCreate) -> Product:
    product = await add_unique(session, Product.model_validate(data),
                               f"A product with sku {data.sku!r} or barcode {data.barcode!r} exists.")
    await session.execute(
        text("INSERT INTO stock_level (product_id, warehouse_id) SELECT :p, id FROM warehouse"), {"p": product.id}
    )
    return product


async def update_product(
    session: AsyncSession, sku: str, data: ProductUpdate, expected_version: int | None
) -> Product:
    product = (
        await session.execute(select(Product).where(Product.sku == sku).with_for_update())
    ).scalar_one_or_none()
    if product is None:
        raise NotFound(f"No product with sku {sku!r}.")
    if expected_version is not None and expected_version != product.version:
        raise VersionConflict(f"Product {sku} is at version {product.version}, not {expected_version}.")
    changes = data.model_dump(exclude_unset=True)
    for field, value in changes.items():
        setattr(product, field, value)
    if product.reorder_max < product.reorder_point:
        raise InvalidRequest("reorder_max must be at least reorder_point.")
    product.version += 1
    product.updated_at = func.now()
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise AlreadyExists(f"Another product has barcode {data.barcode!r}.") from None
    await session.refresh(product)
    return product


async def get_warehouse(session: AsyncSession, code: str) -> Warehouse:
    warehouse = (await session.execute(select(Warehouse).where(Warehouse.code == code))).scalar_one_or_none()
    if warehouse is None:
        raise NotFound(f"No warehouse with code {code!r}.")
    return warehouse


async def create_warehouse(session: AsyncSession, data: WarehouseCreate) -> Warehouse:
    warehouse = await add_unique(session, Warehouse.model_validate(data),
                                 f"A warehouse with code {data.code!r} exists.")
    await session.execute(
        insert(Location),
        [{"warehouse_id": warehouse.id, "code": code, "type": type_} for code, type_ in STANDARD_LOCATIONS],
    )
    await session.execute(
        text("INSERT INTO stock_level (product_id, warehouse_id) SELECT id, :w FROM product"), {"w": warehouse.id}
    )
    return warehouse


async def create_location(session: AsyncSession, warehouse_code: str, data: LocationCreate) -> Location:
    warehouse = await get_warehouse(session, warehouse_code)
    location = Location(warehouse_id=warehouse.id, code=data.code, type=data.type, sequence=data.sequence)
    return await add_unique(session, location, f"Location {warehouse_code}/{data.code} exists.")


async def resolve_location(session: AsyncSession, address: str) -> tuple[Location, Warehouse]:
    warehouse_code, _, code = address.partition("/")
    row = (
        await session.execute(
            select(Location, Warehouse)
            .join(Warehouse, Warehouse.id == Location.warehouse_id)
            .where(Warehouse.code == warehouse_code, Location.code == code)
        )
    ).first()
    if row is None:
        raise NotFound(f"No location {address!r}.")
    return row[0], row[1]


async def location_of_type(session: AsyncSession, warehouse_id: int, type_: str) -> Location:
    """The warehouse's standard location of a type (its first, by id, where there are several)."""
    location = (
        await session.execute(
            select(Location).where(Location.warehouse_id == warehouse_id, Location.type == type_).order_by(Location.id)
        )
    ).scalars().first()
    if location is None:
        raise NotFound(f"Warehouse {warehouse_id} has no {type_} location.")
    return location


# --- the ledger -------------------------------------------------------------------------------------


async def lock_stock_levels(session: AsyncSession, pairs: Iterable[tuple[int, int]]) -> None:
    """Lock stock-level rows in the one global order: by product, then warehouse priority, then id.

    Every operation that changes stock calls this before anything else (order placement reserves in
    the same order), so two operations can never wait on each other in a cycle.
    """
    pairs = sorted(set(pairs))
    if not pairs:
        return
    await session.execute(
        text(
            "SELECT 1 FROM stock_level s JOIN warehouse w ON w.id = s.warehouse_id"
            " WHERE (s.product_id, s.warehouse_id) IN"
            " (SELECT * FROM unnest(CAST(:products AS int[]), CAST(:warehouses AS int[])))"
            " ORDER BY s.product_id, w.priority, w.id FOR UPDATE OF s"
        ),
        {"products": [p for p, _ in pairs], "warehouses": [w for _, w in pairs]},
    )


async def lock_products_everywhere(session: AsyncSession, product_ids: Iterable[int]) -> None:
    """Lock a product's stock level at every warehouse (for work that may reallocate between them)."""
    await session.execute(
        text(
            "SELECT 1 FROM stock_level s JOIN warehouse w ON w.id = s.warehouse_id"
            " WHERE s.product_id = ANY(CAST(:products AS int[]))"
            " ORDER BY s.product_id, w.priority, w.id FOR UPDATE OF s"
        ),
        {"products": sorted(set(product_ids))},
    )


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
        await stock_added(session, [product.id], actor)
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
        await stock_added(session, [product.id], actor)
    return await stock_change(
        session, [move_id], product.id, [source.id, target.id], [source_warehouse.id, target_warehouse.id]
    )


# --- reading stock ----------------------------------------------------------------------------------


def stock_level_query() -> Any:
    return (
        select(
            Product.sku,
            Warehouse.code.label("warehouse"),
            position.c.on_hand,
            position.c.reserved,
            position.c.available,
            position.c.quarantined,
            position.c.incoming,
            position.c.backordered,
        )
        .select_from(position)
        .join(Product, Product.id == position.c.product_id)
        .join(Warehouse, Warehouse.id == position.c.warehouse_id)
    )


def to_stock_level(row: Any) -> StockLevelOut:
    return StockLevelOut.model_validate(row._mapping)


def location_stock_query() -> Any:
    return (
        select(
            Warehouse.code.label("warehouse"),
            (Warehouse.code + "/" + Location.code).label("location"),
            Location.type,
            LocationBalance.quantity,
            Location.code.label("location_code"),
        )
        .join(Location, Location.id == LocationBalance.location_id)
        .join(Warehouse, Warehouse.id == Location.warehouse_id)
    )


def to_location_stock(row: Any) -> LocationStockOut:
    return LocationStockOut.model_validate(row._mapping)


def moves_query() -> Any:
    source, target = aliased(Location), aliased(Location)
    source_wh, target_wh = aliased(Warehouse), aliased(Warehouse)
    return (
        select(
            StockMove.id,
            Product.sku,
            (source_wh.code + "/" + source.code).label("from_location"),
            (target_wh.code + "/" + target.code).label("to_location"),
            StockMove.quantity,
            StockMove.reason,
            StockMove.reference,
            StockMove.actor,
            StockMove.created_at,
        )
        .join(Product, Product.id == StockMove.product_id)
        .join(source, source.id == StockMove.from_location_id)
        .join(source_wh, source_wh.id == source.warehouse_id)
        .join(target, target.id == StockMove.to_location_id)
        .join(target_wh, target_wh.id == target.warehouse_id)
    )


def to_move(row: Any) -> MoveOut:
    return MoveOut.model_validate(row._mapping)


async def stock_change(
    session: AsyncSession,
    move_ids: Sequence[int],
    product_id: int,
    location_ids: Sequence[int],
    warehouse_ids: Sequence[int],
) -> StockChangeOut:
    moves = (await session.execute(moves_query().where(StockMove.id.in_(move_ids)).order_by(StockMove.id))).all()
    locations = (
        await session.execute(
            select(
                Warehouse.code.label("warehouse"),
                (Warehouse.code + "/" + Location.code).label("location"),
                Location.type,
                func.coalesce(LocationBalance.quantity, 0).label("quantity"),
            )
            .select_from(Location)
            .join(Warehouse, Warehouse.id == Location.warehouse_id)
            .outerjoin(
                LocationBalance,
                and_(LocationBalance.location_id == Location.id, LocationBalance.product_id == product_id),
            )
            .where(Location.id.in_(location_ids))
            .order_by(Location.id)
        )
    ).all()
    levels = (
        await session.execute(
            stock_level_query()
            .where(position.c.product_id == product_id, position.c.warehouse_id.in_(warehouse_ids))
            .order_by(Warehouse.code)
        )
    ).all()
    return StockChangeOut(
        moves=[to_move(m) for m in moves],
        locations=[to_location_stock(r) for r in locations],
        stock=[to_stock_level(r) for r in levels],
    )
