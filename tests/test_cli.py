import asyncio
import os
import socket
import subprocess
import sys

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from erp.db import async_url
from tests.conftest import _dsn, _with_database


async def erp(database_url, *args):
    env = {**os.environ, "ERP_DATABASE_URL": database_url, "ERP_LOG_LEVEL": "WARNING"}
    process = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "erp.cli", *args], env=env, capture_output=True, text=True, timeout=120)
    return process


async def test_demo_loads_a_world_worth_exploring_and_check_passes(database_url):
    loaded = await erp(database_url, "demo")
    assert loaded.returncode == 0, loaded.stderr
    assert "admin API key (shown once): erp_" in loaded.stdout
    # One person per role to sign in to the pages with, a rep and a picker among them.
    assert "lucia / lucia-demo-pass  (service)" in loaded.stdout and "jon / jon-demo-pass  (warehouse)" in loaded.stdout
    checked = await erp(database_url, "check")
    assert checked.returncode == 0, checked.stdout
    assert "invariants hold" in checked.stdout
    again = await erp(database_url, "demo")
    assert "already loaded" in again.stdout
    # Keys are stored hashed: the first admin key cannot be shown again, so the second run says it made another.
    assert "created another admin key (earlier admin keys still work" in again.stdout
    assert "lucia / lucia-demo-pass  (service)" in again.stdout
    first_key = loaded.stdout.split("admin API key (shown once): ")[1].split()[0]
    second_key = again.stdout.split("admin API key (shown once): ")[1].split()[0]
    assert first_key != second_key


async def test_check_fails_with_a_readable_report_when_a_projection_drifts(database_url):
    assert (await erp(database_url, "demo")).returncode == 0
    engine = create_async_engine(async_url(database_url))
    async with engine.begin() as connection:
        await connection.execute(text(
            "UPDATE stock_level SET on_hand = on_hand + 1 WHERE (product_id, warehouse_id) = "
            "(SELECT product_id, warehouse_id FROM stock_level ORDER BY 1, 2 LIMIT 1)"))
    await engine.dispose()
    checked = await erp(database_url, "check")
    assert checked.returncode == 1
    assert "FAIL  2. on_hand and quarantined equal the stock in storage and quarantine locations" in checked.stdout


async def test_keys_create_prints_a_working_key_once(database_url):
    created = await erp(database_url, "keys", "create", "--role", "warehouse", "--name", "scanner 7")
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip().startswith("erp_")
    refused = await erp(database_url, "keys", "create", "--role", "root", "--name", "x")
    assert refused.returncode != 0


def _broken_urls(database_url):
    return {
        "unreachable": "postgresql://postgres@127.0.0.1:1/erp",
        "missing database": _with_database(database_url, "erp_no_such_database"),
        "wrong scheme": "mysql://root@127.0.0.1:3306/erp",
        "not a url": "not a url at all",
        "unknown host": "postgresql://postgres@no-such-host.invalid/erp",
    }


BROKEN = ["unreachable", "missing database", "wrong scheme", "not a url", "unknown host"]
COMMANDS = [("db", "upgrade"), ("serve", "--port", "0"), ("demo",), ("check",),
            ("keys", "create", "--role", "admin", "--name", "x")]


@pytest.mark.parametrize("broken", BROKEN)
async def test_a_database_that_cannot_be_used_is_one_clear_line_and_exit_status_1(database_url, broken):
    url = _broken_urls(database_url)[broken]
    for command in COMMANDS:
        result = await erp(url, *command)
        assert result.returncode == 1, (command, result.stderr[-2000:])
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, (command, result.stderr[-2000:])
        assert lines[0].startswith("erp: cannot start: "), lines
        assert "Traceback" not in result.stderr and "─" not in result.stderr


async def test_a_port_already_taken_is_reported_before_any_migration_runs(server_url):
    name = "erp_cli_port_check"
    admin = await asyncpg.connect(_dsn(_with_database(server_url, "postgres")))
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            result = await erp(_with_database(server_url, name), "serve", "--port", str(port))
        assert result.returncode == 1
        assert result.stderr.strip() == f"erp: cannot start: cannot listen on 127.0.0.1:{port}: Address already in use"
        empty = await asyncpg.connect(_dsn(_with_database(server_url, name)))
        try:
            tables = await empty.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        finally:
            await empty.close()
        assert tables == 0  # nothing was migrated
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_a_database_migrated_by_another_version_is_one_clear_line(database_url):
    engine = create_async_engine(async_url(database_url))
    async with engine.begin() as connection:
        await connection.execute(text("UPDATE alembic_version SET version_num = 'from_the_future'"))
    await engine.dispose()
    result = await erp(database_url, "db", "upgrade")
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("erp: cannot start: the database (") and "migrated by another version of erp" in line
