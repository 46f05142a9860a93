import asyncio

from alembic import context
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from erp.db import async_url
from erp.tables import metadata

config = context.config


def run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        # Processes started together migrate one after the other: the later ones then find nothing to do.
        context.execute("SELECT pg_advisory_xact_lock(hashtext('erp.migrations'))")
        context.execute("SET lock_timeout = '10s'")
        context.run_migrations()


async def run_async() -> None:
    engine = create_async_engine(async_url(config.get_main_option("sqlalchemy.url")))
    async with engine.connect() as connection:
        await connection.run_sync(run_migrations)
    await engine.dispose()


connection = config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    asyncio.run(run_async())
