from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field, StrictInt, StringConstraints, model_validator

from erp.inventory.schemas import PromiseBasis
from erp.schemas import (
    NO_NUL,
    Barcode,
    Currency,
    Email,
    Input,
    LocationRef,
    Money,
    Name,
    OneLinePerSku,
    Price,
    Quantity,
    Reference,
    Sku,
    Text,
    Uuid,
    example,
)

Channel = Literal["web", "phone", "email", "chat", "social", "store", "api"]
OrderStatus = Literal["confirmed", "backordered", "picking", "packed", "partially_shipped", "shipped", "delivered",
                      "cancelled"]
Phone = Annotated[str, StringConstraints(min_length=3, max_length=40, pattern=r"^[0-9+()\-. ]+$")]
Short = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=NO_NUL)]
MAX_LINES = 200


class Customer(Input):
    name: Name
    email: Email
    phone: Phone | None = None


class Address(Input):
    name: Name | None = None
    line1: Name
    line2: Name | None = None
    city: Name
    postal_code: Annotated[str, StringConstraints(min_length=1, max_length=20, pattern=NO_NUL)]
    region: Name | None = None
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] = Field(description="ISO 3166-1 alpha-2")


class LineRequestIn(Input):
    sku: Sku
    quantity: Quantity
    unit_price: Price | None = Field(default=None, description="What the customer pays per unit, in `currency`.")


class OrderCreate(Input):
    model_config = example({
        "customer": {"name": "Ana Ruiz", "email": "ana.ruiz@example.com", "phone": "+34 600 000 000"},
        "channel": "web",
        "currency": "EUR",
        "lines": [{"sku": "LAP-001", "quantity": 1, "unit_price": "1299.00"}],
        "ship_to": {"line1": "Calle Mayor 1", "city": "Madrid", "postal_code": "28013", "country": "ES"},
        "external_ref": "WEB-10042",
    })

    customer: Customer
    channel: Channel
    lines: Annotated[list[LineRequestIn], OneLinePerSku] = Field(min_length=1, max_length=MAX_LINES)
    ship_to: Address | None = None
    external_ref: Reference | None = None
    allow_backorder: bool = True
    currency: Currency | None = Field(default=None, description="ISO 4217; required when lines carry prices.")
    hold: Uuid | None = Field(default=None, description="A hold whose reservations the order takes over; the "
                                                        "order asks for exactly the held lines.")

    @model_validator(mode="after")
    def _prices_have_a_currency(self) -> "OrderCreate":
        if self.currency is None and any(line.unit_price is not None for line in self.lines):
            raise ValueError("currency is required when lines carry a unit_price")
        return self

class LineQuantity(Input):
    sku: Sku
    quantity: Quantity


class CancelRequest(Input):
    model_config = example({
        "lines": [{"sku": "LAP-001", "quantity": 1}],
        "reason": "customer changed their mind",
    })

    lines: Annotated[list[LineQuantity], OneLinePerSku] | None = Field(default=None, min_length=1, max_length=MAX_LINES,
                                             description="Omit to cancel everything still cancellable.")
    reason: Text | None = None


class ContactCreate(Input):
    model_config = example({
        "channel": "phone",
        "direction": "inbound",
        "summary": "Asked when the laptop arrives; read out the promise.",
    })

    channel: Channel
    direction: Literal["inbound", "outbound"]
    summary: Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=NO_NUL)]


class PickListCreate(Input):
    model_config = example({"warehouse": "MAD-1", "max_orders": 20})

    warehouse: Annotated[str, StringConstraints(min_length=1, max_length=16, pattern=r"^[A-Z0-9][A-Z0-9_\-]*$")]
    max_orders: int = Field(default=20, ge=1, le=200)


class PickConfirm(Input):
    model_config = example({"location": "MAD-1/A-01-1", "barcode": "8400000000017", "quantity": 1})

    location: LocationRef
    sku: Sku | None = None
    barcode: Barcode | None = None
    quantity: int = Field(ge=0, le=1_000_000_000, description="Units taken from the bin (with short: units found).")
    short: bool = Field(default=False, description="The bin held less than the pick list asked for.")

    @model_validator(mode="after")
    def _identifies_the_product(self) -> "PickConfirm":
        if (self.sku is None) == (self.barcode is None):
            raise ValueError("scan exactly one of sku and barcode")
        if self.quantity == 0 and not self.short:
            raise ValueError("quantity must be at least 1 unless reporting a short pick")
        return self


class ScannedItem(Input):
    sku: Sku | None = None
    barcode: Barcode | None = None
    quantity: Quantity

    @model_validator(mode="after")
    def _identifies_the_product(self) -> "ScannedItem":
        if (self.sku is None) == (self.barcode is None):
            raise ValueError("scan exactly one of sku and barcode")
        return self


class PackRequest(Input):
    model_config = example({"items": [{"barcode": "8400000000017", "quantity": 1}]})

    items: list[ScannedItem] = Field(min_length=1, max_length=MAX_LINES)


class ShipmentCreate(Input):
    model_config = example({"carrier": "DHL", "tracking_number": "JD014600006281230187"})

    carrier: Short
    tracking_number: Short
    lines: Annotated[list[LineQuantity], OneLinePerSku] | None = Field(default=None, min_length=1, max_length=MAX_LINES,
                                             description="Omit to ship everything packed and not yet shipped.")


# --- responses ------------------------------------------------------------------------------------


class AllocationOut(BaseModel):
    warehouse: str
    reserved: int


class OrderLineOut(BaseModel):
    line_no: int
    sku: str
    name: str
    quantity: int
    reserved: int
    backordered: int
    picked: int
    packed: int
    shipped: int
    cancelled: int
    returned: int
    unit_price: Money | None
    state: str = Field(description="The line's state in words.")
    promised_date: date | None
    first_promised_date: date | None = Field(description="The promise made when the order was placed.")
    promise_basis: PromiseBasis
    reason: str
    allocations: list[AllocationOut]


class ShipmentOut(BaseModel):
    id: int
    carrier: str
    tracking_number: str
    lines: list[dict[str, Any]]
    shipped_at: datetime


class TimelineEntry(BaseModel):
    id: int
    at: datetime
    type: str
    actor: str
    channel: str | None
    summary: str
    data: dict[str, Any]


class ContactOut(BaseModel):
    id: int
    channel: str
    direction: str
    summary: str
    rep: str
    at: datetime


class CustomerOut(BaseModel):
    name: str
    email: str
    phone: str | None


class OrderOut(BaseModel):
    """The order status view: what a rep reads aloud."""

    number: str
    status: OrderStatus
    status_text: str
    channel: str
    customer: CustomerOut
    ship_to: dict[str, Any] | None
    external_ref: str | None
    currency: str | None
    created_at: datetime
    promised_date: date | None = Field(description="When the whole order is promised; null if it cannot be.")
    promise_basis: PromiseBasis
    reason: str
    lines: list[OrderLineOut]
    shipments: list[ShipmentOut]
    touches: int
    needs_attention: bool = Field(description="More customer contacts than the configured threshold.")
    timeline: list[TimelineEntry]
    version: int


class OrderSummary(BaseModel):
    number: str
    status: OrderStatus
    channel: str
    customer_name: str
    customer_email: str
    customer_phone: str | None
    external_ref: str | None
    created_at: datetime


class UnpromisableLine(BaseModel):
    sku: str
    requested: int
    available_now: int
    promised_date: date | None
    promise_basis: PromiseBasis
    reason: str


class PickLineOut(BaseModel):
    id: int
    order: str
    location: str
    sku: str
    barcode: str | None
    quantity: int
    picked: int
    short: int


PickListStatus = Literal["open", "completed"]


class PickListOut(BaseModel):
    id: int
    warehouse: str
    status: PickListStatus
    created_at: datetime
    lines: list[PickLineOut]


class HoldCreate(Input):
    lines: Annotated[list[LineRequestIn], OneLinePerSku] = Field(min_length=1, max_length=MAX_LINES)
    warehouse: Annotated[str, StringConstraints(min_length=1, max_length=16, pattern=r"^[A-Z0-9][A-Z0-9_\-]*$")] | None = (
        Field(default=None, description="Hold only at this warehouse."))
    expires_in: StrictInt = Field(default=900, ge=1, le=86_400, description="Seconds until the hold lapses (1 s to 24 h).")

    model_config = example({"lines": [{"sku": "LAP-001", "quantity": 1}], "expires_in": 900})

    @model_validator(mode="after")
    def _no_prices(self) -> "HoldCreate":
        if any(line.unit_price is not None for line in self.lines):
            raise ValueError("a hold reserves units; prices belong to the order")
        return self


class HoldLineOut(BaseModel):
    sku: str
    quantity: int
    allocations: list[AllocationOut]


class HoldOut(BaseModel):
    id: UUID
    status: Literal["active", "converted", "released", "expired"]
    expires_at: datetime
    order: str | None = Field(description="The order that took the hold over.")
    created_at: datetime
    lines: list[HoldLineOut]
