"""Shared tables (API keys, idempotency records, the event outbox) and the metadata conventions."""

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Column, DateTime, Index, LargeBinary, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ROLES = ("admin", "service", "warehouse", "purchasing", "integration")


def created_at() -> Any:
    return Field(
        default=None,
        sa_column_kwargs={"server_default": func.now(), "nullable": False},
        sa_type=DateTime(timezone=True),
    )


def counter(default: int = 0) -> Any:
    """A bigint quantity defaulting to `default` in Python and in the database alike."""
    return Field(default=default, sa_type=BigInteger, sa_column_kwargs={"server_default": text(str(default))})


def flag(default: bool) -> Any:
    return Field(default=default, sa_column_kwargs={"server_default": text("true" if default else "false")})


def timestamp(nullable: bool = True) -> Any:
    return Field(default=None, sa_type=DateTime(timezone=True), nullable=nullable)


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"
    __table_args__ = (CheckConstraint(f"role IN {ROLES}", name="role"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    role: str = Field(max_length=20)
    key_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=12)
    # The person the key belongs to (DOMAIN.md section 8); null: an integration's key, its own identity.
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    created_at: datetime | None = created_at()
    revoked_at: datetime | None = timestamp()


class IdempotencyRecord(SQLModel, table=True):
    """A claimed Idempotency-Key and the response it produced, written in the request's transaction."""

    __tablename__ = "idempotency_key"
    # The expiry sweep deletes oldest first.
    __table_args__ = (Index("ix_idempotency_key_created_at", "created_at"),)

    scope: str = Field(primary_key=True, max_length=64)
    key: str = Field(primary_key=True, max_length=255)
    fingerprint: str = Field(max_length=64)
    status_code: int | None = None
    content_type: str | None = Field(default=None, max_length=100)
    body: bytes | None = Field(default=None, sa_type=LargeBinary)
    created_at: datetime | None = created_at()


class WritePosition(SQLModel, table=True):
    """Where the primary's WAL stood after a caller's write committed, so that a standby serves that caller
    only once it has replayed that far (erp.standby). One row per API key and primary backend: concurrent
    writes of one key never wait for one row. Unlogged: after a crash of the primary it starts empty."""

    __tablename__ = "write_position"
    __table_args__ = {"prefixes": ["UNLOGGED"]}

    key_id: int = Field(primary_key=True)
    backend: int = Field(primary_key=True)
    lsn: int = Field(sa_type=BigInteger)
    written_at: datetime = Field(sa_type=DateTime(timezone=True))


class Event(SQLModel, table=True):
    """The outbox: every state change, in commit order per writer. An order's timeline is its events."""

    __tablename__ = "event"
    __table_args__ = (
        Index("ix_event_order_id", "order_id", "id"),
        # Pack verifications and their mismatches per order, for the service figures' pick accuracy.
        Index("ix_event_pack_checks", "order_id", "type",
              postgresql_where=text("type IN ('order.packed', 'order.pack_mismatch')")),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    type: str = Field(max_length=60)
    subject: str = Field(max_length=64)
    order_id: int | None = None
    actor: str = Field(max_length=100)
    channel: str | None = Field(default=None, max_length=20)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
    created_at: datetime | None = created_at()
