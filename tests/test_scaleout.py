"""More than one process: pgbouncer in transaction mode, several `erp serve`, a streaming standby for reads.

The standby is made with `pg_basebackup -R` from a primary of the test's own (bench/clusters.py), and
applies commits `APPLY_DELAY` late, so that a read that ignored its reader's own writes would be caught.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text

from bench.clusters import Cluster, pgbouncer
from erp import auth
from erp.config import Settings
from erp.db import create_engine, sessionmaker
from erp.migrations import upgrade
from erp.models import ROLES
from tests import conftest
from tests.builders import given_product, given_stock, given_warehouse
from tests.conftest import Api, _dsn, start_service, stop_service
from tests.orders.test_placing import order_body

APPLY_DELAY = "300ms"


async def _keys(url: str) -> dict[str, str]:
    engine = create_engine(url, conftest.test_settings())
    made = {}
    try:
        async with sessionmaker(engine)() as session, session.begin():
            for role in ROLES:
                _, made[role] = await auth.create_key(session, name=f"{role} tester", role=role)
    finally:
        await engine.dispose()
    return made


async def _migrated(cluster: Cluster) -> str:
    admin = await asyncpg.connect(_dsn(cluster.url()))
    await admin.execute("CREATE DATABASE erp")
    await admin.close()
    await asyncio.to_thread(upgrade, cluster.url("erp"))
    return cluster.url("erp")


@pytest.fixture(scope="module")
def replicated() -> Iterator[tuple[Cluster, Cluster]]:
    primary = Cluster.primary()
    standby = None
    try:
        asyncio.run(_migrated(primary))
        standby = primary.standby(recovery_min_apply_delay=APPLY_DELAY)
        yield primary, standby
    finally:
        for cluster in (standby, primary):
            if cluster:
                cluster.remove()


@pytest.fixture(scope="module")
def replicated_keys(replicated: tuple[Cluster, Cluster]) -> dict[str, str]:
    return asyncio.run(_keys(replicated[0].url("erp")))


def _serve(primary_url: str, standby_url: str | None, **env: str) -> tuple[Any, str]:
    return start_service({"ERP_DATABASE_URL": primary_url, "ERP_READ_DATABASE_URL": standby_url,
                          "ERP_READ_MAX_LAG_SECONDS": "5", **env})


@pytest.fixture(scope="module")
def two_services(replicated: tuple[Cluster, Cluster]) -> Iterator[tuple[str, str]]:
    """Two `erp serve` processes on the primary, reading from the standby."""
    primary, standby = replicated
    started = [_serve(primary.url("erp"), standby.url("erp")) for _ in range(2)]
    yield started[0][1] + "/api/v1", started[1][1] + "/api/v1"
    for process, _ in started:
        stop_service(process)


@pytest.fixture
async def clients(two_services: tuple[str, str], replicated_keys: dict[str, str]) -> AsyncIterator[tuple[Api, Api]]:
    limits = httpx.Limits(max_connections=100, keepalive_expiry=2)
    async with (httpx.AsyncClient(base_url=two_services[0], limits=limits, timeout=60) as first,
                httpx.AsyncClient(base_url=two_services[1], limits=limits, timeout=60) as second):
        yield Api(first, replicated_keys), Api(second, replicated_keys)


async def _until(condition: Any, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not await condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


async def _standby_has_replayed(standby: Cluster, sku: str) -> bool:
    connection = await asyncpg.connect(_dsn(standby.url("erp")))
    try:
        return bool(await connection.fetchval("SELECT count(*) FROM product WHERE sku = $1", sku))
    finally:
        await connection.close()


def _served(log: str, sku: str) -> bool:
    """Whether the service's read engine (application `erp-read`) asked the server for `sku`: the statement or its
    parameters' line (`'PROOF-1'`, or `'{PROOF-1}'` for a read shared by several requests)."""
    return any(" erp-read " in line and sku in line for line in log.splitlines())


async def test_reads_are_served_by_the_standby_and_writes_by_the_primary(replicated, clients):
    primary, standby = replicated
    writer, reader = clients
    await given_warehouse(writer, "SB-1", bins=("A-01",))
    await given_product(writer, "PROOF-1")
    await given_stock(writer, "PROOF-1", "SB-1/A-01", 7)
    await _until(lambda: _standby_has_replayed(standby, "PROOF-1"))
    await asyncio.sleep(1)  # the watch has seen the standby catch up

    read = await reader.as_("purchasing").ok("get", "/stock?sku=PROOF-1")
    assert [(i["warehouse"], i["on_hand"]) for i in read["items"]] == [("SB-1", 7)]
    standby_log, primary_log = standby.log.read_text(), primary.log.read_text()
    assert _served(standby_log, "PROOF-1")  # the stock query, by the read engine
    assert " erp-read " not in primary_log
    assert "write_position" in primary_log  # written after each write, looked up before each read


async def test_a_client_reads_its_own_writes_at_once_from_any_process_while_others_may_see_the_standby_lag(
        replicated, clients):
    """Writes through one process, reads at once through the other: the writer always finds what it just
    placed, though the standby applies commits late; a key that wrote nothing reads the standby and may not
    (that it sometimes does not shows the reads really went to a lagging standby)."""
    writer, reader = clients
    await given_warehouse(writer, "RYW-1", bins=("A-01",))
    await given_product(writer, "RYW-1")
    await given_stock(writer, "RYW-1", "RYW-1/A-01", 1000)

    async def write_then_read(role: str) -> tuple[int, int]:
        seen_by_others = 0
        for _ in range(5):
            placed = await writer.as_(role).ok("post", "/orders", order_body(("RYW-1", 1)))
            mine, others = await asyncio.gather(reader.as_(role).get(f"/orders/{placed['number']}"),
                                                reader.as_("warehouse").get(f"/orders/{placed['number']}"))
            assert mine.status_code == 200, mine.text
            assert (mine.json()["number"], mine.json()["status"]) == (placed["number"], "confirmed")
            seen_by_others += others.status_code == 200
        return seen_by_others

    seen = await asyncio.gather(*(write_then_read(role) for role in ("service", "integration", "admin") * 8))
    assert sum(seen) < 5 * 24, "every order was on the standby at once: the standby was not lagging"


async def test_a_stopped_standby_is_skipped_and_used_again_once_back(replicated, clients):
    primary, standby = replicated
    writer, reader = clients
    await given_warehouse(writer, "DOWN-1", bins=("A-01",))
    await given_product(writer, "DOWN-1")
    standby.stop("immediate")
    try:
        started = time.monotonic()
        answers = [await reader.as_("purchasing").get("/stock?sku=DOWN-1") for _ in range(30)]
        assert [a.status_code for a in answers] == [200] * 30, [a.text for a in answers if a.status_code != 200]
        assert time.monotonic() - started < 15, "reads waited for the stopped standby"
    finally:
        standby.start()
    await _until(lambda: _standby_has_replayed(standby, "DOWN-1"))
    logged = len(standby.log.read_text())

    async def standby_serves() -> bool:
        await reader.as_("purchasing").ok("get", "/stock?sku=DOWN-1")
        return _served(standby.log.read_text()[logged:], "DOWN-1")

    await _until(standby_serves)


async def test_after_the_primary_stops_the_promoted_standby_serves_with_every_acknowledged_order():
    primary = Cluster.primary()
    standby = None
    try:
        await _migrated(primary)
        standby = primary.standby()
        keys = await _keys(primary.url("erp"))
        # Both servers, in libpq's multi-host form: connections go to whichever of them is the primary now.
        both = f"postgresql://postgres@/erp?host=127.0.0.1:{primary.port}&host=127.0.0.1:{standby.port}"
        process, base = _serve(both + "&target_session_attrs=primary", standby.url("erp"))
        try:
            async with httpx.AsyncClient(base_url=base + "/api/v1", timeout=30) as client:
                api = Api(client, keys)
                await given_warehouse(api, "FO-1", bins=("A-01",))
                await given_product(api, "FO-1")
                await given_stock(api, "FO-1", "FO-1/A-01", 100_000)
                acknowledged: list[str] = []
                failed_over = asyncio.Event()

                async def place_until_failed_over() -> None:
                    placed_after = 0
                    while placed_after < 5:
                        response = await api.as_("service").post("/orders", order_body(("FO-1", 1)))
                        if response.status_code == 201:
                            acknowledged.append(response.json()["number"])
                            placed_after += failed_over.is_set()
                        else:
                            assert response.status_code == 503, response.text
                            await asyncio.sleep(0.1)

                placing = [asyncio.create_task(place_until_failed_over()) for _ in range(8)]
                await asyncio.sleep(1)
                await asyncio.to_thread(primary.stop, "fast")
                await asyncio.to_thread(standby.promote)
                failed_over.set()
                await asyncio.wait_for(asyncio.gather(*placing), 90)
                assert len(acknowledged) > 40
                listed: set[str] = set()  # every page: more than a page's worth may have been placed
                page = await api.as_("service").ok("get", "/orders?limit=500")
                while True:
                    listed |= {o["number"] for o in page["items"]}
                    if page["next_cursor"] is None:
                        break
                    page = await api.as_("service").ok("get", f"/orders?limit=500&cursor={page['next_cursor']}")
        finally:
            stop_service(process)
        connection = await asyncpg.connect(_dsn(standby.url("erp")))
        try:
            stored = {r["number"] for r in await connection.fetch("SELECT number FROM sales_order")}
        finally:
            await connection.close()
        assert set(acknowledged) <= stored
        assert set(acknowledged) <= listed
    finally:
        for cluster in (standby, primary):
            if cluster:
                cluster.remove()


# --- through pgbouncer in transaction mode -----------------------------------------------------------------

def _pooled(**overrides: Any) -> Settings:
    return conftest.test_settings(database_pooler="transaction", **overrides)


async def test_without_the_pooler_setting_pgbouncer_refuses_the_service_as_the_issue_reported(database_url):
    with pgbouncer(database_url) as url:
        engine = create_engine(url, conftest.test_settings())
        try:
            with pytest.raises(Exception, match="unsupported startup parameter"):
                async with engine.connect():
                    pass
        finally:
            await engine.dispose()


async def test_through_pgbouncer_the_timeouts_hold_in_every_transaction_and_leave_no_session_state(database_url):
    direct = await asyncpg.connect(_dsn(database_url))
    await direct.execute("CREATE TABLE locked (id int PRIMARY KEY); INSERT INTO locked VALUES (1)")
    with pgbouncer(database_url, pool_size=1) as url:
        engine = create_engine(url, _pooled(lock_timeout_ms=300, statement_timeout_ms=2000))
        try:
            async with direct.transaction():
                await direct.execute("SELECT * FROM locked FOR UPDATE")
                started = time.monotonic()
                with pytest.raises(Exception, match="lock timeout"):
                    async with engine.begin() as connection:
                        await connection.execute(text("UPDATE locked SET id = 2"))
                assert time.monotonic() - started < 1.5
            async with engine.begin() as connection:
                with pytest.raises(Exception, match="statement timeout"):
                    await connection.execute(text("SELECT pg_sleep(5)"))
            # The one server connection behind pgbouncer kept nothing of those transactions' settings.
            plain = await asyncpg.connect(_dsn(url), statement_cache_size=0)
            try:
                assert (await plain.fetchval("SHOW lock_timeout"), await plain.fetchval("SHOW statement_timeout")) \
                    == ("0", "0")
            finally:
                await plain.close()
        finally:
            await engine.dispose()
            await direct.close()


async def test_several_processes_through_pgbouncer_share_the_last_units_and_a_revoked_key_stops_in_a_second(
        database_url, keys):
    with pgbouncer(database_url) as url:
        env = {"ERP_DATABASE_POOLER": "transaction", "ERP_DIRECT_DATABASE_URL": database_url,
               "ERP_AUTH_CACHE_SECONDS": "1"}
        started = [start_service({"ERP_DATABASE_URL": url, **env}) for _ in range(2)]
        first, second = (Api(httpx.AsyncClient(base_url=base + "/api/v1", timeout=60), keys) for _, base in started)
        try:
            await given_warehouse(first, "PB-1", bins=("A-01",))
            await given_product(first, "PB-1")
            await given_stock(first, "PB-1", "PB-1/A-01", 50)
            body = order_body(("PB-1", 1), allow_backorder=False)
            placed = await asyncio.gather(*(api.as_("integration").post("/orders", body) for api in (first, second) * 60))
            assert sorted(r.status_code for r in placed) == [201] * 50 + [409] * 70

            temporary = await first.ok("post", "/api-keys", {"name": "temp", "role": "service"})
            caller = second.as_("service")
            caller.keys = {**keys, "service": temporary["key"]}
            assert (await caller.get("/orders")).status_code == 200  # now cached by the second process
            await first.ok("delete", f"/api-keys/{temporary['id']}")
            revoked_at = time.monotonic()
            await asyncio.sleep(max(0.0, revoked_at + 1.0 - time.monotonic()))
            assert (await caller.get("/orders")).status_code == 401
        finally:
            for api in (first, second):
                await api.client.aclose()
            for process, _ in started:
                stop_service(process)
