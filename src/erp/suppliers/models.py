from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Column, Date, ForeignKey, Index, Numeric, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from erp.models import counter, created_at, flag, timestamp

PO_STATUSES = ("draft", "sent", "partially_received", "received", "closed", "cancelled")
# Purchase orders whose open quantity is supply that can be promised against.
OPEN_PO_STATUSES = ("sent", "partially_received")


class Supplier(SQLModel, table=True):
    __tablename__ = "supplier"
    __table_args__ = (CheckConstraint("lead_time_days >= 0", name="lead_time"),)

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=16, unique=True)
    name: str = Field(max_length=200)
    email: str | None = Field(default=None, max_length=254)
    lead_time_days: int = 14
    created_at: datetime | None = created_at()
    version: int = Field(default=1, sa_column_kwargs={"server_default": text("1")})


class SupplierProduct(SQLModel, table=True):
    """What a supplier sells us of a product, at what cost and lead time. One preferred per product."""

    __tablename__ = "supplier_product"
    __table_args__ = (
        CheckConstraint("unit_cost >= 0 AND lead_time_days >= 0 AND min_order_quantity >= 1", name="terms"),
        Index("uq_supplier_product_preferred", "product_id", unique=True, postgresql_where=text("preferred")),
    )

    supplier_id: int = Field(sa_column=Column(ForeignKey("supplier.id"), primary_key=True))
    product_id: int = Field(sa_column=Column(ForeignKey("product.id"), primary_key=True))
    supplier_sku: str = Field(max_length=64)
    unit_cost: Decimal = Field(sa_type=Numeric(14, 4))
    currency: str = Field(max_length=3)
    lead_time_days: int
    min_order_quantity: int = 1
    preferred: bool = flag(False)
    updated_at: datetime | None = created_at()
    version: int = Field(default=1, sa_column_kwargs={"server_default": text("1")})


class PurchaseOrder(SQLModel, table=True):
    __tablename__ = "purchase_order"
    __table_args__ = (
        CheckConstraint(f"status IN {PO_STATUSES}", name="status"),
        Index("ix_purchase_order_supplier_id", "supplier_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(
        max_length=20, unique=True,
        sa_column_kwargs={"server_default": text("'PO-' || lpad(nextval('purchase_order_number_seq')::text, 6, '0')")},
    )
    supplier_id: int = Field(foreign_key="supplier.id")
    warehouse_id: int = Field(foreign_key="warehouse.id")
    status: str = Field(default="draft", max_length=20, sa_column_kwargs={"server_default": "draft"})
    inspection_required: bool = flag(False)
    currency: str = Field(max_length=3)
    created_by: str = Field(max_length=100)
    created_at: datetime | None = created_at()
    sent_at: datetime | None = timestamp()
    closed_at: datetime | None = timestamp()
    version: int = Field(default=1, sa_column_kwargs={"server_default": text("1")})


class PurchaseOrderLine(SQLModel, table=True):
    """`quantity - received` is open (incoming while the PO is sent); dates feed available-to-promise."""

    __tablename__ = "purchase_order_line"
    __table_args__ = (
        UniqueConstraint("purchase_order_id", "line_no"),
        CheckConstraint("quantity > 0 AND received >= 0 AND rejected >= 0 AND rejected <= received", name="quantities"),
        Index("ix_purchase_order_line_product_id", "product_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    purchase_order_id: int = Field(foreign_key="purchase_order.id")
    line_no: int
    product_id: int = Field(foreign_key="product.id")
    quantity: int = counter()
    received: int = counter()
    rejected: int = counter()
    unit_cost: Decimal = Field(sa_type=Numeric(14, 4))
    expected_date: date = Field(sa_type=Date)
    # The date first promised by the supplier: the scorecard measures against it, not a moved date.
    promised_date: date = Field(sa_type=Date)
    fully_received_at: datetime | None = timestamp()


class Inspection(SQLModel, table=True):
    """Received goods waiting in receiving (or quarantine) for someone to accept or reject them."""

    __tablename__ = "inspection"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'done')", name="status"),
        CheckConstraint("quantity > 0 AND accepted >= 0 AND rejected >= 0 AND accepted + rejected <= quantity",
                        name="quantities"),
        Index("ix_inspection_status", "status", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    purchase_order_line_id: int = Field(foreign_key="purchase_order_line.id", index=True)
    product_id: int = Field(foreign_key="product.id")
    location_id: int = Field(foreign_key="location.id")
    quantity: int = counter()
    accepted: int = counter()
    rejected: int = counter()
    status: str = Field(default="pending", max_length=10, sa_column_kwargs={"server_default": "pending"})
    notes: str | None = Field(default=None, max_length=2000)
    received_by: str = Field(max_length=100)
    # The API key and the person that received the goods, so inspection can insist on a second person
    # (null: from before, or a key that belongs to no person).
    received_by_key_id: int | None = None
    received_by_person_id: int | None = None
    inspected_by: str | None = Field(default=None, max_length=100)
    created_at: datetime | None = created_at()
    inspected_at: datetime | None = timestamp()


class SupplierDefect(SQLModel, table=True):
    """Units of a supplier's product found defective after it was received and accepted: returned by a
    customer as defective, or sent back to the supplier from a return. Rejects at receipt inspection are
    counted from `inspection`."""

    __tablename__ = "supplier_defect"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity"),
        Index("ix_supplier_defect_supplier_id", "supplier_id", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    supplier_id: int = Field(foreign_key="supplier.id")
    product_id: int = Field(foreign_key="product.id")
    quantity: int
    reason: str = Field(max_length=30)
    reference: str = Field(max_length=64)
    created_at: datetime | None = created_at()
