from datetime import date
from typing import Annotated

from fastapi import Path, Query, Response, status
from sqlmodel import select

from erp import concurrency
from erp.auth import Admin, Anyone, ProductEditor, StockKeeper
from erp.concurrency import IfMatchHeader
from erp.db import SessionDep
from erp.errors import AlreadyExists, InsufficientStock, NotFound
from erp.idempotency import not_stored
from erp.inventory import availability, catalogue, ledger, stock
from erp.inventory.models import Location, LocationBalance, Product, StockMove, Warehouse
from erp.inventory.schemas import (
    AdjustmentCreate,
    AvailabilityCheck,
    AvailabilityCheckOut,
    AvailabilityOut,
    LocationCreate,
    LocationOut,
    LocationStockOut,
    MoveOut,
    ProductCreate,
    ProductOut,
    ProductUpdate,
    StockChangeOut,
    StockLevelOut,
    TransferCreate,
    WarehouseCreate,
    WarehouseOut,
)
from erp.openapi import errors, sets_headers
from erp.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, paginate
from erp.routing import router as make_router
from erp.schemas import MAX_QUANTITY, Code, Reference, Sku

router = make_router()

SkuPath = Annotated[Sku, Path(description="Product SKU")]
CodePath = Annotated[Code, Path(description="Warehouse code")]


def product_out(product: Product) -> ProductOut:
    return ProductOut.model_validate(product, from_attributes=True)


def location_out(location: Location, warehouse_code: str) -> LocationOut:
    return LocationOut(
        warehouse=warehouse_code,
        code=location.code,
        address=f"{warehouse_code}/{location.code}",
        type=location.type,
        sequence=location.sequence,
    )


# --- products --------------------------------------------------------------------------------------


@router.post("/products", status_code=status.HTTP_201_CREATED, tags=["inventory"],
             responses=errors(AlreadyExists) | sets_headers(201, "ETag", "Location"))
async def create_product(body: ProductCreate, actor: Admin, session: SessionDep, response: Response) -> ProductOut:
    product = await catalogue.create_product(session, body)
    concurrency.tag(response, product.version)
    response.headers["Location"] = f"/api/v1/products/{product.sku}"
    return product_out(product)


@router.get("/products", tags=["inventory"])
async def list_products(
    actor: Anyone,
    session: SessionDep,
    active: bool | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[ProductOut]:
    query = select(Product)
    if active is not None:
        query = query.where(Product.active == active)
    return await paginate(session, query, [Product.sku], limit, cursor, lambda r: product_out(r[0]))


@router.get("/products/{sku}", tags=["inventory"], responses=sets_headers(200, "ETag"))
async def get_product(sku: SkuPath, actor: Anyone, session: SessionDep, response: Response) -> ProductOut:
    product = await catalogue.get_product(session, sku)
    concurrency.tag(response, product.version)
    return product_out(product)


@router.patch("/products/{sku}", tags=["inventory"], responses=errors(AlreadyExists) | sets_headers(200, "ETag"))
async def update_product(
    sku: SkuPath,
    body: ProductUpdate,
    actor: ProductEditor,
    session: SessionDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> ProductOut:
    product = await catalogue.update_product(session, sku, body, concurrency.if_match(if_match), actor.role)
    concurrency.tag(response, product.version)
    return product_out(product)


# --- warehouses and locations ------------------------------------------------------------------------


@router.post("/warehouses", status_code=status.HTTP_201_CREATED, tags=["inventory"], responses=errors(AlreadyExists))
async def create_warehouse(body: WarehouseCreate, actor: Admin, session: SessionDep) -> WarehouseOut:
    warehouse = await catalogue.create_warehouse(session, body)
    return WarehouseOut.model_validate(warehouse, from_attributes=True)


@router.get("/warehouses", tags=["inventory"])
async def list_warehouses(actor: Anyone, session: SessionDep, limit: Limit = 50, cursor: Cursor = None) -> Page[WarehouseOut]:
    return await paginate(
        session, select(Warehouse), [Warehouse.code], limit, cursor,
        lambda r: WarehouseOut.model_validate(r[0], from_attributes=True),
    )


@router.get("/warehouses/{code}", tags=["inventory"])
async def get_warehouse(code: CodePath, actor: Anyone, session: SessionDep) -> WarehouseOut:
    return WarehouseOut.model_validate(await catalogue.get_warehouse(session, code), from_attributes=True)


@router.post("/warehouses/{code}/locations", status_code=status.HTTP_201_CREATED, tags=["inventory"],
             responses=errors(AlreadyExists))
async def create_location(code: CodePath, body: LocationCreate, actor: Admin, session: SessionDep) -> LocationOut:
    return location_out(await catalogue.create_location(session, code, body), code)


@router.get("/warehouses/{code}/locations", tags=["inventory"])
async def list_locations(
    code: CodePath,
    actor: Anyone,
    session: SessionDep,
    type: Annotated[str | None, Query(max_length=20)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[LocationOut]:
    warehouse = await catalogue.get_warehouse(session, code)
    query = select(Location).where(Location.warehouse_id == warehouse.id)
    if type is not None:
        query = query.where(Location.type == type)
    return await paginate(session, query, [Location.code], limit, cursor, lambda r: location_out(r[0], code))


# --- stock ------------------------------------------------------------------------------------------


@router.get("/stock", tags=["inventory"])
async def list_stock(
    actor: Anyone,
    session: SessionDep,
    sku: Sku | None = None,
    warehouse: Code | None = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[StockLevelOut]:
    if sku is not None:
        return await stock.product_levels(session, sku, warehouse, limit, cursor)
    query = stock.stock_level_query()
    if warehouse is not None:
        query = query.where(Warehouse.code == warehouse)
    return await paginate(session, query, stock.LEVEL_KEYS, limit, cursor, stock.to_stock_level)


@router.get("/stock/moves", tags=["inventory"])
async def list_moves(
    actor: Anyone,
    session: SessionDep,
    sku: Sku | None = None,
    reference: Reference | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[MoveOut]:
    query = stock.moves_query()
    if sku is not None:
        query = query.where(Product.sku == sku)
    if reference is not None:
        query = query.where(StockMove.reference == reference)
    return await paginate(session, query, [StockMove.id], limit, cursor, stock.to_move)


@router.get("/stock/{sku}/locations", tags=["inventory"])
async def list_stock_locations(
    sku: SkuPath,
    actor: Anyone,
    session: SessionDep,
    warehouse: Code | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[LocationStockOut]:
    product = await catalogue.get_product(session, sku)
    query = stock.location_stock_query().where(LocationBalance.product_id == product.id, LocationBalance.quantity > 0)
    if warehouse is not None:
        query = query.where(Warehouse.code == warehouse)
    return await paginate(session, query, [Warehouse.code, Location.code], limit, cursor, stock.to_location_stock)


@router.post("/stock/adjustments", status_code=status.HTTP_201_CREATED, tags=["inventory"],
             responses=errors(NotFound, InsufficientStock))
async def adjust_stock(body: AdjustmentCreate, actor: StockKeeper, session: SessionDep) -> StockChangeOut:
    return await ledger.adjust(session, body, actor.name)


@router.post("/stock/transfers", status_code=status.HTTP_201_CREATED, tags=["inventory"],
             responses=errors(NotFound, InsufficientStock))
async def transfer_stock(body: TransferCreate, actor: StockKeeper, session: SessionDep) -> StockChangeOut:
    return await ledger.transfer(session, body, actor.name)


# --- available to promise ---------------------------------------------------------------------------


@router.get("/availability/{sku}", tags=["availability"])
async def get_availability(
    sku: SkuPath,
    actor: Anyone,
    session: SessionDep,
    quantity: Annotated[int, Query(ge=1, le=MAX_QUANTITY)] = 1,
    warehouse: Code | None = None,
) -> AvailabilityOut:
    """What can be promised now and by date, without reserving anything."""
    found = await availability.load(session, [sku], warehouse, supply=True)
    return availability.answer(found[sku], quantity, date.today())


@router.post("/availability/check", tags=["availability"], responses=errors(NotFound))
@not_stored
async def check_availability(body: AvailabilityCheck, actor: Anyone, session: SessionDep) -> AvailabilityCheckOut:
    """Per line, what can be promised and when, without reserving. Changes nothing."""
    found = await availability.load(session, sorted({line.sku for line in body.lines}), body.warehouse, supply=True)
    today = date.today()
    lines = [availability.answer(found[line.sku], line.quantity, today) for line in body.lines]
    return AvailabilityCheckOut(lines=lines, all_in_stock=all(x.promise_basis == "in_stock" for x in lines))
