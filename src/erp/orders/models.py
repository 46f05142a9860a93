from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Numeric,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from erp.models import counter, created_at, flag, timestamp

CHANNELS = ("web", "phone", "email", "chat", "social", "store", "api")
ORDER_STATUSES = (
    "confirmed", "backordered", "picking", "packed", "partially_shipped", "shipped", "delivered", "cancelled",
)
PROMISE_BASES = ("in_stock", "incoming_supply", "supplier_lead_time", "cannot_promise")
# What finding an order by phone, name or external reference compares (orders/search.py), indexed below.
PHONE_DIGITS_SQL = "regexp_replace(customer_phone, '[^0-9]', '', 'g')"
NAME_WORDS_SQL = "to_tsvector('simple'::regconfig, customer_name)"
EXTERNAL_REF_SQL = "lower(external_ref)"


class SalesOrder(SQLModel, table=True):
    __tablename__ = "sales_order"
    __table_args__ = (
        CheckConstraint(f"channel IN {CHANNELS}", name="channel"),
        CheckConstraint(f"status IN {ORDER_STATUSES}", name="status"),
        Index("uq_sales_order_channel_external_ref", "channel", "external_ref", unique=True,
              postgresql_where=text("external_ref IS NOT NULL")),
        Index("ix_sales_order_customer_email", "customer_email"),
        Index("ix_sales_order_status", "status", "id"),
        Index("ix_sales_order_phone_digits", text(PHONE_DIGITS_SQL)),
        Index("ix_sales_order_name_words", text(NAME_WORDS_SQL), postgresql_using="gin"),
        Index("ix_sales_order_external_ref", text(EXTERNAL_REF_SQL)),
        Index("ix_sales_order_created_at", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(
        max_length=20, unique=True,
        sa_column_kwargs={"server_default": text("'SO-' || lpad(nextval('sales_order_number_seq')::text, 6, '0')")},
    )
    channel: str = Field(max_length=20)
    status: str = Field(max_length=20)
    customer_name: str = Field(max_length=200)
    customer_email: str = Field(max_length=254)
    customer_phone: str | None = Field(default=None, max_length=40)
    ship_to: dict[str, Any] | None = Field(default=None, sa_type=JSONB)
    external_ref: str | None = Field(default=None, max_length=64)
    allow_backorder: bool = flag(True)
    # ISO 4217; the lines' unit prices are in it. Optional: orders from clients that send no prices have none.
    currency: str | None = Field(default=None, max_length=3)
    # Place in the first-come, first-served queue for stock and supply (shared with repair parts).
    queue_position: int | None = Field(default=None, sa_type=BigInteger, nullable=False, sa_column_kwargs={
        "server_default": text("nextval('demand_queue_seq')")})
    created_by: str = Field(max_length=100)
    version: int = Field(default=1, sa_column_kwargs={"server_default": text("1")})
    created_at: datetime | None = created_at()
    updated_at: datetime | None = timestamp()
    delivered_at: datetime | None = timestamp()


class OrderLine(SQLModel, table=True):
    """Where every unit of a line is: ordered = cancelled + backordered + reserved + picked.

    `reserved` is not stored: it is the sum of the line's reservations. Of the picked units, `packed`
    passed the second person's verification, `shipped` left with a carrier. Of the shipped units,
    `return_authorized` are on returns (not cancelled or rejected) and `returned` came back.
    """

    __tablename__ = "order_line"
    __table_args__ = (
        UniqueConstraint("order_id", "line_no"),
        CheckConstraint(
            "quantity > 0 AND cancelled >= 0 AND backordered >= 0 AND picked >= 0"
            " AND cancelled + backordered + picked <= quantity",
            name="quantities",
        ),
        CheckConstraint("shipped >= 0 AND packed >= shipped AND picked >= packed", name="fulfilment"),
        CheckConstraint("returned >= 0 AND returned <= return_authorized AND return_authorized <= shipped",
                        name="returned"),
        CheckConstraint("unit_price >= 0", name="unit_price"),
        CheckConstraint(f"promise_basis IN {PROMISE_BASES}", name="promise_basis"),
        Index("ix_order_line_backordered", "product_id", "backorder_warehouse_id",
              postgresql_where=text("backordered > 0")),
        Index("ix_order_line_product_id", "product_id"),
        Index("ix_order_line_shipped_at", "shipped_at", postgresql_where=text("shipped_at IS NOT NULL")),
    )

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="sales_order.id")
    line_no: int
    product_id: int = Field(foreign_key="product.id")
    quantity: int = Field(sa_type=BigInteger)
    cancelled: int = counter()
    backordered: int = counter()
    # Units backordered when the order was placed: 0 means the line was fully reserved at order time (the
    # fill rate of the service figures), whatever happened to it since.
    backordered_at_placement: int = counter()
    # The warehouse the backordered units will ship from once supply arrives.
    backorder_warehouse_id: int | None = Field(default=None, foreign_key="warehouse.id")
    picked: int = counter()
    packed: int = counter()
    shipped: int = counter()
    # When the line's latest units shipped: once every unit not cancelled has shipped, the day its last unit
    # left (on-time shipment and promise accuracy of the service figures).
    shipped_at: datetime | None = timestamp()
    return_authorized: int = counter()
    returned: int = counter()
    # What the customer pays per unit, in the order's currency; null when the client sent no price.
    unit_price: Decimal | None = Field(default=None, sa_type=Numeric(14, 4))
    promised_date: date | None = Field(default=None, sa_type=Date)
    # The promise made when the order was placed: how late a line is, is a field, not a timeline reading.
    first_promised_date: date | None = Field(default=None, sa_type=Date)
    promise_basis: str = Field(max_length=20)
    promise_reason: str = Field(max_length=300)


class PickList(SQLModel, table=True):
    __tablename__ = "pick_list"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'completed')", name="status"),
        Index("ix_pick_list_status", "status", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    warehouse_id: int = Field(foreign_key="warehouse.id")
    status: str = Field(default="open", max_length=20, sa_column_kwargs={"server_default": "open"})
    created_by: str = Field(max_length=100)
    created_at: datetime | None = created_at()
    completed_at: datetime | None = timestamp()


class PickListLine(SQLModel, table=True):
    """Pick `quantity` of a product from one bin for one order line; `short` is what the bin lacked."""

    __tablename__ = "pick_list_line"
    __table_args__ = (
        CheckConstraint("quantity >= 0 AND picked >= 0 AND short >= 0 AND picked + short <= quantity", name="quantities"),
        Index("ix_pick_list_line_pick_list_id", "pick_list_id", "position"),
        Index("ix_pick_list_line_order_line_id", "order_line_id"),
        Index("ix_pick_list_line_open_bin", "location_id", "product_id", postgresql_where=text("picked + short < quantity")),
    )

    id: int | None = Field(default=None, primary_key=True)
    pick_list_id: int = Field(foreign_key="pick_list.id")
    position: int
    order_line_id: int = Field(foreign_key="order_line.id")
    product_id: int = Field(foreign_key="product.id")
    location_id: int = Field(foreign_key="location.id")
    quantity: int = Field(sa_type=BigInteger)
    picked: int = counter()
    short: int = counter()
    picked_by: str | None = Field(default=None, max_length=100)
    # The API key and the person that picked, so packing can insist on a second person.
    picked_by_key_id: int | None = None
    picked_by_person_id: int | None = None


class Shipment(SQLModel, table=True):
    __tablename__ = "shipment"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="sales_order.id", index=True)
    carrier: str = Field(max_length=60)
    tracking_number: str = Field(max_length=100)
    lines: list[dict[str, Any]] = Field(sa_type=JSONB)
    created_by: str = Field(max_length=100)
    created_at: datetime | None = created_at()


class Contact(SQLModel, table=True):
    """One customer interaction about an order: a touch."""

    __tablename__ = "order_contact"
    __table_args__ = (
        CheckConstraint(f"channel IN {CHANNELS}", name="channel"),
        CheckConstraint("direction IN ('inbound', 'outbound')", name="direction"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    order_id: int = Field(foreign_key="sales_order.id", index=True)
    channel: str = Field(max_length=20)
    direction: str = Field(max_length=10)
    summary: str = Field(max_length=2000)
    rep: str = Field(max_length=100)
    created_at: datetime | None = created_at()


HOLD_STATUSES = ("active", "converted", "released", "expired")


class Hold(SQLModel, table=True):
    """Stock reserved for a customer who has not ordered yet (a checkout, a quote on the phone), until
    `expires_at`. Its lines own the reservations (owner `hold`) until an order takes them over."""

    __tablename__ = "hold"
    __table_args__ = (
        CheckConstraint(f"status IN {HOLD_STATUSES}", name="status"),
        Index("ix_hold_expiring", "expires_at", postgresql_where=text("status = 'active'")),
    )

    id: UUID | None = Field(default=None, sa_column=Column(Uuid, primary_key=True,
                                                          server_default=text("gen_random_uuid()")))
    status: str = Field(default="active", max_length=10, sa_column_kwargs={"server_default": "active"})
    expires_at: datetime = Field(sa_type=DateTime(timezone=True))
    order_id: int | None = Field(default=None, sa_column=Column(ForeignKey("sales_order.id"), nullable=True))
    created_by: str = Field(max_length=100)
    created_at: datetime | None = created_at()
    ended_at: datetime | None = timestamp()


class HoldLine(SQLModel, table=True):
    __tablename__ = "hold_line"
    __table_args__ = (UniqueConstraint("hold_id", "line_no"), CheckConstraint("quantity > 0", name="quantity"))

    id: int | None = Field(default=None, primary_key=True)
    hold_id: UUID = Field(sa_column=Column(ForeignKey("hold.id"), nullable=False, index=True))
    line_no: int
    product_id: int = Field(foreign_key="product.id")
    quantity: int = Field(sa_type=BigInteger)
