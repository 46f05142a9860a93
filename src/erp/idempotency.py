"""Idempotency-Key on every POST: the key is claimed in the same transaction as the work.

A first request inserts its key; the work and the stored response commit together. A retry's insert
waits on the first one's row lock: if the first commits, the retry replays its stored response; if it
rolls back, the retry does the work itself. Failed requests store nothing, since they changed nothing.
"""

import hashlib
from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from erp.auth import hash_key
from erp.db import UnitOfWork
from erp.errors import IdempotencyKeyInProgress, IdempotencyKeyReused, InvalidRequest

HEADER = "idempotency-key"

CLAIM = text(
    "INSERT INTO idempotency_key (scope, key, fingerprint) VALUES (:scope, :key, :fingerprint)"
    " ON CONFLICT DO NOTHING RETURNING 1"
)
STORED = text(
    "SELECT fingerprint, status_code, content_type, body FROM idempotency_key WHERE scope = :scope AND key = :key"
)
STORE = text(
    "UPDATE idempotency_key SET status_code = :status, content_type = :content_type, body = :body"
    " WHERE scope = :scope AND key = :key"
)


def _scope(request: Request) -> str:
    """Keys are per caller: the same key from two API keys names two different requests."""
    authorization = request.headers.get("authorization", "")
    return hash_key(authorization.partition(" ")[2].strip() or "anonymous")


async def run_idempotent(
    request: Request, uow: UnitOfWork, key: str, handler: Callable[[Request], Awaitable[Response]]
) -> Response:
    if not (1 <= len(key) <= 255) or not key.isascii() or not key.isprintable():
        raise InvalidRequest("Idempotency-Key must be 1 to 255 printable ASCII characters.")
    body = await request.body()
    fingerprint = hashlib.sha256(
        request.method.encode() + b" " + request.url.path.encode() + b"?" + request.url.query.encode() + b"\n" + body
    ).hexdigest()
    params = {"scope": _scope(request), "key": key}
    session = await uow.begin()
    try:
        claimed = (await session.execute(CLAIM, {**params, "fingerprint": fingerprint})).first()
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
            "body": bytes(response.body),
        },
    )
    return response
