"""People (staff accounts with one role), their page sessions, and failed sign-ins (DOMAIN.md section 8)."""

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, Index, func, text
from sqlmodel import Field, SQLModel

from erp.models import ROLES, counter, flag, timestamp
from erp.models import created_at as now_by_default


class Person(SQLModel, table=True):
    __tablename__ = "person"
    # One person per name, whatever its case: `Lucia` signs in as `lucia` too.
    __table_args__ = (CheckConstraint(f"role IN {ROLES}", name="role"),
                      Index("uq_person_lower_name", func.lower(text("name")), unique=True))

    id: int | None = Field(default=None, primary_key=True)
    # Events, pick lines and receipts name their actor in 100 characters.
    name: str = Field(max_length=100)
    role: str = Field(max_length=20)
    # argon2id, salted, in its own encoding (parameters included), so hashes made today verify tomorrow.
    password_hash: str = Field(max_length=200)
    active: bool = flag(True)
    # Its ETag: every change adds one, and `If-Match` names the version a change is meant for.
    version: int = Field(default=1, sa_column_kwargs={"server_default": text("1")})
    created_at: datetime | None = now_by_default()
    updated_at: datetime | None = now_by_default()


class PersonSession(SQLModel, table=True):
    """A signed-in browser: only the hash of its cookie's token is stored, so a copy of this table signs
    nobody in. `expires_at` moves forward on every use (an idle session ends)."""

    __tablename__ = "person_session"
    __table_args__ = (Index("ix_person_session_expires_at", "expires_at"),)

    token_hash: str = Field(primary_key=True, max_length=64)
    person_id: int = Field(foreign_key="person.id", index=True)
    # What every form of this session carries in a hidden field (CSRF).
    csrf_token: str = Field(max_length=64)
    created_at: datetime | None = now_by_default()
    expires_at: datetime = Field(sa_type=DateTime(timezone=True))


class SignInThrottle(SQLModel, table=True):
    """Failed sign-ins per name (whether or not a person has it, so refusals reveal nothing), in the
    database so that every process holds the same count."""

    __tablename__ = "sign_in_throttle"

    name: str = Field(primary_key=True, max_length=100)
    failures: int = counter()
    blocked_until: datetime | None = timestamp()
    last_failure_at: datetime | None = now_by_default()
