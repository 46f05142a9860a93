import asyncio

import asyncpg
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from erp.db import async_url
from erp.migrations import downgrade, upgrade
from erp.tables import metadata
from tests.conftest import _dsn, _with_database


async def _schema_diff(url):
    engine = create_async_engine(async_url(url))
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True}), metadata))
    finally:
        await engine.dispose()


async def _tables(url):
    engine = create_async_engine(async_url(url))
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
            return {r[0] for r in rows}
    finally:
        await engine.dispose()


async def test_migrations_build_exactly_the_models_schema_and_downgrade_cleanly(server_url):
    admin = await asyncpg.connect(_dsn(_with_database(server_url, "postgres")))
    name = "erp_migration_check"
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(server_url, name)
    try:
        await asyncio.to_thread(upgrade, url)
        assert await _schema_diff(url) == []
        await asyncio.to_thread(downgrade, url, "base")
        assert await _tables(url) == {"alembic_version"}
        await asyncio.to_thread(upgrade, url)
        assert await _schema_diff(url) == []
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_the_ledger_is_append_only(database_url):
    engine = create_async_engine(async_url(database_url))
    try:
        for statement in ("UPDATE stock_move SET quantity = 1", "DELETE FROM stock_move", "TRUNCATE stock_move",
                          "DELETE FROM event"):
            async with engine.connect() as connection:
                try:
                    await connection.execute(text(statement))
                except Exception as exc:  # noqa: BLE001 - any refusal will do; the message says which
                    assert "append-only" in str(exc)
                else:
                    raise AssertionError(f"{statement} was allowed")
    finally:
        await engine.dispose()


async def test_names_unique_whatever_their_case_are_refused_while_two_differ_only_in_case(server_url):
    admin = await asyncpg.connect(_dsn(_with_database(server_url, "postgres")))
    name = "erp_migration_names"
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(server_url, name)
    try:
        await asyncio.to_thread(upgrade, url, "0011")
        people = await asyncpg.connect(_dsn(url))
        try:
            await people.execute("INSERT INTO person (name, role, password_hash) VALUES"
                                 " ('Lucia', 'service', 'x'), ('lucia', 'admin', 'x')")
            try:
                await asyncio.to_thread(upgrade, url)
            except RuntimeError as refused:
                assert "differ only in case must be renamed first: Lucia, lucia" in str(refused)
            else:
                raise AssertionError("the migration ran with two people named Lucia and lucia")
            await people.execute("UPDATE person SET name = 'Lucia Admin' WHERE name = 'lucia'")
        finally:
            await people.close()
        await asyncio.to_thread(upgrade, url)
        assert await _schema_diff(url) == []
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
