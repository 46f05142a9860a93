from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from erp.events import EVENT_TYPES
from erp.schemas import NO_NUL, Input, example

EventType = Literal[EVENT_TYPES + ("*",)]  # type: ignore[valid-type]
Url = Annotated[str, StringConstraints(min_length=8, max_length=2000, pattern=r"^https?://[^\s\x00]+$")]


class WebhookCreate(Input):
    url: Url = Field(description="http(s) endpoint; private and loopback addresses are refused unless the "
                                 "server allows them (ERP_WEBHOOKS_ALLOW_PRIVATE).")
    event_types: list[EventType] = Field(min_length=1, max_length=len(EVENT_TYPES) + 1,
                                         description="The event types to receive, or [\"*\"] for all.")
    description: Annotated[str, StringConstraints(max_length=200, pattern=NO_NUL)] | None = None

    model_config = example({"url": "https://erp-hooks.example.com/orders", "event_types": ["order.placed", "order.shipped"],
                            "description": "Order updates for the shop"})


class WebhookOut(BaseModel):
    id: int
    url: str
    event_types: list[str]
    description: str | None
    active: bool
    created_by: str
    created_at: datetime
    version: int


class WebhookCreated(WebhookOut):
    secret: str | None = Field(description="The signing secret (`whsec_...`), shown once; null in the replay of "
                                           "an Idempotency-Key (it is not stored for replay).")


class AttemptOut(BaseModel):
    at: datetime
    status_code: int | None = Field(description="What the endpoint answered; null: no answer (see error).")
    error: str | None
    duration_ms: int


class DeliveryOut(BaseModel):
    id: int
    event_id: int
    event_type: str
    subject: str
    status: Literal["pending", "sending", "delivered", "failed"]
    attempts: int
    next_attempt_at: datetime | None = Field(description="When a pending delivery is tried next.")
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    history: list[AttemptOut] = Field(description="The latest attempts, newest first (at most 10).")
