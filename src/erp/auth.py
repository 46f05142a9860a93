"""API keys and roles (DOMAIN.md section 7): who may call what."""

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import func

from erp.errors import Forbidden, NotFound, Unauthenticated
from erp.models import ROLES, ApiKey
from erp.people.models import Person

KEY_PREFIX = "erp_"

# A key that belongs to a person acts as that person: their name and role, and nothing once they are disabled.
KEY_LOOKUP = (
    select(ApiKey.id, func.coalesce(Person.name, ApiKey.name).label("name"),
           func.coalesce(Person.role, ApiKey.role).label("role"), ApiKey.person_id)
    .outerjoin(Person, Person.id == ApiKey.person_id)
    .where(ApiKey.revoked_at.is_(None), or_(ApiKey.person_id.is_(None), Person.active))
)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: an API key (`key_id`), a person (`person_id`), or a person's key (both). A signed-in
    page has a person and no key."""

    key_id: int | None
    name: str
    role: str
    person_id: int | None = None


def same_identity(actor: Principal, key_id: int | None, person_id: int | None) -> bool:
    """Whether `actor` is who did an earlier action with `key_id` / `person_id` (DOMAIN.md section 8: a second
    person means a different person). People are compared when both actions have one; otherwise keys, a key
    that belongs to no person being its own identity."""
    if actor.person_id is not None and person_id is not None:
        return actor.person_id == person_id
    return actor.key_id is not None and actor.key_id == key_id


def forget_keys() -> None:
    """Drop what this process trusts about keys (after a key or its person changed)."""
    _cache.clear()


def hash_key(key: str) -> str:
    # Keys are 256 random bits, so a fast hash is as strong as a slow one and keeps lookups cheap.
    return hashlib.sha256(key.encode()).hexdigest()


async def create_key(session: AsyncSession, *, name: str, role: str,
                     person_id: int | None = None) -> tuple[ApiKey, str]:
    """Store a new key hashed and return it with the plain key, which is never seen again."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(name=name, role=role, key_hash=hash_key(key), prefix=key[:12], person_id=person_id)
    session.add(row)
    await session.flush()
    await session.refresh(row)
    return row, key


async def revoke_key(session: AsyncSession, key_id: int) -> ApiKey:
    row = (
        await session.execute(
            update(ApiKey)
            .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
            .values(revoked_at=func.now())
            .returning(ApiKey)
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"No active API key with id {key_id}.")
    _cache.clear()
    return row


class _KeyCache:
    """Recently seen keys, so the hot path does not pay a query per request for authentication."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, Principal | None]] = {}

    def get(self, key_hash: str, ttl: float) -> tuple[bool, Principal | None]:
        entry = self._entries.get(key_hash)
        if entry is None or time.monotonic() - entry[0] > ttl:
            return False, None
        return True, entry[1]

    def put(self, key_hash: str, principal: Principal | None, looked_up_at: float) -> None:
        """`looked_up_at`: before the lookup began, so an entry is never trusted past `ttl` after a change
        that its lookup did not see."""
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[key_hash] = (looked_up_at, principal)

    def clear(self) -> None:
        self._entries.clear()


_cache = _KeyCache()
# The OpenAPI document's scheme for every route with an `allow(...)` dependency (openapi.py declares it: a
# FastAPI `Security` sub-dependency would parse the header again on every request, only to document it).
SECURITY_SCHEMES = {
    "HTTPBearer": {"type": "http", "scheme": "bearer", "description": "An API key: `Authorization: Bearer erp_...`"}
}


def bearer_token(request: Request) -> str | None:
    """The API key of `Authorization: Bearer <key>`, or None."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def authenticate(request: Request) -> Principal:
    """The caller, once per request (the route may ask before an idempotent replay and again in its
    dependency)."""
    known: Principal | None = getattr(request.state, "principal", None)
    if known is not None:
        return known
    token = bearer_token(request)
    if token is None:
        raise Unauthenticated("Missing API key: send `Authorization: Bearer <key>`.")
    key_hash = hash_key(token)
    ttl = request.app.state.settings.auth_cache_seconds
    found, principal = _cache.get(key_hash, ttl)
    if not found:
        # On a connection of its own, returned at once: a request holds at most one connection at a time,
        # so requests waiting for the pool never hold one another's (placement's autocommit statements).
        state, looked_up_at = request.app.state, time.monotonic()
        async with (state.autocommit_sessionmaker or state.sessionmaker)() as session:
            row = (await session.execute(KEY_LOOKUP.where(ApiKey.key_hash == key_hash))).first()
        principal = Principal(row.id, row.name, row.role, row.person_id) if row else None
        _cache.put(key_hash, principal, looked_up_at)
    if principal is None:
        raise Unauthenticated("Unknown or revoked API key.")
    request.state.principal = principal
    return principal


async def authorize(request: Request, roles: tuple[str, ...]) -> Principal:
    """The caller if its role is one of `roles`: 401 for a missing, unknown or revoked key, else 403."""
    principal = await authenticate(request)
    if principal.role not in roles:
        raise Forbidden(f"Role {principal.role!r} may not do this; allowed: {', '.join(roles)}.")
    return principal


def allow(*roles: str) -> Any:
    """A dependency type admitting callers with one of `roles`: `actor: allow("admin", "warehouse")`.

    The dependency carries its `roles`, so the route can authorize before replaying a stored response
    (routing.py): a revoked key or a role that may not call the route never gets a replay."""

    async def dependency(request: Request) -> Principal:
        return await authorize(request, roles)

    dependency.roles = roles  # type: ignore[attr-defined]
    return Annotated[Principal, Depends(dependency)]


def required_roles(call: Any) -> tuple[str, ...] | None:
    """The roles an `allow(...)` dependency admits, or None for any other callable."""
    return getattr(call, "roles", None)


# Who may do what (DOMAIN.md section 7), named by what the caller does.
Anyone = allow(*ROLES)
Admin = allow("admin")
# Purchasing tunes a product's replenishment parameters only; the rest of the catalogue (creating,
# naming, barcodes, deactivating) and the warehouses and their locations are admin's (least privilege).
ProductEditor = allow("admin", "purchasing")
StockKeeper = allow("admin", "warehouse")
OrderReader = allow("admin", "service", "warehouse", "integration")
OrderTaker = allow("admin", "service", "integration")
ServiceRep = allow("admin", "service")
WarehouseWorker = allow("admin", "warehouse")
