from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from erp.schemas import (
    MAX_QUANTITY,
    Barcode,
    Code,
    Count,
    Input,
    LocationCode,
    LocationRef,
    Name,
    Quantity,
    Reference,
    Sku,
    example,
)

ADJUSTMENT_REASONS = ("cycle_count", "damaged", "found", "lost", "expired", "initial_stock", "correction")
AdjustmentReason = Literal["cycle_count", "damaged", "found", "lost", "expired", "initial_stock", "correction"]
CreatableLocationType = Literal["storage", "receiving", "quarantine", "packing", "scrap"]
# Why a promise is what it is (DOMAIN.md section 2).
PromiseBasis = Literal["in_stock", "incoming_supply", "supplier_lead_time", "cannot_promise"]


class ProductCreate(Input):
    model_config = example({
        "sku": "LAP-001",
        "name": "Laptop 14in",
        "barcode": "8400000000017",
        "reorder_point": 5,
        "reorder_max": 20,
    })

    sku: Sku
    name: Name
    barcode: Barcode | None = None
    reorder_point: Count = 0
    reorder_max: Count = 0
    active: bool = True

    @model_validator(mode="after")
    def _max_covers_point(self) -> "ProductCreate":
        if self.reorder_max < self.reorder_point:
            raise ValueError("reorder_max must be at least reorder_point")
        return self


class ProductUpdate(Input):
    """Only the fields sent change. `barcode: null` removes the barcode; the other fields cannot be null,
    so they are typed without `None` (an omitted field stays unset and is not validated)."""

    model_config = example({"reorder_point": 10, "reorder_max": 40})

    name: Name = None
    barcode: Barcode | None = None
    reorder_point: Count = None
    reorder_max: Count = None
    active: bool = None


class ProductOut(BaseModel):
    sku: str
    name: str
    barcode: str | None
    reorder_point: int
    reorder_max: int
    active: bool
    version: int
    created_at: datetime
    updated_at: datetime | None


class WarehouseCreate(Input):
    model_config = example({"code": "MAD-1", "name": "Madrid central", "priority": 10, "handling_days": 1})

    code: Code
    name: Name
    priority: int = Field(default=100, ge=0, le=10_000, description="Lower ships first when orders split.")
    handling_days: int = Field(default=1, ge=0, le=365)


class WarehouseOut(BaseModel):
    code: str
    name: str
    priority: int
    handling_days: int
    created_at: datetime


class LocationCreate(Input):
    model_config = example({"code": "A-01-1", "type": "storage", "sequence": 10})

    code: LocationCode
    type: CreatableLocationType = "storage"
    sequence: int = Field(default=0, ge=0, le=1_000_000, description="Walking order for pick lists.")


class LocationOut(BaseModel):
    warehouse: str
    code: str
    address: str
    type: str
    sequence: int


class StockLevelOut(BaseModel):
    sku: str
    warehouse: str
    on_hand: int
    reserved: int
    available: int
    quarantined: int
    incoming: int
    backordered: int


class LocationStockOut(BaseModel):
    warehouse: str
    location: str
    type: str
    quantity: int


class AdjustmentCreate(Input):
    model_config = example({
        "sku": "LAP-001",
        "location": "MAD-1/A-01-1",
        "quantity_delta": 5,
        "reason": "found",
    })

    sku: Sku
    location: LocationRef
    quantity_delta: int | None = Field(default=None, ge=-MAX_QUANTITY, le=MAX_QUANTITY)
    counted_quantity: Count | None = None
    reason: AdjustmentReason
    reference: Reference | None = None

    @model_validator(mode="after")
    def _exactly_one_quantity(self) -> "AdjustmentCreate":
        if (self.quantity_delta is None) == (self.counted_quantity is None):
            raise ValueError("give exactly one of quantity_delta and counted_quantity")
        if self.quantity_delta == 0:
            raise ValueError("quantity_delta must not be 0")
        return self


class TransferCreate(Input):
    model_config = example({
        "sku": "LAP-001",
        "from_location": "MAD-1/A-01-1",
        "to_location": "MAD-1/A-02-1",
        "quantity": 2,
    })

    sku: Sku
    from_location: LocationRef
    to_location: LocationRef
    quantity: Quantity
    reference: Reference | None = None


class MoveOut(BaseModel):
    id: int
    sku: str
    from_location: str
    to_location: str
    quantity: int
    reason: str
    reference: str | None
    actor: str
    created_at: datetime


class StockChangeOut(BaseModel):
    """What a stock operation did: its ledger moves (none when a count matched) and the balances after."""

    moves: list[MoveOut]
    locations: list[LocationStockOut]
    stock: list[StockLevelOut]


class WarehouseAvailabilityOut(BaseModel):
    warehouse: str
    available: int = Field(description="On hand and not reserved.")
    backordered: int = Field(description="Demand already waiting here, which claims stock first.")
    handling_days: int


class ProjectionPointOut(BaseModel):
    date: date
    available: int = Field(description="Units promisable by this date.")
    supply: str | None = Field(description="The supply that arrives on this date.")


class AvailabilityOut(BaseModel):
    sku: str
    quantity: int
    available_now: int = Field(description="Units promisable from stock now.")
    can_promise: bool
    promise_date: date | None
    promise_basis: PromiseBasis
    reason: str
    estimated: bool
    warehouses: list[WarehouseAvailabilityOut]
    projection: list[ProjectionPointOut]


class AvailabilityLine(Input):
    sku: Sku
    quantity: Quantity


class AvailabilityCheck(Input):
    model_config = example({"lines": [{"sku": "LAP-001", "quantity": 2}, {"sku": "MOU-004", "quantity": 10}]})

    lines: list[AvailabilityLine] = Field(min_length=1, max_length=500)
    warehouse: Code | None = None


class AvailabilityCheckOut(BaseModel):
    lines: list[AvailabilityOut]
    all_in_stock: bool
