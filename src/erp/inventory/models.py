from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    UniqueConstraint,
    column,
    table,
)
from sqlmodel import Field, SQLModel

from erp.models import counter, created_at, timestamp

PHYSICAL_TYPES = ("receiving", "quarantine", "storage", "packing", "scrap")
# Outside the warehouse: where goods come from and go to. `consumption` takes parts used up in repairs.
VIRTUAL_TYPES = ("supplier", "customer", "adjustment", "consumption")
LOCATION_TYPES = PHYSICAL_TYPES + VIRTUAL_TYPES


class Product(SQLModel, table=True):
    __tablename__ = "product"
    __table_args__ = (
        CheckConstraint("reorder_point >= 0 AND reorder_max >= reorder_point", name="reorder"),
    )

    id: int | None = Field(default=None, primary_key=True)
    sku: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=200)
    barcode: str | None = Field(default=None, max_length=64, unique=True)
    reorder_point: int = 0
    reorder_max: int = 0
    active: bool = True
    version: int = 1
    created_at: datetime | None = created_at()
    updated_at: datetime | None = timestamp()


class Warehouse(SQLModel, table=True):
    __tablename__ = "warehouse"
    __table_args__ = (CheckConstraint("handling_days >= 0", name="handling_days"),)

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=16, unique=True)
    name: str = Field(max_length=200)
    priority: int = 100
    handling_days: int = 1
    created_at: datetime | None = created_at()


class Location(SQLModel, table=True):
    __tablename__ = "location"
    __table_args__ = (
        UniqueConstraint("warehouse_id", "code"),
        CheckConstraint(f"type IN {LOCATION_TYPES}", name="type"),
    )

    id: int | None = Field(default=None, primary_key=True)
    warehouse_id: int = Field(foreign_key="warehouse.id")
    code: str = Field(max_length=32)
    type: str = Field(max_length=20)
    # Walking order through the warehouse: pick lists visit bins by (sequence, code).
    sequence: int = 0
    created_at: datetime | None = created_at()


class StockMove(SQLModel, table=True):
    """One entry of the append-only ledger: `quantity` leaves one location and arrives in another."""

    __tablename__ = "stock_move"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="positive"),
        CheckConstraint("from_location_id <> to_location_id", name="distinct_locations"),
        Index("ix_stock_move_product_id", "product_id", "id"),
        Index("ix_stock_move_reference", "reference"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    product_id: int = Field(foreign_key="product.id")
    from_location_id: int = Field(foreign_key="location.id")
    to_location_id: int = Field(foreign_key="location.id")
    quantity: int = Field(sa_type=BigInteger)
    reason: str = Field(max_length=40)
    reference: str | None = Field(default=None, max_length=64)
    actor: str = Field(max_length=100)
    created_at: datetime | None = created_at()


class LocationBalance(SQLModel, table=True):
    """Projection of the ledger per physical location, kept by the stock_move trigger."""

    __tablename__ = "location_balance"
    __table_args__ = (CheckConstraint("quantity >= 0", name="nonnegative"),)

    location_id: int = Field(sa_column=Column(ForeignKey("location.id"), primary_key=True))
    product_id: int = Field(sa_column=Column(ForeignKey("product.id"), primary_key=True))
    quantity: int = counter()


class StockLevel(SQLModel, table=True):
    """Per product and warehouse; `on_hand`/`quarantined` kept by the ledger trigger, `reserved` by reservations.

    `incoming` and `backordered` are not counters here: they are summed from open PO lines and order lines
    when read, so there is nothing to drift.
    """

    __tablename__ = "stock_level"
    __table_args__ = (
        CheckConstraint("on_hand >= 0", name="on_hand_nonnegative"),
        CheckConstraint("reserved >= 0 AND reserved <= on_hand", name="reserved_within_on_hand"),
        CheckConstraint("quarantined >= 0", name="quarantined_nonnegative"),
    )

    product_id: int = Field(sa_column=Column(ForeignKey("product.id"), primary_key=True))
    warehouse_id: int = Field(sa_column=Column(ForeignKey("warehouse.id"), primary_key=True))
    on_hand: int = counter()
    reserved: int = counter()
    quarantined: int = counter()


class Reservation(SQLModel, table=True):
    """Quantity of a product at a warehouse claimed by one owner: an order line, a repair part or a hold.
    Written only by `erp.inventory.reservations`."""

    __tablename__ = "reservation"
    __table_args__ = (
        CheckConstraint("quantity >= 0", name="nonnegative"),
        CheckConstraint("owner_type IN ('order_line', 'repair_part', 'hold')", name="owner_type"),
        Index("ix_reservation_owner", "owner_type", "owner_id"),
        Index("ix_reservation_product_id_warehouse_id", "product_id", "warehouse_id"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    product_id: int = Field(foreign_key="product.id")
    warehouse_id: int = Field(foreign_key="warehouse.id")
    owner_type: str = Field(max_length=20)
    owner_id: int
    quantity: int = Field(sa_type=BigInteger)
    created_at: datetime | None = created_at()
    expires_at: datetime | None = timestamp()


# A view (see the migrations), not a table: stock levels with supply and demand summed in.
stock_position = table(
    "stock_position",
    *(column(name) for name in (
        "product_id", "warehouse_id", "on_hand", "reserved", "available", "quarantined", "incoming", "backordered"
    )),
)
