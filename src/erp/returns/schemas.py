from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from erp.inventory.schemas import PromiseBasis
from erp.orders.schemas import Customer, OrderStatus
from erp.schemas import (
    NO_NUL,
    Code,
    Count,
    Currency,
    Input,
    LocationRef,
    Money,
    OneLinePerSku,
    Price,
    Quantity,
    Sku,
    Text,
    example,
)

Reason = Literal["defective", "damaged_in_transit", "wrong_item", "not_as_described", "no_longer_needed"]
Resolution = Literal["refund", "replacement", "repair"]
ReturnStatus = Literal["authorized", "received", "inspected", "resolved", "rejected", "cancelled"]
RepairStatus = Literal["queued", "in_progress", "waiting_parts", "completed", "shipped", "unrepairable"]
RefundMethod = Literal["original_payment", "store_credit", "bank_transfer", "cash", "other"]
OrderNumber = Annotated[str, StringConstraints(pattern=r"^SO-[0-9]{6,12}$")]
Short = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=NO_NUL)]
Problem = Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=NO_NUL)]
MAX_LINES = 200


# --- requests ---------------------------------------------------------------------------------------


class ReturnLineIn(Input):
    sku: Sku
    quantity: Quantity
    reason: Reason


class ReturnCreate(Input):
    model_config = example({
        "order": "SO-000042",
        "lines": [{"sku": "LAP-001", "quantity": 1, "reason": "defective"}],
        "resolution": "replacement",
        "advance_replacement": True,
    })

    order: OrderNumber
    lines: Annotated[list[ReturnLineIn], OneLinePerSku] = Field(min_length=1, max_length=MAX_LINES)
    resolution: Resolution
    advance_replacement: bool = Field(
        default=False, description="Place the replacement now rather than when the goods are received.")
    warehouse: Code | None = Field(default=None, description="Where the goods come back to; default: where they "
                                                             "were shipped from.")
    notes: Text | None = None

    @model_validator(mode="after")
    def _advance_only_for_replacements(self) -> "ReturnCreate":
        if self.advance_replacement and self.resolution != "replacement":
            raise ValueError("advance_replacement applies only to resolution 'replacement'")
        return self


class ReceiptLineIn(Input):
    sku: Sku
    quantity: Quantity


class ReturnReceive(Input):
    model_config = example({"lines": [{"sku": "LAP-001", "quantity": 1}]})

    lines: Annotated[list[ReceiptLineIn], OneLinePerSku] | None = Field(
        default=None, min_length=1, max_length=MAX_LINES, description="Omit to receive everything still expected.")


class InspectionLineIn(Input):
    sku: Sku
    restock: Count = 0
    repair: Count = 0
    scrap: Count = 0
    return_to_supplier: Count = 0
    location: LocationRef | None = Field(default=None, description="Storage bin for restocked units; default: "
                                                                   "a bin already holding the product.")

    @model_validator(mode="after")
    def _decides_something(self) -> "InspectionLineIn":
        if self.restock + self.repair + self.scrap + self.return_to_supplier == 0:
            raise ValueError("give a quantity for at least one of restock, repair, scrap, return_to_supplier")
        return self


class ReturnInspect(Input):
    model_config = example({"lines": [{"sku": "LAP-001", "repair": 1}], "notes": "does not power on"})

    lines: Annotated[list[InspectionLineIn], OneLinePerSku] = Field(min_length=1, max_length=MAX_LINES)
    notes: Text | None = None


class RefundCreate(Input):
    model_config = example({
        "amount": "49.90",
        "currency": "EUR",
        "method": "original_payment",
        "reference": "PSP-88213",
    })

    amount: Price
    currency: Currency
    method: RefundMethod
    reference: Short | None = Field(default=None, description="The payment provider's or bank's reference.")

    @model_validator(mode="after")
    def _positive(self) -> "RefundCreate":
        if self.amount <= 0:
            raise ValueError("amount must be more than 0")
        return self


class ReturnClose(Input):
    model_config = example({"reason": "the customer kept the unit"})

    reason: Text | None = None


class RepairCreate(Input):
    """A walk-in repair: the customer brings a unit."""

    model_config = example({
        "sku": "LAP-001",
        "customer": {"name": "Ana Ruiz", "email": "ana.ruiz@example.com"},
        "problem": "Fan is loud",
        "order": "SO-000042",
    })

    sku: Sku
    customer: Customer
    problem: Problem
    quantity: Quantity = 1
    order: OrderNumber | None = Field(default=None, description="The order the unit was bought with, if known.")
    warehouse: Code | None = Field(default=None, description="Where the repair is done; default: the first "
                                                             "warehouse by priority.")
    repair_days: int = Field(default=2, ge=0, le=365, description="Working time once the parts are there.")


class PartIn(Input):
    model_config = example({"sku": "FAN-012", "quantity": 1})

    sku: Sku
    quantity: Quantity


class RepairStatusChange(Input):
    model_config = example({"status": "shipped", "carrier": "DHL", "tracking_number": "JD014600006281230199"})

    status: Literal["in_progress", "waiting_parts", "completed", "shipped", "unrepairable"]
    carrier: Short | None = None
    tracking_number: Short | None = None
    notes: Text | None = None

    @model_validator(mode="after")
    def _shipping_names_the_carrier(self) -> "RepairStatusChange":
        if self.status == "shipped" and (self.carrier is None or self.tracking_number is None):
            raise ValueError("shipping a repair needs carrier and tracking_number")
        return self


class RepairOutcome(Input):
    model_config = example({"outcome": "replacement"})

    outcome: Literal["replacement", "refund"]


# --- responses --------------------------------------------------------------------------------------


class ReturnLineOut(BaseModel):
    line_no: int
    sku: str
    reason: Reason
    quantity: int = Field(description="Units authorized for return.")
    cancelled: int = Field(description="Units no longer expected.")
    received: int
    restocked: int
    repaired: int
    scrapped: int
    returned_to_supplier: int
    replaced: int = Field(description="Units a replacement order was placed for.")
    refundable: int = Field(description="Units that may be refunded.")
    unit_price: Money | None


class RefundOut(BaseModel):
    id: int
    amount: Money
    currency: str
    method: RefundMethod
    reference: str | None
    created_by: str
    created_at: datetime


class PartOut(BaseModel):
    id: int
    sku: str
    quantity: int
    reserved: int
    waiting: int
    consumed: int
    cancelled: int
    promised_date: date | None
    promise_basis: PromiseBasis
    reason: str


class RepairOut(BaseModel):
    number: str
    status: RepairStatus
    status_text: str
    sku: str
    quantity: int
    warehouse: str
    order: str | None
    return_number: str | None = Field(description="The return (RMA) it was opened from, if any.")
    customer: dict[str, str | None]
    problem: str
    ships_to_customer: bool
    outcome: Literal["replacement", "refund"] | None
    replacement_orders: list[str]
    repair_days: int
    promised_date: date | None = Field(description="When the repair is promised to be done; null if it cannot be.")
    promise_basis: PromiseBasis
    reason: str
    parts: list[PartOut]
    carrier: str | None
    tracking_number: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    shipped_at: datetime | None
    version: int


class ReplacementOut(BaseModel):
    number: str
    status: OrderStatus
    promised_date: date | None
    reason: str


class ReturnOut(BaseModel):
    number: str
    order: str
    status: ReturnStatus
    status_text: str
    resolution: Resolution
    advance_replacement: bool
    warehouse: str
    currency: str | None
    refundable_amount: Money = Field(description="Paid for the units that may be refunded.")
    refunded_amount: Money
    lines: list[ReturnLineOut]
    replacement_orders: list[ReplacementOut]
    repairs: list[RepairOut]
    refunds: list[RefundOut]
    notes: str | None
    created_by: str
    created_at: datetime
    version: int


class ReturnSummary(BaseModel):
    number: str
    order: str
    status: ReturnStatus
    resolution: Resolution
    created_at: datetime


class RepairSummary(BaseModel):
    number: str
    status: RepairStatus
    sku: str
    quantity: int
    order: str | None
    promised_date: date | None
    created_at: datetime
