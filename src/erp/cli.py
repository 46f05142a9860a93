"""`erp`: serve the API, migrate the database, manage keys, load the demo, check the invariants."""

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from contextlib import nullcontext, suppress
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from erp import logging as erp_logging
from erp.config import get_settings
from erp.db import create_engine, resolve_database_url, sessionmaker
from erp.errors import AlreadyExists
from erp.people import service as people
from erp.people.schemas import PersonCreate
from erp.reactions import build_bus

app = typer.Typer(help="Order-fulfilment and inventory backend.", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
people_app = typer.Typer(help="People: staff accounts who sign in to the pages.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(people_app, name="people")

T = TypeVar("T")


def _database_url() -> str:
    """The configured server, or the embedded one (started now, stopped when this process exits)."""
    settings = get_settings()
    url = resolve_database_url(settings)
    os.environ["ERP_DATABASE_URL"] = url  # so uvicorn workers and Alembic use the same server
    return url


def _upgrade(url: str) -> None:
    """Migrate on a connection straight to the primary: a pooler in transaction mode cannot keep the
    session that a migration's settings and prepared statements live in."""
    from erp.migrations import upgrade
    from erp.startup import StartupFailure

    settings = get_settings()
    if settings.database_pooler == "transaction" and not settings.direct_database_url:
        raise StartupFailure("ERP_DATABASE_POOLER=transaction needs ERP_DIRECT_DATABASE_URL, a URL straight to the"
                             " primary (not through the pooler) for migrations")
    upgrade(settings.direct_database_url or url)


def _in_session(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    url = _database_url()

    async def run() -> T:
        engine = create_engine(url, get_settings())
        try:
            async with sessionmaker(engine, build_bus())() as session, session.begin():
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _in_connection(work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    url = _database_url()

    async def run() -> T:
        engine = create_engine(url, get_settings())
        try:
            async with engine.connect() as connection:
                return await work(connection)
        finally:
            await engine.dispose()

    return asyncio.run(run())


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations (the only way the schema is created)."""
    _upgrade(_database_url())
    typer.echo("database is at the newest schema")


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="admin, service, warehouse, purchasing or integration")],
    name: Annotated[str, typer.Option(help="Who or what uses the key")],
) -> None:
    """Create an API key and print it once; only its hash is stored."""
    from erp import auth

    _upgrade(_database_url())

    async def create(session: AsyncSession) -> str:
        _, key = await auth.create_key(session, name=name, role=role)
        return key

    try:
        key = _in_session(create)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    typer.echo(key)


@people_app.command("create")
def people_create(
    name: Annotated[str, typer.Option(help="The name they sign in with")],
    role: Annotated[str, typer.Option(help="admin, service, warehouse, purchasing or integration")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin")] = False,
) -> None:
    """Create a person; print their generated password once (or take one from stdin). Only its hash is stored."""
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    try:
        data = PersonCreate.model_validate({"name": name, "role": role, "password": password})
    except ValidationError as exc:
        raise typer.BadParameter("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from None
    _upgrade(_database_url())
    try:
        person, generated = _in_session(lambda session: people.create_person(session, data))
    except AlreadyExists as exc:
        raise typer.BadParameter(exc.detail) from None
    typer.echo(f"person {person.id} {person.name} ({person.role})")
    if generated:
        typer.echo(f"password (shown once): {generated}")


@app.command()
def demo() -> None:
    """Load the demo data set (once) and print a fresh admin key."""
    _upgrade(_database_url())
    _load_demo()


def _load_demo() -> None:
    from erp import auth
    from erp import demo as demo_data

    async def load(session: AsyncSession) -> tuple[dict[str, int] | None, str, list[tuple[str, str, str]]]:
        loaded = None if await demo_data.is_loaded(session) else await demo_data.load(session)
        _, key = await auth.create_key(session, name="demo admin", role="admin")
        return loaded, key, await demo_data.load_people(session)

    loaded, key, demo_people = _in_session(load)
    if loaded:
        typer.echo(f"demo data: {json.dumps(loaded)}")
    else:
        # Keys are stored hashed, so an earlier one cannot be shown again: say plainly that this is another.
        typer.echo("demo data: already loaded; created another admin key (earlier admin keys still work;"
                   " revoke the ones you no longer use: DELETE /api/v1/api-keys/{id})")
    typer.echo(f"admin API key (shown once): {key}")
    typer.echo("demo people, to sign in to the pages at / (name / password, unless changed since):")
    for name, role, password in demo_people:
        typer.echo(f"  {name} / {password}  ({role})")


@app.command()
def check() -> None:
    """Verify the ledger invariants; exit 1 with a readable report when one fails."""
    from erp.invariants import CHECKS, find_violations

    violations = _in_connection(find_violations)
    for violation in violations:
        typer.echo(f"FAIL  {violation.rule}")
        for row in violation.rows:
            typer.echo(f"      {json.dumps(row, default=str)}")
    passed = len(CHECKS) - len(violations)
    typer.echo(f"{passed} of {len(CHECKS)} invariants hold")
    if violations:
        raise typer.Exit(1)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
    with_demo: Annotated[bool, typer.Option("--demo", help="Load demo data if empty and print an admin key")] = False,
) -> None:
    """Migrate the database, then serve the API with uvicorn (its limits: README, "Limits")."""
    from erp import embedded, server

    settings = get_settings()
    erp_logging.configure(settings.log_level)
    sock = server.bind(host, port)  # a port already taken is reported before migrations run
    _upgrade(_database_url())
    if with_demo:
        _load_demo()
    typer.echo(f"serving on http://{host}:{port}  (docs: http://{host}:{port}/docs)", err=True)
    database = embedded.server_for(settings.data_dir) if settings.database_url is None else None
    try:
        with embedded.Watchdog(database, give_up_after_seconds=settings.embedded_restart_seconds) if database else nullcontext():
            server.run(server.uvicorn_config(settings, host, port, workers), sock)
    except KeyboardInterrupt:
        pass
    if embedded.Watchdog.exit_status:
        raise typer.Exit(embedded.Watchdog.exit_status)


@app.command()
def worker() -> None:
    """Deliver webhooks and release expired holds, alone (for deployments with many API processes; set
    ERP_WORKER_IN_SERVE=false for those). Any number of workers may run at once."""
    from erp.integration.dispatcher import Worker

    settings = get_settings()
    erp_logging.configure(settings.log_level)
    url = _database_url()
    _upgrade(url)

    async def run() -> None:
        engine = create_engine(url, settings)
        try:
            await Worker(engine, settings, sessionmaker(engine, build_bus())).run()
        finally:
            await engine.dispose()

    typer.echo("worker running: webhook deliveries and hold expiry (Ctrl-C stops it)", err=True)
    with suppress(KeyboardInterrupt):
        asyncio.run(run())


def main() -> Any:
    """The `erp` command: start-up failures (database, port) are one line on stderr and exit status 1."""
    from erp.embedded import exit_on_sigterm
    from erp.startup import reported_failures

    exit_on_sigterm()  # SIGTERM exits through atexit, which stops an embedded PostgreSQL
    with reported_failures():
        return app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
