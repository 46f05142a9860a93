from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from erp.schemas import (
    Code,
    Currency,
    Email,
    FutureDate,
    Input,
    LocationRef,
    Name,
    OneLinePerSku,
    Price,
    Quantity,
    Sku,
    Text,
    example,
)

SupplierSku = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\x00]+$")]
LeadTime = Annotated[int, Field(ge=0, le=730)]
PurchaseOrderStatus = Literal["draft", "sent", "partially_received", "received", "closed", "cancelled"]


class SupplierCreate(Input):
    model_config = example({
        "code": "ACME",
        "name": "Acme Office Supply",
        "email": "sales@acme.example",
        "lead_time_days": 21,
    })

    code: Code
    name: Name
    email: Email | None = None
    lead_time_days: LeadTime = 14


class SupplierOut(BaseModel):
    code: str
    name: str
    email: str | None
    lead_time_days: int
    created_at: datetime
    version: int


class SupplierProductPut(Input):
    model_config = example({
        "supplier_sku": "AC-LAP-001",
        "unit_cost": "899.00",
        "currency": "EUR",
        "lead_time_days": 14,
        "min_order_quantity": 5,
        "preferred": True,
    })

    supplier_sku: SupplierSku
    unit_cost: Price = Field(description='A decimal string, like "12.50" (never a JSON number).')
    currency: Currency
    lead_time_days: LeadTime | None = Field(default=None, description="Defaults to the supplier's lead time.")
    min_order_quantity: Quantity = 1
    preferred: bool = False


class SupplierProductOut(BaseModel):
    supplier: str
    sku: str
    supplier_sku: str
    unit_cost: Decimal
    currency: str
    lead_time_days: int
    min_order_quantity: int
    preferred: bool
    version: int


class PurchaseOrderLineIn(Input):
    sku: Sku
    quantity: Quantity
    unit_cost: Price | None = Field(default=None, description="A decimal string; defaults to the supplier's price "
                                                              "for the product.")
    expected_date: FutureDate | None = Field(
        default=None, description="Defaults to today plus the lead time; not in the past, at most about 5 years ahead.")


class PurchaseOrderCreate(Input):
    model_config = example({
        "supplier": "ACME",
        "warehouse": "MAD-1",
        "lines": [{"sku": "LAP-001", "quantity": 20, "unit_cost": "899.00"}],
        "inspection_required": True,
    })

    supplier: Code
    warehouse: Code
    lines: Annotated[list[PurchaseOrderLineIn], OneLinePerSku] = Field(min_length=1, max_length=500)
    inspection_required: bool = False
    currency: Currency | None = None

class PurchaseOrderLineUpdate(Input):
    model_config = example({"expected_date": "2027-03-15"})

    expected_date: FutureDate = Field(description="Not in the past, at most about 5 years ahead.")


class PurchaseOrderLineOut(BaseModel):
    line_no: int
    sku: str
    quantity: int
    received: int
    rejected: int
    open: int = Field(description="Still expected from the supplier (rejected units are owed again).")
    unit_cost: Decimal
    expected_date: date
    promised_date: date = Field(description="The date the supplier first promised.")


class PurchaseOrderOut(BaseModel):
    number: str
    supplier: str
    warehouse: str
    status: PurchaseOrderStatus
    inspection_required: bool
    currency: str
    created_at: datetime
    sent_at: datetime | None
    lines: list[PurchaseOrderLineOut]
    version: int


class PurchaseOrderSummary(BaseModel):
    number: str
    supplier: str
    warehouse: str
    status: PurchaseOrderStatus
    created_at: datetime


class ReceiptLine(Input):
    sku: Sku
    quantity: Quantity


class ReceiptCreate(Input):
    model_config = example({"lines": [{"sku": "LAP-001", "quantity": 12}]})

    lines: Annotated[list[ReceiptLine], OneLinePerSku] = Field(min_length=1, max_length=500)

class InspectionOut(BaseModel):
    id: int
    purchase_order: str
    sku: str
    location: str
    quantity: int
    accepted: int
    rejected: int
    status: Literal["pending", "done"]
    notes: str | None
    received_by: str
    inspected_by: str | None
    created_at: datetime


class ReceiptOut(BaseModel):
    purchase_order: PurchaseOrderOut
    inspections: list[InspectionOut]


class InspectionResult(Input):
    model_config = example({
        "accepted": 11,
        "rejected": 1,
        "notes": "one cracked housing",
        "location": "MAD-1/A-01-1",
    })

    accepted: Annotated[int, Field(ge=0, le=1_000_000_000)]
    rejected: Annotated[int, Field(ge=0, le=1_000_000_000)]
    notes: Text | None = None
    location: LocationRef | None = Field(default=None, description="Storage bin for accepted units; default: "
                                         "the bin that already holds the product, else the first in walking order.")


class Scorecard(BaseModel):
    supplier: str
    period_from: date
    period_to: date
    lines_due: int
    on_time_rate: float | None = Field(description="Lines fully received by the date first promised.")
    fill_rate: float | None = Field(description="Units received of units ordered, for lines due in the period.")
    defect_rate: float | None = Field(description="Units rejected at inspection of units received in the period.")
    promised_lead_time_days: float | None
    actual_lead_time_days: float | None


class Suggestion(BaseModel):
    sku: str
    warehouse: str
    supplier: str | None
    projected: int = Field(description="available + incoming + drafted - backordered")
    drafted: int = Field(description="Units on draft purchase orders for this product and warehouse: an accepted "
                                     "suggestion counts against the next one before it is sent.")
    reorder_point: int
    reorder_max: int
    quantity: int
    reason: str


class SuggestionSelection(Input):
    sku: Sku
    warehouse: Code
    quantity: Quantity | None = None


class AcceptSuggestions(Input):
    model_config = example({"items": [{"sku": "LAP-001", "warehouse": "MAD-1"}]})

    items: list[SuggestionSelection] | None = Field(default=None, max_length=500,
                                                    description="Omit to accept every current suggestion.")
