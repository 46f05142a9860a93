"""Webhook subscriptions, signed per Standard Webhooks (https://www.standardwebhooks.com/).

A subscription names an http(s) URL and the event types it wants (`*`: all); its secret (`whsec_...`) is
shown once, when it is made, and kept encrypted (erp.crypto). Every event written after it was made is
delivered to it at least once (erp.integration.dispatcher), with the headers `webhook-id`,
`webhook-timestamp` and `webhook-signature` (HMAC-SHA256 over `id.timestamp.body`), signed by the
`standardwebhooks` library the standard's authors publish, so any Standard Webhooks library verifies it.

Endpoints on private, loopback or link-local addresses are refused unless `ERP_WEBHOOKS_ALLOW_PRIVATE`
is set: a webhook must not become a way to probe the internal network. The address is checked when the
subscription is made and again, after name resolution, before every attempt.
"""

import asyncio
import base64
import ipaddress
import json
import secrets
import socket
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks import Webhook

from erp import crypto
from erp.auth import Principal
from erp.concurrency import IfMatch
from erp.config import Settings
from erp.db import first_or_404
from erp.errors import InvalidRequest, InvalidTransition
from erp.events import EVENT_TYPES

INSERT = text(
    "INSERT INTO webhook_subscription (url, event_types, secret_encrypted, description, created_by)"
    " VALUES (:url, :types, :secret, :description, :actor) RETURNING *"
)
SUBSCRIPTION = text("SELECT * FROM webhook_subscription WHERE id = :id AND (deleted_at IS NULL OR :deleted)")
LOCK = text("SELECT version FROM webhook_subscription WHERE id = :id AND deleted_at IS NULL FOR UPDATE")
DELETE = text(
    "UPDATE webhook_subscription SET active = false, deleted_at = now(), version = version + 1"
    " WHERE id = :id AND deleted_at IS NULL RETURNING *"
)
# Deliveries no longer wanted once the subscription is gone.
DROP_PENDING = text("UPDATE webhook_delivery SET status = 'failed', last_error = 'subscription deleted'"
                    " WHERE subscription_id = :id AND status = 'pending'")
DELIVERY = text("SELECT * FROM webhook_delivery WHERE id = :delivery AND subscription_id = :id FOR UPDATE")
REDELIVER = text(
    "UPDATE webhook_delivery SET status = 'pending', next_attempt_at = now(), retry_from = now(),"
    " lease_until = NULL, claimed_by = NULL WHERE id = :delivery RETURNING *"
)


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def check_url(url: str, allow_private: bool) -> str:
    """An http(s) URL with a host and no credentials; a literal private address only when allowed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequest("url: an http or https URL with a host is needed.")
    if parts.username or parts.password:
        raise InvalidRequest("url: credentials in the URL are not accepted; the signature authenticates us.")
    try:
        address = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return url
    if not allow_private and not address.is_global:
        raise InvalidRequest(f"url: {address} is not a public address (set ERP_WEBHOOKS_ALLOW_PRIVATE to allow).")
    return url


async def public_address(url: str, allow_private: bool) -> str | None:
    """Why the URL's host may not be called now (None: it may): every address it resolves to must be
    public unless private ones are allowed."""
    parts = urlsplit(url)
    try:
        found = await asyncio.get_running_loop().getaddrinfo(parts.hostname, parts.port or 443,
                                                              type=socket.SOCK_STREAM)
    except OSError as exc:
        return f"cannot resolve {parts.hostname}: {exc.strerror or exc}"
    if allow_private:
        return None
    for *_, sockaddr in found:
        address = ipaddress.ip_address(sockaddr[0])
        if not address.is_global:
            return f"{parts.hostname} resolves to {address}, not a public address"
    return None


async def create(session: AsyncSession, settings: Settings, url: str, event_types: list[str],
                 description: str | None, actor: Principal) -> tuple[Any, str]:
    """Make a subscription; returns its row and the plain secret (shown once)."""
    unknown = sorted(set(event_types) - {"*", *EVENT_TYPES})
    if unknown:
        raise InvalidRequest(f"event_types: unknown {', '.join(unknown)}; see the list in the API description.")
    secret = new_secret()
    row = (await session.execute(INSERT, {
        "url": check_url(url, settings.webhooks_allow_private), "types": sorted(set(event_types)),
        "secret": crypto.seal(settings, secret), "description": description, "actor": actor.name})).one()
    return row, secret


async def get(session: AsyncSession, subscription_id: int, *, deleted: bool = False) -> Any:
    """A subscription (`deleted`: also one deleted, whose deliveries stay readable)."""
    return await first_or_404(session, SUBSCRIPTION, {"id": subscription_id, "deleted": deleted},
                              missing=f"No webhook subscription {subscription_id}.")


async def delete(session: AsyncSession, subscription_id: int, expected: IfMatch | None = None) -> Any:
    current = await first_or_404(session, LOCK, {"id": subscription_id},
                                 missing=f"No webhook subscription {subscription_id}.")
    if expected is not None:
        expected.check(current.version, f"Webhook {subscription_id}")
    row = (await session.execute(DELETE, {"id": subscription_id})).one()
    await session.execute(DROP_PENDING, {"id": subscription_id})
    return row


async def redeliver(session: AsyncSession, subscription_id: int, delivery_id: int) -> Any:
    """Send a delivery again, with a fresh retry window: one that failed for good, or one already
    delivered that the receiver lost."""
    await get(session, subscription_id)
    delivery = await first_or_404(session, DELIVERY, {"delivery": delivery_id, "id": subscription_id},
                                  missing=f"No delivery {delivery_id} of webhook {subscription_id}.")
    if delivery.status not in ("failed", "delivered"):
        raise InvalidTransition(f"Delivery {delivery_id} is {delivery.status}; it is being delivered already.")
    return (await session.execute(REDELIVER, {"delivery": delivery_id})).one()


def payload(event: Any) -> str:
    """The body of a delivery: the event, as Standard Webhooks shapes it (`type`, `timestamp`, `data`)."""
    return json.dumps({
        "type": event.type,
        "timestamp": event.created_at.isoformat(),
        "data": {"id": event.id, "subject": event.subject, "actor": event.actor, "channel": event.channel,
                 **({"order": event.order} if event.order else {}), "details": event.data},
    }, default=str, separators=(",", ":"))


def headers(secret: str, event_id: int, body: str, at: datetime) -> dict[str, str]:
    """Standard Webhooks headers. The message id is the event's: the same on every retry, so receivers
    drop duplicates by it."""
    message_id = f"evt_{event_id}"
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, at, body),
        "content-type": "application/json",
        "user-agent": "erp-webhooks/1",
    }
