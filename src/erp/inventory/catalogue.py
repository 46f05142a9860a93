"""The catalogue and the places stock lives: products, warehouses and their locations."""

from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from erp.concurrency import IfMatch
from erp.db import add_unique, first_or_404
from erp.errors import AlreadyExists, Forbidden, InvalidRequest, InvalidTransition
from erp.inventory.models import Location, Product, Warehouse
from erp.inventory.schemas import LocationCreate, ProductCreate, ProductUpdate, WarehouseCreate

# Locations every warehouse gets when it is created: (code, type).
STANDARD_LOCATIONS = (
    ("RECEIVING", "receiving"),
    ("QUARANTINE", "quarantine"),
    ("PACKING", "packing"),
    ("SCRAP", "scrap"),
    ("SUPPLIER", "supplier"),
    ("CUSTOMER", "customer"),
    ("ADJUSTMENT", "adjustment"),
    ("CONSUMPTION", "consumption"),
)

# Every product has a stock level at every warehouse (an invariant `erp check` verifies).
LEVELS_FOR_PRODUCT = text("INSERT INTO stock_level (product_id, warehouse_id) SELECT :p, id FROM warehouse")
LEVELS_FOR_WAREHOUSE = text("INSERT INTO stock_level (product_id, warehouse_id) SELECT id, :w FROM product")
# Where goods go into storage when nobody names a bin: a bin already holding the product, else the first
# in walking order.
PUTAWAY_BIN = text("""
    SELECT loc.id FROM location loc
      LEFT JOIN location_balance b ON b.location_id = loc.id AND b.product_id = :p
     WHERE loc.warehouse_id = :w AND loc.type = 'storage'
     ORDER BY coalesce(b.quantity, 0) > 0 DESC, loc.sequence, loc.code LIMIT 1
""")


# --- products ---------------------------------------------------------------------------------------


async def get_product(session: AsyncSession, sku: str) -> Product:
    return (await first_or_404(session, select(Product).where(Product.sku == sku),
                               missing=f"No product with sku {sku!r}."))[0]


async def create_product(session: AsyncSession, data: ProductCreate) -> Product:
    product = await add_unique(session, Product.model_validate(data),
                               f"A product with sku {data.sku!r} or barcode {data.barcode!r} exists.")
    await session.execute(LEVELS_FOR_PRODUCT, {"p": product.id})
    return product


# What each role may change of a product (DOMAIN.md section 7): purchasing keeps supply coming, so it tunes
# replenishment; what the product is (name, barcode) and whether it is sold (active) are admin's.
EDITABLE_BY = {"admin": None, "purchasing": frozenset({"reorder_point", "reorder_max"})}


async def update_product(
    session: AsyncSession, sku: str, data: ProductUpdate, expected: IfMatch | None, role: str = "admin"
) -> Product:
    """Change the fields `role` may change. With `expected` (`If-Match`), only the version it names."""
    editable = EDITABLE_BY.get(role, frozenset())
    refused = sorted(data.model_fields_set - editable) if editable is not None else []
    if refused:
        raise Forbidden(f"Role {role!r} may change only {', '.join(sorted(editable))} of a product, "
                        f"not {', '.join(refused)}.")
    product = (await first_or_404(session, select(Product).where(Product.sku == sku).with_for_update(),
                                  missing=f"No product with sku {sku!r}."))[0]
    if expected is not None:
        expected.check(product.version, f"Product {sku}")
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


# --- warehouses and locations -----------------------------------------------------------------------


async def get_warehouse(session: AsyncSession, code: str) -> Warehouse:
    return (await first_or_404(session, select(Warehouse).where(Warehouse.code == code),
                               missing=f"No warehouse with code {code!r}."))[0]


async def create_warehouse(session: AsyncSession, data: WarehouseCreate) -> Warehouse:
    warehouse = await add_unique(session, Warehouse.model_validate(data),
                                 f"A warehouse with code {data.code!r} exists.")
    await session.execute(
        insert(Location),
        [{"warehouse_id": warehouse.id, "code": code, "type": type_} for code, type_ in STANDARD_LOCATIONS],
    )
    await session.execute(LEVELS_FOR_WAREHOUSE, {"w": warehouse.id})
    return warehouse


async def create_location(session: AsyncSession, warehouse_code: str, data: LocationCreate) -> Location:
    warehouse = await get_warehouse(session, warehouse_code)
    location = Location(warehouse_id=warehouse.id, code=data.code, type=data.type, sequence=data.sequence)
    return await add_unique(session, location, f"Location {warehouse_code}/{data.code} exists.")


async def resolve_location(session: AsyncSession, address: str) -> tuple[Location, Warehouse]:
    """A location by its address, `WAREHOUSE/LOCATION`."""
    warehouse_code, _, code = address.partition("/")
    location, warehouse = await first_or_404(
        session,
        select(Location, Warehouse)
        .join(Warehouse, Warehouse.id == Location.warehouse_id)
        .where(Warehouse.code == warehouse_code, Location.code == code),
        missing=f"No location {address!r}.",
    )
    return location, warehouse


async def location_of_type(session: AsyncSession, warehouse_id: int, type_: str) -> Location:
    """The warehouse's standard location of a type (its first, by id, where there are several)."""
    return (await first_or_404(
        session,
        select(Location).where(Location.warehouse_id == warehouse_id, Location.type == type_).order_by(Location.id),
        missing=f"Warehouse {warehouse_id} has no {type_} location.",
    ))[0]


async def putaway_bin(session: AsyncSession, warehouse_id: int, product_id: int, address: str | None) -> int:
    """The storage bin of the warehouse that goods are put away in: the one named, or the usual one."""
    if address is not None:
        location, warehouse = await resolve_location(session, address)
        if warehouse.id != warehouse_id or location.type != "storage":
            raise InvalidRequest(f"{address} is not a storage bin of the receiving warehouse.")
        return location.id
    chosen = (await session.execute(PUTAWAY_BIN, {"p": product_id, "w": warehouse_id})).scalar()
    if chosen is None:
        raise InvalidTransition("The warehouse has no storage bin to put goods away in; create one first.")
    return chosen
