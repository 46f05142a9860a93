"""Reading stock: levels with supply and demand summed in, balances per location, the ledger."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from erp.db import Coalesced, HotStatement
from erp.inventory.models import Location, LocationBalance, Product, StockMove, Warehouse
from erp.inventory.models import stock_position as position
from erp.inventory.schemas import LocationStockOut, MoveOut, StockChangeOut, StockLevelOut
from erp.pagination import DEFAULT_LIMIT, Page, decode_cursor, page_of


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


LEVEL_KEYS = (Product.sku, Warehouse.code)
# One product's levels, the service's most frequent stock question (`GET /stock?sku=`), as one hot statement;
# the same rows, order and cursors as stock_level_query() paginated by LEVEL_KEYS.
PRODUCT_LEVELS = HotStatement(text("""
SELECT p.sku, w.code AS warehouse, s.on_hand, s.reserved, s.available, s.quarantined, s.incoming, s.backordered
  FROM stock_position s
  JOIN product p ON p.id = s.product_id
  JOIN warehouse w ON w.id = s.warehouse_id
 WHERE p.sku = :sku
   AND (CAST(:warehouse AS text) IS NULL OR w.code = :warehouse)
   AND (CAST(:after_sku AS text) IS NULL OR (p.sku, w.code) > (:after_sku, :after_warehouse))
 ORDER BY p.sku, w.code
 LIMIT :limit
"""))


# The first page of each product's levels in every warehouse, for many products in one statement: the
# requests for it that come together read it together (issue 13). `rows` is the page's size plus one.
FIRST_PAGES = HotStatement(text("""
SELECT sku, warehouse, on_hand, reserved, available, quarantined, incoming, backordered
  FROM (SELECT p.sku, w.code AS warehouse, s.on_hand, s.reserved, s.available, s.quarantined, s.incoming,
               s.backordered, row_number() OVER (PARTITION BY p.sku ORDER BY w.code) AS n
          FROM stock_position s
          JOIN product p ON p.id = s.product_id
          JOIN warehouse w ON w.id = s.warehouse_id
         WHERE p.sku = ANY(:skus)) AS levels
 WHERE n <= :rows
 ORDER BY sku, warehouse
"""))
FIRST_PAGE_READS = Coalesced(FIRST_PAGES, "skus", "sku", params={"rows": DEFAULT_LIMIT + 1})


async def product_levels(session: AsyncSession, sku: str, warehouse: str | None, limit: int,
                         cursor: str | None) -> Page[StockLevelOut]:
    if warehouse is None and cursor is None and limit == DEFAULT_LIMIT:  # the usual question: read together
        rows = await FIRST_PAGE_READS.fetch(session, [sku])
    else:
        after_sku, after_warehouse = decode_cursor(cursor, LEVEL_KEYS) if cursor else (None, None)
        rows = await PRODUCT_LEVELS.fetch(session, {"sku": sku, "warehouse": warehouse, "after_sku": after_sku,
                                                    "after_warehouse": after_warehouse, "limit": limit + 1})
    return page_of(rows, limit, lambda row: [row["sku"], row["warehouse"]], lambda row: StockLevelOut(**row))


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
