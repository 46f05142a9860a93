"""Operational metrics in Prometheus' text format at `GET /metrics` (prometheus_client).

Requests and their latency per route template, the connection pool (in use, waiting), the outbox lag
(age of the oldest event not yet delivered to a webhook), webhook deliveries by outcome, holds expired, orders placed together (`db.GroupCommit`).
Counters are per process: with several workers, scrape each (or run one) as Prometheus does.

Open without a key from the machine itself (127.0.0.1, ::1); `ERP_METRICS_PUBLIC=true` opens it to
every address (put it behind the network's own access control then).
"""

import ipaddress
import time
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import iter_route_contexts
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from erp.errors import Forbidden

REGISTRY = CollectorRegistry()
IN_FLIGHT = Gauge("erp_requests_in_flight", "HTTP requests being answered now", registry=REGISTRY)
REQUESTS = Counter("erp_requests", "HTTP requests answered", ["method", "route", "status"], registry=REGISTRY)
LATENCY = Histogram("erp_request_seconds", "Time to answer an HTTP request", ["method", "route"], registry=REGISTRY,
                    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5))
DELIVERIES = Counter("erp_webhook_deliveries", "Webhook delivery attempts by outcome", ["outcome"],
                     registry=REGISTRY)
GROUPED = Histogram("erp_group_commit_size", "Orders placed together in one transaction (1: alone)",
                    registry=REGISTRY, buckets=(1, 2, 4, 8, 16, 32, 64, 100))
HOLDS_EXPIRED = Counter("erp_holds_expired", "Holds released because they expired", registry=REGISTRY)

OUTBOX_LAG = text(
    "SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0) FROM webhook_delivery"
    " WHERE status IN ('pending', 'sending')"
)

router = APIRouter()


class Observed:
    """Pure ASGI middleware: counts and times every request by its route template (not its raw path, so
    the number of series stays bounded)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.templates: dict[int, str] = {}  # a route (as routing hands it over) -> its full path template
        # (method, template, status) -> its counter and histogram: labels() takes a lock and checks its
        # arguments on every call. Bounded like the series themselves (routes x methods x statuses).
        self.series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def template(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is None:
            return "unmatched"
        if not self.templates:
            self.templates = {id(c.original_route): c.path for c in iter_route_contexts(scope["app"].router.routes)}
        return self.templates.get(id(route)) or getattr(route, "path", "unmatched")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        IN_FLIGHT.inc()

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            IN_FLIGHT.dec()
            key = (scope["method"], self.template(scope), status)
            series = self.series.get(key)
            if series is None:
                series = self.series[key] = (REQUESTS.labels(key[0], key[1], str(status)), LATENCY.labels(*key[:2]))
            series[0].inc()
            series[1].observe(time.perf_counter() - started)


class _Pool(Collector):
    """The connection pool and the outbox, read when scraped (from the app that was scraped last)."""

    def __init__(self) -> None:
        self.app: Any = None
        self.lag = 0.0

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self.app is None:
            return
        pool = self.app.state.engine.pool
        in_use = pool.checkedout()
        yield GaugeMetricFamily("erp_pool_in_use", "Database connections in use", value=in_use)
        # The pool does not count its waiters; requests in flight beyond the connections in use are waiting
        # for one (or for nothing from the database: an estimate from above).
        yield GaugeMetricFamily("erp_pool_waiting", "Requests in flight beyond the connections in use (estimate)",
                                value=max(0.0, IN_FLIGHT._value.get() - 1 - in_use))
        yield GaugeMetricFamily("erp_pool_size", "Database connections the pool keeps", value=pool.size())
        yield GaugeMetricFamily("erp_pool_overflow", "Connections beyond the pool size (negative: room left)",
                                value=pool.overflow())
        yield GaugeMetricFamily("erp_outbox_lag_seconds",
                                "Age of the oldest event not yet delivered to every webhook", value=self.lag)


POOL = _Pool()
REGISTRY.register(POOL)


def _local(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host in ("testclient", "localhost")


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    if not (request.app.state.settings.metrics_public or _local(request)):
        raise Forbidden("/metrics answers the machine itself only (ERP_METRICS_PUBLIC opens it).")
    async with request.app.state.engine.connect() as connection:
        POOL.lag = float((await connection.execute(OUTBOX_LAG)).scalar_one())
    POOL.app = request.app
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
