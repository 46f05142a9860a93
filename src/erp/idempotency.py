"""Idempotency-Key on every POST: the key is claimed in the same transaction as the work.

A first request inserts its key; the work and the stored response commit together. A retry's insert
waits on the first one's row lock: if the first commits, the retry replays its stored response; if it
rolls back, the retry does the work itself. Failed requests store nothing, since they changed nothing.

Records expire (`ERP_IDEMPOTENCY_TTL_HOURS`, default 24): a claim takes an expired record over as if it
were not there, and a sweep in every worker deletes expired records in small batches. Nothing secret is
stored: a route names the response fields that are secrets (`@replayed_without("key")`) and the stored
copy has them as null. A route that changes nothing (`@not_stored`) is not recorded at all.
"""

import asyncio
import hashlib
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Request, Response
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from erp.auth import hash_key
from erp.background import in_background
from erp.db import UnitOfWork
from erp.errors import FieldError, IdempotencyKeyInProgress, IdempotencyKeyReused, InvalidRequest

log = logging.getLogger("erp.idempotency")

HEADER = "idempotency-key"

# An expired record is taken over in the claim itself, so expiry needs no read before the insert.
CLAIM = text(
    "INSERT INTO idempotency_key AS k (scope, key, fingerprint) VALUES (:scope, :key, :fingerprint)"
    " ON CONFLICT (scope, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, status_code = NULL,"
    " content_type = NULL, body = NULL, created_at = now()"
    " WHERE k.created_at < now() - make_interval(secs => :ttl_seconds)"
    " RETURNING 1"
)
STORED = text(
    "SELECT fingerprint, status_code, content_type, body FROM idempotency_key WHERE scope = :scope AND key = :key"
)
STORE = text(
    "UPDATE idempotency_key SET status_code = :status, content_type = :content_type, body = :body"
    " WHERE scope = :scope AND key = :key"
)
# Oldest first through ix_idempotency_key_created_at, a bounded batch, skipping rows a claim holds.
PURGE = text(
    "DELETE FROM idempotency_key WHERE (scope, key) IN ("
    " SELECT scope, key FROM idempotency_key WHERE created_at < now() - make_interval(secs => :ttl_seconds)"
    " ORDER BY created_at LIMIT :batch FOR UPDATE SKIP LOCKED)"
)
PURGE_BATCH = 1000
PURGE_MAX_BATCHES = 10


@dataclass(frozen=True, slots=True)
class Policy:
    """How a route's POSTs are kept for replay."""

    read_only: bool = False  # changes nothing: nothing to replay, nothing stored
    secret_fields: tuple[str, ...] = ()  # top-level response fields stored (and replayed) as null


E = TypeVar("E", bound=Callable[..., Any])


def not_stored(endpoint: E) -> E:
    """Mark a POST that changes nothing (a query with a body): it runs every time and stores nothing."""
    endpoint.__idempotency__ = Policy(read_only=True)  # type: ignore[attr-defined]
    return endpoint


def replayed_without(*fields: str) -> Callable[[E], E]:
    """Mark response fields that are secrets: never stored, so a replay answers them as null."""

    def mark(endpoint: E) -> E:
        endpoint.__idempotency__ = Policy(secret_fields=fields)  # type: ignore[attr-defined]
        return endpoint

    return mark


def policy_of(endpoint: Callable[..., Any]) -> Policy:
    return getattr(endpoint, "__idempotency__", Policy())


# 1 to 255 printable ASCII characters; HTTP drops spaces around a header value, so none start or end it.
IDEMPOTENCY_KEY_PATTERN = r"^[!-~]([ -~]{0,253}[!-~])?$"


def validate_key(key: str) -> None:
    if not re.fullmatch(IDEMPOTENCY_KEY_PATTERN, key):
        message = "Idempotency-Key must be 1 to 255 printable ASCII characters, not starting or ending with a space."
        raise InvalidRequest(message, errors=[FieldError(field="Idempotency-Key", message=message,
                                                         type="string_pattern_mismatch")])


def _scope(request: Request) -> str:
    """Keys are per caller: the same key from two API keys names two different requests."""
    authorization = request.headers.get("authorization", "")
    return hash_key(authorization.partition(" ")[2].strip() or "anonymous")


def _ttl_seconds(request: Request) -> float:
    return request.app.state.settings.idempotency_ttl_hours * 3600


def _stored_body(response: Response, secret_fields: tuple[str, ...]) -> bytes:
    body = bytes(response.body)
    if not secret_fields:
        return body
    document = json.loads(body)
    if isinstance(document, dict):
        for field in secret_fields:
            if field in document:
                document[field] = None
    return json.dumps(document, separators=(",", ":")).encode()


async def run_idempotent(
    request: Request,
    uow: UnitOfWork,
    key: str,
    handler: Callable[[Request], Awaitable[Response]],
    policy: Policy = Policy(),
) -> Response:
    validate_key(key)
    body = await request.body()
    fingerprint = hashlib.sha256(
        request.method.encode() + b" " + request.url.path.encode() + b"?" + request.url.query.encode() + b"\n" + body
    ).hexdigest()
    params = {"scope": _scope(request), "key": key}
    session = await uow.begin()
    try:
        claimed = (
            await session.execute(CLAIM, {**params, "fingerprint": fingerprint, "ttl_seconds": _ttl_seconds(request)})
        ).first()
    except DBAPIError as exc:
        if "LockNotAvailable" in type(exc.orig).__name__ or "lock timeout" in str(exc.orig):
            raise IdempotencyKeyInProgress("A request with this Idempotency-Key is still running.") from None
        raise
    if claimed is None:
        stored = (await session.execute(STORED, params)).one()
        if stored.fingerprint != fingerprint:
            raise IdempotencyKeyReused("This Idempotency-Key was used with a different request.")
        return Response(
            content=stored.body,
            status_code=stored.status_code,
            media_type=stored.content_type,
            headers={"Idempotent-Replayed": "true"},
        )
    response = await handler(request)
    await session.execute(
        STORE,
        {
            **params,
            "status": response.status_code,
            "content_type": response.headers.get("content-type"),
            "body": _stored_body(response, policy.secret_fields),
        },
    )
    return response


async def purge_expired(connection: AsyncConnection, ttl_hours: float) -> int:
    """Delete expired records, oldest first, at most PURGE_BATCH * PURGE_MAX_BATCHES; returns how many."""
    purged = 0
    for _ in range(PURGE_MAX_BATCHES):
        async with connection.begin():
            deleted = (await connection.execute(PURGE, {"ttl_seconds": ttl_hours * 3600, "batch": PURGE_BATCH})).rowcount
        purged += deleted
        if deleted < PURGE_BATCH:
            break
    return purged


@asynccontextmanager
async def expiry_sweep(engine: AsyncEngine, ttl_hours: float, every_seconds: float = 300) -> AsyncIterator[None]:
    """While the app runs, purge expired records every `every_seconds` (first after one interval)."""

    async def sweep() -> None:
        while True:
            await asyncio.sleep(every_seconds)
            try:
                async with engine.connect() as connection:
                    purged = await purge_expired(connection, ttl_hours)
                if purged:
                    log.info("purged %d expired idempotency records", purged)
            except Exception as exc:  # the database may be down for a while; try again next time
                log.warning("idempotency sweep failed: %s", exc.__class__.__name__)

    async with in_background(sweep(), "idempotency-expiry-sweep"):
        yield
