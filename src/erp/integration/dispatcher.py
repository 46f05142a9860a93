"""The worker: delivers webhooks from the outbox and releases holds that expired.

Runs inside every `erp serve` process (`ERP_WORKER_IN_SERVE`) or alone as `erp worker`; any number may
run against one database. Each round:

1. Deliveries whose lease lapsed (a worker killed mid-delivery) become pending again.
2. Due deliveries are claimed in one statement with `FOR UPDATE SKIP LOCKED`: set `sending` with a
   lease and this worker's claim token, and committed, so no two workers ever hold one attempt. Only
   the earliest undelivered event of a subscription and subject is claimable, so an order's events
   never overtake each other.
3. The claimed ones are sent concurrently over HTTP (no database connection held meanwhile), each with
   a timeout; the outcome is recorded only if the claim is still this worker's. A 2xx is delivered;
   anything else is retried with exponential backoff and jitter (`ERP_WEBHOOK_RETRY_BASE_SECONDS`, 5 s,
   doubling to at most an hour) until
   `ERP_WEBHOOK_RETRY_HOURS` after the delivery was made, then it is `failed` (and can be redelivered
   by hand).
4. Holds past their expiry are released (erp.orders.holds).

Delivery is at least once: a worker killed after the receiver got a message but before recording it
sends it again; receivers drop duplicates by `webhook-id`.
"""

import asyncio
import logging
import random
import time
import uuid
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from erp import crypto, metrics
from erp.background import in_background
from erp.config import Settings
from erp.errors import database_unreachable
from erp.integration import webhooks
from erp.orders import holds

log = logging.getLogger("erp.worker")

RELEASE_LAPSED = text(
    "UPDATE webhook_delivery SET status = 'pending', lease_until = NULL, claimed_by = NULL"
    " WHERE status = 'sending' AND lease_until < now()"
)
CLAIM = text("""
    WITH due AS (
        SELECT d.id FROM webhook_delivery d
         WHERE d.status = 'pending' AND d.next_attempt_at <= now()
           AND NOT EXISTS (SELECT 1 FROM webhook_delivery e
                            WHERE e.subscription_id = d.subscription_id AND e.subject = d.subject
                              AND e.event_id < d.event_id AND e.status IN ('pending', 'sending'))
         ORDER BY d.next_attempt_at, d.event_id
         LIMIT :batch
         FOR UPDATE SKIP LOCKED
    )
    UPDATE webhook_delivery d SET status = 'sending', attempts = d.attempts + 1,
           lease_until = now() + make_interval(secs => :lease), claimed_by = :token
      FROM due WHERE d.id = due.id
    RETURNING d.id, d.subscription_id, d.event_id, d.attempts, d.retry_from
""")
EVENTS = text(
    "SELECT e.id, e.type, e.subject, e.actor, e.channel, e.data, e.created_at, o.number AS order"
    " FROM event e LEFT JOIN sales_order o ON o.id = e.order_id WHERE e.id = ANY(:ids)"
)
SUBSCRIPTIONS = text("SELECT id, url, secret_encrypted FROM webhook_subscription WHERE id = ANY(:ids)")
DELIVERED = text(
    "UPDATE webhook_delivery SET status = 'delivered', delivered_at = now(), last_status_code = :code,"
    " last_error = NULL, lease_until = NULL, claimed_by = NULL"
    " WHERE id = :id AND claimed_by = :token AND status = 'sending'"
)
RETRY = text(
    "UPDATE webhook_delivery SET status = CASE WHEN now() >= retry_from + make_interval(secs => :window)"
    "                                     THEN 'failed' ELSE 'pending' END,"
    " next_attempt_at = now() + make_interval(secs => :delay), last_status_code = :code, last_error = :error,"
    " lease_until = NULL, claimed_by = NULL"
    " WHERE id = :id AND claimed_by = :token AND status = 'sending'"
)
ATTEMPT = text(
    "INSERT INTO webhook_attempt (delivery_id, status_code, error, duration_ms) VALUES (:id, :code, :error, :ms)"
)
BATCH = 50


def backoff(attempts: int, base: float, rng: random.Random) -> float:
    """Seconds until the next attempt: `base` doubling per attempt, at most an hour, +-25 % jitter (so
    endpoints that failed together are not all retried at once)."""
    return min(base * 2 ** (attempts - 1), 3600.0) * rng.uniform(0.75, 1.25)


class Worker:
    def __init__(self, engine: AsyncEngine, settings: Settings, sessions: async_sessionmaker[AsyncSession],
                 *, interval: float = 0.5, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.engine, self.settings, self.sessions, self.interval = engine, settings, sessions, interval
        self.token = uuid.uuid4().hex
        self.rng = random.Random()
        self.client = httpx.AsyncClient(timeout=settings.webhook_timeout_seconds, follow_redirects=False,
                                        transport=transport, limits=httpx.Limits(max_connections=100))

    async def run(self) -> None:
        try:
            while True:
                try:
                    busy = await self.round()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if not database_unreachable(exc):
                        log.exception("worker round failed")
                    else:
                        # Restarting or out of reach: requests answer 503 meanwhile; the worker waits and tries
                        # again, and nothing is lost (the deliveries are in the database).
                        log.warning("worker: database unavailable (%s); retrying", type(exc).__name__)
                    busy = False
                if not busy:
                    await asyncio.sleep(self.interval)
        finally:
            await self.client.aclose()

    async def round(self) -> bool:
        """One round of work; True when there may be more right away."""
        claimed = await self._claim()
        if claimed:
            await asyncio.gather(*(self._send(*item) for item in claimed))
        expired = await self._expire_holds()
        return len(claimed) == BATCH or expired

    async def _claim(self) -> list[tuple[Any, Any, Any]]:
        async with self.engine.begin() as connection:
            await connection.execute(RELEASE_LAPSED)
            rows = (await connection.execute(CLAIM, {
                "batch": BATCH, "lease": 2 * self.settings.webhook_timeout_seconds + 5, "token": self.token})).all()
            if not rows:
                return []
            events = {e.id: e for e in (await connection.execute(EVENTS, {"ids": [r.event_id for r in rows]}))}
            subscriptions = {s.id: s for s in (await connection.execute(
                SUBSCRIPTIONS, {"ids": list({r.subscription_id for r in rows})}))}
        return [(row, events[row.event_id], subscriptions[row.subscription_id]) for row in rows]

    async def _send(self, delivery: Any, event: Any, subscription: Any) -> None:
        started = time.perf_counter()
        code, error = None, None
        try:
            refused = await webhooks.public_address(subscription.url, self.settings.webhooks_allow_private)
            if refused:
                error = refused
            else:
                body = webhooks.payload(event)
                secret = crypto.unseal(self.settings, subscription.secret_encrypted)
                response = await self.client.post(subscription.url, content=body,
                                                  headers=webhooks.headers(secret, event.id, body, datetime.now(UTC)))
                code = response.status_code
                if not 200 <= code < 300:
                    error = f"answered {code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:300] or type(exc).__name__
        elapsed = int((time.perf_counter() - started) * 1000)
        async with self.engine.begin() as connection:
            params = {"id": delivery.id, "token": self.token, "code": code}
            if error is None:
                await connection.execute(DELIVERED, params)
                metrics.DELIVERIES.labels("delivered").inc()
            else:
                metrics.DELIVERIES.labels("refused" if code else "unreachable").inc()
                await connection.execute(RETRY, {**params, "error": error[:300], "window":
                                                 self.settings.webhook_retry_hours * 3600,
                                                 "delay": backoff(delivery.attempts, self.settings.webhook_retry_base_seconds,
                                                                  self.rng)})
            await connection.execute(ATTEMPT, {"id": delivery.id, "code": code, "error": error and error[:300],
                                               "ms": elapsed})

    async def _expire_holds(self) -> bool:
        async with self.sessions() as session, session.begin():
            return await holds.expire_due(session, limit=BATCH) > 0


@asynccontextmanager
async def running(engine: AsyncEngine, settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> Any:
    """The worker as a background task for as long as the block runs."""
    async with in_background(Worker(engine, settings, sessions).run(), "erp-worker"):
        yield
