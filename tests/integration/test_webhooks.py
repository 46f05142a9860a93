"""Webhooks: subscriptions through the API, and deliveries by real workers to a real endpoint that
verifies every Standard Webhooks signature."""

import asyncio
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from sqlalchemy import text

from tests.builders import given_product, given_stock, given_warehouse
from tests.conftest import ROOT, TEST_SECRET_KEY, Api, start_service, stop_service
from tests.integration.receiver import receiver
from tests.orders.test_placing import order_body

FAST_RETRIES = {"ERP_WEBHOOK_RETRY_BASE_SECONDS": "0.2", "ERP_WEBHOOK_TIMEOUT_SECONDS": "2"}


async def test_the_secret_is_shown_once_and_stored_neither_in_clear_nor_for_replay(api, app):
    body = {"url": "https://hooks.example.com/erp", "event_types": ["order.placed", "order.shipped"]}
    first = await api.post("/webhooks", body, headers={"Idempotency-Key": "hook-1"})
    assert first.status_code == 201, first.text
    secret = first.json()["secret"]
    assert secret.startswith("whsec_")
    again = await api.post("/webhooks", body, headers={"Idempotency-Key": "hook-1"})
    assert (again.status_code, again.json()["secret"], again.json()["id"]) == (201, None, first.json()["id"])
    async with app.state.engine.connect() as connection:
        stored = (await connection.execute(text("SELECT secret_encrypted FROM webhook_subscription"))).scalars().all()
        replays = (await connection.execute(text("SELECT body FROM idempotency_key"))).scalars().all()
    assert len(stored) == 1 and secret.encode() not in stored[0]
    assert all(secret.encode() not in body for body in replays)


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/x", "http://10.1.2.3/x", "http://[::1]/x", "http://169.254.169.254/",
                                 "ftp://example.com/x", "https://user:pw@example.com/x", "https://"])
async def test_endpoints_that_are_not_public_http_are_refused(api, url):
    response = await api.post("/webhooks", {"url": url, "event_types": ["*"]})
    assert (response.status_code, response.json()["code"]) == (422, "validation_error"), response.text


async def test_only_known_event_types_can_be_chosen_and_deleting_stops_deliveries(api):
    unknown = await api.post("/webhooks", {"url": "https://example.com/h", "event_types": ["order.exploded"]})
    assert unknown.status_code == 422
    hook = await api.ok("post", "/webhooks", {"url": "https://example.com/h", "event_types": ["*"]})
    await given_warehouse(api, "MAD-1", bins=("A-01",))
    await given_product(api, "LAP-1")
    pending = await api.ok("get", f"/webhooks/{hook['id']}/deliveries?status=pending")
    assert {d["event_type"] for d in pending["items"]} == set()  # warehouses and products are not evented
    await given_stock(api, "LAP-1", "MAD-1/A-01", 5)
    await api.ok("post", "/orders", order_body(("LAP-1", 1)))
    pending = await api.ok("get", f"/webhooks/{hook['id']}/deliveries?status=pending")
    assert [d["event_type"] for d in pending["items"]] == ["order.placed"]
    await api.ok("delete", f"/webhooks/{hook['id']}")
    assert (await api.ok("get", f"/webhooks/{hook['id']}/deliveries?status=pending"))["items"] == []
    assert (await api.get(f"/webhooks/{hook['id']}")).status_code == 404


# --- real workers, a real endpoint --------------------------------------------------------------------


@pytest.fixture
def service(database_url):
    process, base = start_service({"ERP_DATABASE_URL": database_url, **FAST_RETRIES})
    yield base
    stop_service(process)


def start_worker(database_url: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "erp.cli", "worker"], cwd=ROOT, env={
        **os.environ, "ERP_DATABASE_URL": database_url, "ERP_SECRET_KEY": TEST_SECRET_KEY, "ERP_LOG_LEVEL": "WARNING",
        "ERP_WEBHOOKS_ALLOW_PRIVATE": "true", **FAST_RETRIES})


async def client_for(base, keys):
    return httpx.AsyncClient(base_url=base + "/api/v1", timeout=60,
                             limits=httpx.Limits(max_connections=100, keepalive_expiry=2)), keys


async def events_since(api: Api, after: int) -> list[dict]:
    found, cursor = [], None
    while True:
        page = await api.ok("get", f"/events?after={after}&limit=500" + (f"&cursor={cursor}" if cursor else ""))
        found += page["items"]
        if not (cursor := page["next_cursor"]):
            return found


async def given_a_subscriber(api: Api, hook) -> int:
    """Subscribe the receiver to every event; returns the last event id before it."""
    before = await events_since(api, 0)
    created = await api.ok("post", "/webhooks", {"url": hook.url, "event_types": ["*"]})
    hook.secret = created["secret"]
    return max((e["id"] for e in before), default=0)


def assert_in_order_per_subject(received, expected_ids):
    assert {r.event_id for r in received} == expected_ids
    last: dict[str, int] = {}
    for r in received:
        assert r.event_id >= last.get(r.subject, 0), f"{r.subject}: event {r.event_id} after {last[r.subject]}"
        last[r.subject] = r.event_id


async def test_two_hundred_concurrent_orders_every_event_arrives_signed_once_in_order_with_two_workers(
        service, database_url, keys):
    worker = start_worker(database_url)
    try:
        with receiver() as hook:
            async with httpx.AsyncClient(base_url=service + "/api/v1", timeout=60) as client:
                api = Api(client, keys)
                await given_warehouse(api, "MAD-1", bins=("A-01",))
                await given_product(api, "LAP-1")
                await given_stock(api, "LAP-1", "MAD-1/A-01", 150)
                start = await given_a_subscriber(api, hook)
                responses = await asyncio.gather(*(api.as_("integration").post("/orders", order_body(("LAP-1", 1)))
                                                   for _ in range(200)))
                assert {r.status_code for r in responses} == {201}
                expected = {e["id"] for e in await events_since(api, start)}
                assert len(expected) >= 200
                await asyncio.to_thread(hook.wait_for, len(expected))
                assert_in_order_per_subject(hook.received, expected)
                assert len(hook.ids()) == len(set(hook.ids())), "an event was delivered twice"
                assert hook.forged == 0
    finally:
        worker.terminate()
        worker.wait(30)


async def test_an_endpoint_that_fails_for_a_while_gets_everything_afterwards_once(service, keys):
    with receiver() as hook:
        async with httpx.AsyncClient(base_url=service + "/api/v1", timeout=60) as client:
            api = Api(client, keys)
            await given_warehouse(api, "MAD-1", bins=("A-01",))
            await given_product(api, "LAP-1")
            await given_stock(api, "LAP-1", "MAD-1/A-01", 20)
            start = await given_a_subscriber(api, hook)
            hook.failing_until = time.monotonic() + 3
            for _ in range(10):
                await api.ok("post", "/orders", order_body(("LAP-1", 1)))
            expected = {e["id"] for e in await events_since(api, start)}
            await asyncio.to_thread(hook.wait_for, len(expected), 90)
            assert hook.refused > 0
            assert_in_order_per_subject(hook.received, expected)
            assert len(hook.ids()) == len(set(hook.ids()))
            hooks = (await api.ok("get", "/webhooks"))["items"]
            deliveries = (await api.ok("get", f"/webhooks/{hooks[0]['id']}/deliveries?limit=500"))["items"]
            assert {d["status"] for d in deliveries} == {"delivered"}
            retried = [d for d in deliveries if d["attempts"] > 1]
            assert retried and all(500 in [a["status_code"] for a in d["history"]] for d in retried)


async def test_a_worker_killed_mid_delivery_loses_nothing(database_url, keys):
    process, base = start_service({"ERP_DATABASE_URL": database_url, **FAST_RETRIES})
    try:
        with receiver() as hook:
            async with httpx.AsyncClient(base_url=base + "/api/v1", timeout=60) as client:
                api = Api(client, keys)
                await given_warehouse(api, "MAD-1", bins=("A-01",))
                await given_product(api, "LAP-1")
                await given_stock(api, "LAP-1", "MAD-1/A-01", 20)
                start = await given_a_subscriber(api, hook)
                hook.delay = 1.0  # every delivery is in flight for a second
                for _ in range(5):
                    await api.ok("post", "/orders", order_body(("LAP-1", 1)))
                expected = {e["id"] for e in await events_since(api, start)}
            await asyncio.sleep(0.5)
            process.send_signal(signal.SIGKILL)
            process.wait(10)
            hook.delay = 0
            process, base = start_service({"ERP_DATABASE_URL": database_url, **FAST_RETRIES})
            await asyncio.to_thread(hook.wait_for, len(expected), 90)
            assert {r.event_id for r in hook.received} == expected
            assert hook.forged == 0
    finally:
        stop_service(process)
