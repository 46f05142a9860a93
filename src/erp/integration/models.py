from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Column, ForeignKey, Index, LargeBinary, Text, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

from erp.models import counter, created_at, flag, timestamp

DELIVERY_STATUSES = ("pending", "sending", "delivered", "failed")


class WebhookSubscription(SQLModel, table=True):
    """An integration's endpoint and the event types it wants (`*`: all). Its signing secret is stored
    encrypted (erp.crypto), never in clear: it must be read to sign, so it cannot be hashed."""

    __tablename__ = "webhook_subscription"

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(max_length=2000)
    event_types: list[str] = Field(sa_column=Column(ARRAY(Text), nullable=False))
    secret_encrypted: bytes = Field(sa_type=LargeBinary)
    description: str | None = Field(default=None, max_length=200)
    active: bool = flag(True)
    created_by: str = Field(max_length=100)
    created_at: datetime | None = created_at()
    deleted_at: datetime | None = timestamp()
    version: int = Field(default=1, sa_column_kwargs={"server_default": text("1")})


class WebhookDelivery(SQLModel, table=True):
    """One event for one subscription: made in the event's transaction (a trigger), sent by a worker.

    A worker claims a delivery by setting `sending` with a lease (`lease_until`, `claimed_by`); only the
    claim's holder may record the outcome, and a lapsed lease (a worker killed mid-delivery) makes it
    pending again. Per subscription and subject, only the earliest undelivered event is ever claimed, so
    an order's events never overtake each other."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        CheckConstraint(f"status IN {DELIVERY_STATUSES}", name="status"),
        Index("ix_webhook_delivery_due", "next_attempt_at", postgresql_where=text("status = 'pending'")),
        Index("ix_webhook_delivery_open", "subscription_id", "subject", "event_id",
              postgresql_where=text("status IN ('pending', 'sending')")),
        Index("ix_webhook_delivery_subscription_id", "subscription_id", "id"),
        Index("ix_webhook_delivery_lease", "lease_until", postgresql_where=text("status = 'sending'")),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    subscription_id: int = Field(foreign_key="webhook_subscription.id")
    event_id: int = Field(sa_column=Column(BigInteger, ForeignKey("event.id"), nullable=False))
    subject: str = Field(max_length=64)
    status: str = Field(default="pending", max_length=10, sa_column_kwargs={"server_default": "pending"})
    attempts: int = counter()
    next_attempt_at: datetime | None = created_at()
    # Retries go on for `ERP_WEBHOOK_RETRY_HOURS` from here (made, or redelivered by hand).
    retry_from: datetime | None = created_at()
    lease_until: datetime | None = timestamp()
    claimed_by: str | None = Field(default=None, max_length=36)
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=300)
    created_at: datetime | None = created_at()
    delivered_at: datetime | None = timestamp()


class WebhookAttempt(SQLModel, table=True):
    """One HTTP attempt of a delivery: what the endpoint answered, or why there was no answer."""

    __tablename__ = "webhook_attempt"

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    delivery_id: int = Field(sa_column=Column(BigInteger, ForeignKey("webhook_delivery.id"), nullable=False,
                                              index=True))
    status_code: int | None = None
    error: str | None = Field(default=None, max_length=300)
    duration_ms: int
    created_at: datetime | None = created_at()
