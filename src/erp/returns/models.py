from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Numeric,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from erp.models import counter, created_at, flag, timestamp

RETURN_STATUSES = ("authorized", "received", "inspected", "resolved", "rejected", "cancelled")
RESOLUTIONS = ("refund", "replacement", "repair")
REASONS = ("defective", "damaged_in_transit", "wrong_item", "not_as_described", "no_longer_needed")
DISPOSITIONS = ("restock", "repair", "scrap", "return_to_supplier")
REFUND_METHODS = ("original_payment", "store_credit", "bank_transfer", "cash", "other")
REPAIR_STATUSES = ("queued", "in_progress", "waiting_parts", "completed", "shipped", "unrepairable")
UNREPAIRABLE_OUTCOMES = ("replacement", "refund")


def money(nullable: bool = False, default: Decimal | None = Decimal(0)) -> Any:
    return Field(default=default, sa_type=Numeric(14, 4), nullable=nullable,
                 sa_column_kwargs={} if nullable else {"server_default": text("0")})


class ReturnAuthorization(SQLModel, table=True):
    """A return (RMA): shipped units of one order coming back, and what the customer gets for them.

    `refundable_amount` is what was paid for the units that may be refunded (received for a refund, or
    found unrepairable and refunded), kept with the lines' counters; `refunded_amount` only grows, by a
    conditional update that never passes it (the CHECK is the backstop)."""

    __tablename__ = "return_authorization"
    __table_args__ = (
        CheckConstraint(f"status IN {RETURN_STATUSES}", name="status"),
        CheckConstraint(f"resolution IN {RESOLUTIONS}", name="resolution"),
        CheckConstraint("NOT advance_replacement OR resolution = 'replacement'", name="advance"),
        CheckConstraint("refunded_amount >= 0 AND refunded_amount <= refundable_amount", name="refunds"),
        Index("ix_return_authorization_order_id", "order_id"),
        Index("ix_return_authorization_status", "status", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(
        max_length=20, unique=True,
        sa_column_kwargs={"server_default": text("'RMA-' || lpad(nextval('return_number_seq')::text, 6, '0')")},
    )
    order_id: int = Field(foreign_key="sales_order.id")
    # Where the goods come back to.
    warehouse_id: int = Field(foreign_key="warehouse.id")
    status: str = Field(default="authorized", max_length=20, sa_column_kwargs={"server_default": "authorized"})
    resolution: str = Field(max_length=20)
    advance_replacement: bool = flag(False)
    currency: str | None = Field(default=None, max_length=3)
    refundable_amount: Decimal | None = money()
    refunded_amount: Decimal | None = money()
    notes: str | None = Field(default=None, max_length=2000)
    created_by: str = Field(max_length=100)
    version: int = Field(default=1, sa_column_kwargs={"server_default": text("1")})
    created_at: datetime | None = created_at()
    updated_at: datetime | None = timestamp()


class ReturnLine(SQLModel, table=True):
    """Units of one order line on a return: quantity (authorized) = cancelled + received + still expected;
    received >= inspected (restocked + repaired + scrapped + returned to the supplier)."""

    __tablename__ = "return_line"
    __table_args__ = (
        UniqueConstraint("return_id", "order_line_id"),
        CheckConstraint(f"reason IN {REASONS}", name="reason"),
        CheckConstraint(
            "quantity > 0 AND received >= 0 AND cancelled >= 0 AND received + cancelled <= quantity"
            " AND restocked >= 0 AND repaired >= 0 AND scrapped >= 0 AND returned_to_supplier >= 0"
            " AND restocked + repaired + scrapped + returned_to_supplier <= received"
            " AND replaced >= 0 AND replaced <= quantity AND refundable >= 0 AND refundable <= received",
            name="quantities"),
        Index("ix_return_line_order_line_id", "order_line_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    return_id: int = Field(foreign_key="return_authorization.id")
    line_no: int
    order_line_id: int = Field(foreign_key="order_line.id")
    product_id: int = Field(foreign_key="product.id")
    reason: str = Field(max_length=30)
    quantity: int = Field(sa_type=BigInteger)
    # Units no longer expected (the return was cancelled before they arrived).
    cancelled: int = counter()
    received: int = counter()
    restocked: int = counter()
    repaired: int = counter()
    scrapped: int = counter()
    returned_to_supplier: int = counter()
    # Units a replacement order was placed for: they are not refunded as well.
    replaced: int = counter()
    # Units that may be refunded: received on a refund return, or found unrepairable and refunded.
    refundable: int = counter()
    # What the customer paid per unit (the order line's price when authorized); null: not refundable by amount.
    unit_price: Decimal | None = money(nullable=True, default=None)


class ReturnReceipt(SQLModel, table=True):
    """Units of a return line that arrived, who took them in (inspection needs a second person)."""

    __tablename__ = "return_receipt"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity"),)

    id: int | None = Field(default=None, primary_key=True)
    return_line_id: int = Field(foreign_key="return_line.id", index=True)
    quantity: int = Field(sa_type=BigInteger)
    received_by: str = Field(max_length=100)
    received_by_key_id: int | None = None  # None: a signed-in person on the pages
    received_by_person_id: int | None = None
    created_at: datetime | None = created_at()


class ReturnInspection(SQLModel, table=True):
    """One inspection of a return line's received units: each unit gets one disposition."""

    __tablename__ = "return_inspection"
    __table_args__ = (
        CheckConstraint("restock >= 0 AND repair >= 0 AND scrap >= 0 AND return_to_supplier >= 0"
                        " AND restock + repair + scrap + return_to_supplier > 0", name="quantities"),
    )

    id: int | None = Field(default=None, primary_key=True)
    return_line_id: int = Field(foreign_key="return_line.id", index=True)
    restock: int = counter()
    repair: int = counter()
    scrap: int = counter()
    return_to_supplier: int = counter()
    notes: str | None = Field(default=None, max_length=2000)
    inspected_by: str = Field(max_length=100)
    inspected_by_key_id: int | None = None
    inspected_by_person_id: int | None = None
    created_at: datetime | None = created_at()


class Refund(SQLModel, table=True):
    """Money given back on a return: append-only, capped by the return's refundable amount."""

    __tablename__ = "refund"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount"),
        CheckConstraint(f"method IN {REFUND_METHODS}", name="method"),
    )

    id: int | None = Field(default=None, primary_key=True)
    return_id: int = Field(foreign_key="return_authorization.id", index=True)
    amount: Decimal = Field(sa_type=Numeric(14, 4))
    currency: str = Field(max_length=3)
    method: str = Field(max_length=20)
    reference: str | None = Field(default=None, max_length=100)
    created_by: str = Field(max_length=100)
    created_at: datetime | None = created_at()


class RepairOrder(SQLModel, table=True):
    """Repair of `quantity` units of a product: opened by inspection (one per return line) or for a walk-in.

    The units wait in the warehouse's quarantine while repaired; parts are reserved and consumed through
    `erp.inventory.reservations` (owner `repair_part`)."""

    __tablename__ = "repair_order"
    __table_args__ = (
        CheckConstraint(f"status IN {REPAIR_STATUSES}", name="status"),
        CheckConstraint(f"outcome IS NULL OR outcome IN {UNREPAIRABLE_OUTCOMES}", name="outcome"),
        CheckConstraint("quantity > 0 AND repair_days >= 0", name="quantities"),
        Index("ix_repair_order_status", "status", "id"),
        Index("ix_repair_order_order_id", "order_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(
        max_length=20, unique=True,
        sa_column_kwargs={"server_default": text("'RO-' || lpad(nextval('repair_number_seq')::text, 6, '0')")},
    )
    return_line_id: int | None = Field(default=None, foreign_key="return_line.id", unique=True)
    order_id: int | None = Field(default=None, foreign_key="sales_order.id")
    product_id: int = Field(foreign_key="product.id")
    warehouse_id: int = Field(foreign_key="warehouse.id")
    quantity: int = Field(sa_type=BigInteger)
    customer_name: str = Field(max_length=200)
    customer_email: str = Field(max_length=254)
    customer_phone: str | None = Field(default=None, max_length=40)
    problem: str = Field(max_length=2000)
    status: str = Field(default="queued", max_length=20, sa_column_kwargs={"server_default": "queued"})
    # The repaired units go back to the customer (a repair return, a walk-in); else they are restocked.
    ships_to_customer: bool = flag(True)
    # For an unrepairable unit that was to go back to the customer: what the rep chose instead.
    outcome: str | None = Field(default=None, max_length=20)
    repair_days: int = 2
    promised_date: date | None = Field(default=None, sa_type=Date)
    promise_basis: str = Field(max_length=20)
    promise_reason: str = Field(max_length=300)
    carrier: str | None = Field(default=None, max_length=60)
    tracking_number: str | None = Field(default=None, max_length=100)
    created_by: str = Field(max_length=100)
    version: int = Field(default=1, sa_column_kwargs={"server_default": text("1")})
    created_at: datetime | None = created_at()
    started_at: datetime | None = timestamp()
    completed_at: datetime | None = timestamp()
    shipped_at: datetime | None = timestamp()


class RepairPart(SQLModel, table=True):
    """A part a repair needs: quantity = consumed + cancelled + waiting + reserved, where `reserved` is the
    sum of the part's reservations and `waiting` queues for stock first come, first served with order
    backorders (`queue_position`)."""

    __tablename__ = "repair_part"
    __table_args__ = (
        CheckConstraint("quantity > 0 AND consumed >= 0 AND cancelled >= 0 AND waiting >= 0"
                        " AND consumed + cancelled + waiting <= quantity", name="quantities"),
        Index("ix_repair_part_waiting", "product_id", "warehouse_id", postgresql_where=text("waiting > 0")),
    )

    id: int | None = Field(default=None, primary_key=True)
    repair_order_id: int = Field(foreign_key="repair_order.id", index=True)
    product_id: int = Field(foreign_key="product.id")
    # The repair's warehouse: parts are reserved and consumed there.
    warehouse_id: int = Field(foreign_key="warehouse.id")
    quantity: int = Field(sa_type=BigInteger)
    consumed: int = counter()
    cancelled: int = counter()
    waiting: int = counter()
    queue_position: int | None = Field(default=None, sa_type=BigInteger, nullable=False, sa_column_kwargs={
        "server_default": text("nextval('demand_queue_seq')")})
    promised_date: date | None = Field(default=None, sa_type=Date)
    promise_basis: str = Field(max_length=20)
    promise_reason: str = Field(max_length=300)
    created_at: datetime | None = created_at()


class Replacement(SQLModel, table=True):
    """An order placed to replace units at zero price: for a return, or for an unrepairable repair."""

    __tablename__ = "replacement"
    __table_args__ = (
        CheckConstraint("return_id IS NOT NULL OR repair_order_id IS NOT NULL", name="cause"),
        Index("ix_replacement_return_id", "return_id"),
        Index("ix_replacement_repair_order_id", "repair_order_id"),
    )

    order_id: int = Field(sa_column=Column(ForeignKey("sales_order.id"), primary_key=True))
    return_id: int | None = Field(default=None, foreign_key="return_authorization.id")
    repair_order_id: int | None = Field(default=None, foreign_key="repair_order.id")
    created_at: datetime | None = created_at()
