"""Engine, sessions, the embedded PostgreSQL, and the per-request transaction.

Sessions are SQLAlchemy's own AsyncSession: the services speak SQL (`execute`), and SQLModel's subclass
warns on every `execute` call, a measurable cost on the hot path.
"""

import asyncio
import logging
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Request
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.engine import Row, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.util import greenlet_spawn

from erp.bus import Bus
from erp.config import Settings
from erp.errors import AlreadyExists, NotFound
from erp.metrics import GROUPED

log = logging.getLogger("erp.db")


def async_url(url: str) -> str:
    """Accept any PostgreSQL URL spelling and return the asyncpg one SQLAlchemy wants."""
    parsed = make_url(url)
    if parsed.get_backend_name() not in ("postgresql", "postgres"):
        raise ValueError(f"only PostgreSQL is supported, not {parsed.get_backend_name()!r}")
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def start_embedded(data_dir: Path) -> str:
    """Start (or join) the embedded PostgreSQL in `data_dir`; it stops when the last process using it exits."""
    from erp import embedded

    server = embedded.start(data_dir)
    log.info("embedded PostgreSQL running in %s", data_dir / "pgdata")
    return server.get_uri()


def resolve_database_url(settings: Settings) -> str:
    return async_url(settings.database_url or start_embedded(settings.data_dir))


def create_engine(url: str, settings: Settings, *, pooled: bool | None = None,
                  application_name: str = "erp") -> AsyncEngine:
    """An engine on `url`; `pooled` (default: `ERP_DATABASE_POOLER=transaction`) when `url` leads to a pooler
    in transaction mode, where consecutive transactions of one connection may run on different server
    sessions: nothing is then left on a session. Statements are unnamed and never cached (a named one would
    be missing or taken on the next server), the timeouts are set in each transaction (startup parameters
    other than these few are refused by pgbouncer, and a session's SET would leak to other clients), and
    every statement runs inside BEGIN/COMMIT (outside one, a statement's parse and execution may land on
    two servers)."""
    pooled = settings.database_pooler == "transaction" if pooled is None else pooled
    timeouts = {
        "statement_timeout": str(settings.statement_timeout_ms),
        "lock_timeout": str(settings.lock_timeout_ms),
        "idle_in_transaction_session_timeout": "60000",
    }
    connect_args: dict[str, Any] = {
        "timeout": 5,
        "command_timeout": settings.statement_timeout_ms / 1000 + 5,
        "server_settings": {"application_name": application_name, "timezone": "UTC", **({} if pooled else timeouts)},
    }
    if pooled:
        connect_args |= {"statement_cache_size": 0, "prepared_statement_cache_size": 0,
                         "connection_class": _setting_in_each_transaction(timeouts)}
    return create_async_engine(
        async_url(url),
        pool_size=settings.pool_size,
        max_overflow=settings.pool_max_overflow,
        pool_timeout=settings.pool_timeout_seconds,
        pool_recycle=1800,
        connect_args=connect_args,
    )


def _setting_in_each_transaction(settings: dict[str, str]) -> type[asyncpg.Connection]:
    """asyncpg connections whose BEGIN also sets `settings` for that transaction, in the same round trip."""
    set_local = "".join(f" SET LOCAL {name} = {int(value)};" for name, value in settings.items())

    class SettingInEachTransaction(asyncpg.Connection):  # type: ignore[misc]
        async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str:
            # asyncpg's Transaction.start() sends "BEGIN ...;" through here, as a simple query.
            if not args and query.startswith("BEGIN"):
                query += set_local
            return await super().execute(query, *args, timeout=timeout)

    return SettingInEachTransaction


def sessionmaker(engine: AsyncEngine, bus: Bus | None = None) -> async_sessionmaker[AsyncSession]:
    """Sessions on `engine`; those that run domain services carry the `bus` their reactions go through."""
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False, autoflush=False,
                              info={"bus": bus} if bus else None)


class UnitOfWork:
    """One request's transaction: begun on first use, committed once by the route, else rolled back.

    `autocommit`, when given, is where the route's own work may send statements that commit on their own
    (for work that is one atomic statement: no BEGIN/COMMIT round trips). The route gives it only when
    nothing else must share the request's transaction (no Idempotency-Key claimed in it)."""

    def __init__(self, make_session: async_sessionmaker[AsyncSession],
                 autocommit: async_sessionmaker[AsyncSession] | None = None) -> None:
        self._make_session = make_session
        self.autocommit = autocommit
        self.session: AsyncSession | None = None

    async def begin(self) -> AsyncSession:
        """The request's session. Its transaction (and its connection) begins with its first statement: a
        read whose statements are all `HotStatement`s in autocommit never begins one (see `HotStatement`)."""
        if self.session is None:
            self.session = self._make_session()
        return self.session

    async def commit(self) -> None:
        if self.session is not None and self.session.in_transaction():
            await self.session.commit()

    async def close(self) -> None:
        if self.session is not None:
            if self.session.in_transaction():
                await self.session.close()
            self.session = None


async def get_session(request: Request) -> AsyncSession:
    return await request.state.uow.begin()


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def get_autocommit(request: Request) -> async_sessionmaker[AsyncSession] | None:
    return request.state.uow.autocommit


# Sessions whose statements commit on their own, when the route may use them (else None).
AutocommitDep = Annotated[async_sessionmaker[AsyncSession] | None, Depends(get_autocommit)]


async def add_unique(session: AsyncSession, row: Any, conflict: str) -> Any:
    """Insert an ORM row; a unique-key clash becomes 409 `already_exists` with `conflict` as detail."""
    session.add(row)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise AlreadyExists(conflict) from None
    await session.refresh(row)
    return row


async def first_or_404(session: AsyncSession, statement: Any, params: dict[str, Any] | None = None, *,
                       missing: str) -> Row[Any]:
    """The first row `statement` finds, or 404 `not_found` saying `missing`."""
    row = (await session.execute(statement, params)).first()
    if row is None:
        raise NotFound(missing)
    return row


class HotStatement:
    """A statement of a hot path, compiled once to the text and `$n` parameters asyncpg is sent.

    In an autocommit session it runs straight on an asyncpg connection: none of SQLAlchemy's per-execute
    work (execution context, cursor adaptation, result rows), about a fifth of the client CPU per statement
    (measured: 57 us against 360 us through a session). While such a session has no connection of its own
    (its statements so far were all hot), the connection is taken from the engine's pool for this statement
    alone and given back at once: no session transaction to begin, commit and close (measured: 0.29 ms
    of app CPU per request for the statement against 0.79 ms with the session's). In a transaction it runs
    through the session, which begins the transaction on its first statement. Either way the rows are
    mappings (`row["sku"]`), and a database error is the same `DBAPIError` SQLAlchemy raises (a lost
    connection is invalidated, never handed out again)."""

    def __init__(self, clause: ClauseElement) -> None:
        compiled = clause.compile(dialect=asyncpg_dialect())
        self.clause = clause
        self.sql = compiled.string
        self.names = tuple(compiled.positiontup or ())
        self.bound = dict(compiled.params)

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        return [params[name] if name in params else self.bound[name] for name in self.names]

    async def fetch(self, session: AsyncSession, params: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
        if not session.in_transaction() and _autocommits(session.bind):
            return await self._fetch_alone(session.bind, params)
        connection = await session.connection()
        pooled = await connection.get_raw_connection()
        if not getattr(pooled.dbapi_connection, "autocommit", False):
            return (await session.execute(self.clause, dict(params))).mappings().all()
        arguments = self.arguments(params)
        try:
            return await pooled.driver_connection.fetch(self.sql, *arguments)  # type: ignore[union-attr]
        except Exception as exc:
            error, lost = _as_sqlalchemy_error(connection.dialect, pooled, exc, self.sql, arguments)
            if lost:
                await connection.invalidate(exc)
            raise error from exc

    async def _fetch_alone(self, engine: AsyncEngine, params: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
        return await _on_own_connection(engine, self.sql, [self.arguments(params)], many=False)

    async def first_or_404(self, session: AsyncSession, params: Mapping[str, Any], *,
                           missing: str) -> Mapping[str, Any]:
        rows = await self.fetch(session, params)
        if not rows:
            raise NotFound(missing)
        return rows[0]


class _Shared:
    """What `GroupCommit` and `Coalesced` share: per engine (and event loop), the callers waiting, and one
    sender that takes all of them whenever the previous batches are answered and sends them in batches
    (`_batches`, each sent by `_send_batch`, which answers its callers through their `answer` futures)."""

    def __init__(self) -> None:
        self._queues: weakref.WeakKeyDictionary[Any, _Queue] = weakref.WeakKeyDictionary()

    def _batches(self, waiting: list[Any]) -> list[list[Any]]:
        raise NotImplementedError

    async def _send_batch(self, engine: AsyncEngine, batch: list[Any]) -> None:
        raise NotImplementedError

    async def _wait(self, engine: AsyncEngine, make: Callable[["asyncio.Future[Any]"], Any]) -> Any:
        """Queue the caller `make` builds around its answer, start the sender if none runs, and wait."""
        loop = asyncio.get_running_loop()
        queue = self._queues.get(engine.sync_engine)
        if queue is None or queue.loop is not loop:
            queue = self._queues[engine.sync_engine] = _Queue(loop)
        caller = make(loop.create_future())
        queue.waiting.append(caller)
        if queue.sender is None or queue.sender.done():
            queue.sender = loop.create_task(self._send(engine, queue))
        return await caller.answer

    async def _send(self, engine: AsyncEngine, queue: "_Queue") -> None:
        taken: list[Any] = []
        try:
            while queue.waiting:
                taken, queue.waiting = queue.waiting, []
                await asyncio.gather(*(self._send_batch(engine, batch) for batch in self._batches(taken)))
        finally:
            for caller in taken + queue.waiting:  # answered, unless this ended early (cancelled: shutting down)
                if not caller.answer.done():
                    caller.answer.cancel()


class GroupCommit(_Shared):
    """One hot statement that commits on its own, sent for concurrent callers together: one round trip, one
    transaction and one commit for a group, so a hot row's lock is taken and given back once per group,
    not once per caller. (PostgreSQL's own group commit shares a WAL flush but cannot share a row lock: each
    caller's statement waits for the one before it to commit. Here they commit together.)

    A caller that finds no group in flight goes at once, alone (as `HotStatement.fetch` in autocommit);
    callers that come while a group is in flight wait for it and go together in the next (at most `limit`
    in one). Each caller names the rows its statement locks, in the global lock order: a group takes a
    caller only if every row it locks that the group has not locked yet comes after every row the group
    has, so a group, like one statement, takes its locks in that order and cannot deadlock with another
    group or statement; a caller that does not fit goes in another group, sent beside it. A group is
    atomic (asyncpg's `fetchmany`: one implicit transaction). When PostgreSQL refuses it (a shortfall, a
    duplicate, a deadlock), nothing of it was committed and each caller runs again alone, to get its own
    answer. When the connection is lost, every caller gets that error, as a caller alone would: whether
    the group committed is then unknown to all of them."""

    def __init__(self, statement: HotStatement, limit: int = 100) -> None:
        super().__init__()
        self.statement = statement  # answering exactly one row each time
        self.limit = limit

    async def fetch(self, session: AsyncSession, params: Mapping[str, Any],
                    locks: Sequence[tuple[int, ...]]) -> Mapping[str, Any]:
        """The statement's one row for `params` (locking `locks`). In a session with a transaction or
        without autocommit, the statement runs there, alone."""
        engine = session.bind
        if session.in_transaction() or not _autocommits(engine):
            return (await self.statement.fetch(session, params))[0]
        return await self.send(engine, params, locks)

    async def send(self, engine: AsyncEngine, params: Mapping[str, Any],
                   locks: Sequence[tuple[int, ...]]) -> Mapping[str, Any]:
        """The statement's one row for `params`, in a group on connections of `engine` (in autocommit)."""
        arguments, held = self.statement.arguments(params), tuple(sorted(set(locks)))
        row = await self._wait(engine, lambda answer: _Caller(arguments, held, answer))
        if row is _AGAIN:
            return (await self.statement._fetch_alone(engine, params))[0]
        return row

    def _batches(self, waiting: list[Any]) -> list[list[Any]]:
        return groups(waiting, self.limit)

    async def _send_batch(self, engine: AsyncEngine, group: list["_Caller"]) -> None:
        GROUPED.observe(len(group))
        try:
            rows = await _on_own_connection(engine, self.statement.sql, [c.arguments for c in group],
                                            many=len(group) > 1)
        except DBAPIError as error:
            # PostgreSQL refused the group (its error, the connection fine): none of it was committed.
            refused = (len(group) > 1 and isinstance(error.__cause__, asyncpg.PostgresError)
                       and not error.connection_invalidated)
            for caller in group:
                if not caller.answer.done():
                    if refused:
                        caller.answer.set_result(_AGAIN)
                    else:
                        caller.answer.set_exception(error)
            return
        except Exception as error:
            for caller in group:
                if not caller.answer.done():
                    caller.answer.set_exception(error)
            return
        except BaseException:
            for caller in group:
                caller.answer.cancel()
            raise
        if len(rows) != len(group):
            error = RuntimeError(f"{len(rows)} rows for {len(group)} callers: a grouped statement answers one row each")
            for caller in group:
                if not caller.answer.done():
                    caller.answer.set_exception(error)
            return
        for caller, row in zip(group, rows, strict=True):
            if not caller.answer.done():
                caller.answer.set_result(row)


class Coalesced(_Shared):
    """A hot read by keys for concurrent callers at once (the DataLoader pattern): the keys asked for while a
    read is in flight are read together in the next, one statement over all of them (at most `limit` keys),
    and each caller gets the rows of its own keys (`column` holds a row's key). Sending a statement costs the
    app more than the read itself (the socket write that wakes the server: a third of an order's app CPU
    under py-spy), so callers that come together share one. Each read starts after its callers asked, so
    it sees every commit that came before. In a transaction the statement runs there, for its caller alone.
    An error fails the callers of that read, as each would have failed alone."""

    def __init__(self, statement: HotStatement, keys: str, column: str, limit: int = 1000,
                 params: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.statement = statement
        self.keys = keys  # the parameter that takes the keys (an array)
        self.column = column
        self.limit = limit
        self.params = dict(params or {})  # the statement's other parameters, the same for every caller

    async def fetch(self, session: AsyncSession, keys: Sequence[Any]) -> list[Mapping[str, Any]]:
        engine = session.bind
        if session.in_transaction() or not _autocommits(engine):
            return list(await self.statement.fetch(session, {**self.params, self.keys: list(keys)}))
        return await self.read(engine, keys)

    async def read(self, engine: AsyncEngine, keys: Sequence[Any]) -> list[Mapping[str, Any]]:
        """The rows of `keys`, read with other callers' on connections of `engine` (in autocommit)."""
        wanted = frozenset(keys)
        return await self._wait(engine, lambda answer: _Reader(wanted, answer))

    def _batches(self, waiting: list[Any]) -> list[list[Any]]:
        return _chunks(waiting, self.limit)

    async def _send_batch(self, engine: AsyncEngine, readers: list["_Reader"]) -> None:
        keys = list(frozenset().union(*(reader.keys for reader in readers)))
        try:
            rows = await _on_own_connection(engine, self.statement.sql,
                                            [self.statement.arguments({**self.params, self.keys: keys})], many=False)
        except Exception as error:
            for reader in readers:
                if not reader.answer.done():
                    reader.answer.set_exception(error)
            return
        except BaseException:
            for reader in readers:
                reader.answer.cancel()
            raise
        by_key: dict[Any, list[Mapping[str, Any]]] = {}
        for row in rows:
            by_key.setdefault(row[self.column], []).append(row)
        for reader in readers:
            if not reader.answer.done():
                reader.answer.set_result([row for key in reader.keys for row in by_key.get(key, ())])


@dataclass(slots=True)
class _Reader:
    keys: frozenset[Any]
    answer: "asyncio.Future[list[Mapping[str, Any]]]"


def _chunks(readers: list[_Reader], limit: int) -> list[list[_Reader]]:
    """The readers in reads of at most `limit` keys each (a reader with more keys reads alone)."""
    chunks: list[list[_Reader]] = []
    size = limit
    for reader in readers:
        if size + len(reader.keys) > limit:
            chunks.append([])
            size = 0
        chunks[-1].append(reader)
        size += len(reader.keys)
    return chunks


_AGAIN: Any = object()  # a group PostgreSQL refused: run again alone


@dataclass(slots=True)
class _Caller:
    arguments: list[Any]
    locks: tuple[tuple[int, ...], ...]
    answer: "asyncio.Future[Any]"


@dataclass(slots=True)
class _Queue:
    loop: asyncio.AbstractEventLoop
    waiting: list[Any] = field(default_factory=list)  # _Caller or _Reader
    sender: "asyncio.Task[None] | None" = None


def groups(callers: list[_Caller], limit: int) -> list[list[_Caller]]:
    """The callers in groups of at most `limit`, each taking its locks in the global order: a caller joins
    the first group where every lock it adds comes after the group's last; else it starts a group."""
    open_groups: list[tuple[list[_Caller], set[tuple[int, ...]], list[tuple[int, ...]]]] = []
    for caller in sorted(callers, key=lambda c: c.locks):
        for members, held, last in open_groups:
            if len(members) < limit and all(lock in held or lock > last[0] for lock in caller.locks):
                members.append(caller)
                held.update(caller.locks)
                last[0] = max(last[0], *caller.locks) if caller.locks else last[0]
                break
        else:
            open_groups.append(([caller], set(caller.locks), [max(caller.locks, default=())]))
    return [members for members, _, _ in open_groups]


async def _on_own_connection(engine: AsyncEngine, sql: str, arguments: list[list[Any]], *,
                             many: bool) -> Sequence[Mapping[str, Any]]:
    """`sql` on a connection of the engine's pool taken for it alone and given back at once: `fetch` with
    the one list of `arguments`, or with `many`, asyncpg's `fetchmany` with each (one round trip, one
    implicit transaction: all or nothing). Errors are SQLAlchemy's, a lost connection invalidated."""
    dialect = engine.dialect
    try:
        pooled = await engine.raw_connection()
    except dialect.loaded_dbapi.Error as error:
        # A connection that cannot be made fails as a session's would: SQLAlchemy's DBAPIError, so a server
        # shutting down or starting up is 503, never an unmapped driver error (a 500).
        raise DBAPIError.instance(None, None, error, dialect.loaded_dbapi.Error, dialect=dialect,
                                  connection_invalidated=dialect.is_disconnect(error, None, None)) from error
    driver = pooled.driver_connection
    try:
        if many:
            return await driver.fetchmany(sql, arguments)  # type: ignore[union-attr]
        return await driver.fetch(sql, *arguments[0])  # type: ignore[union-attr]
    except Exception as exc:
        error, lost = _as_sqlalchemy_error(dialect, pooled, exc, sql, arguments if many else arguments[0])
        if lost:
            await greenlet_spawn(pooled.invalidate, exc)
        raise error from exc
    finally:
        # Back to the pool, or closed when lost; in a greenlet, where the pool may close a connection.
        await greenlet_spawn(pooled.close)


def _autocommits(engine: AsyncEngine | None) -> bool:
    return engine is not None and engine.get_execution_options().get("isolation_level") == "AUTOCOMMIT"


def _as_sqlalchemy_error(dialect: Any, pooled: Any, error: Exception, sql: str,
                         arguments: list[Any]) -> tuple[Exception, bool]:
    """`error` from the driver as SQLAlchemy would have raised it, and whether the connection is lost (the
    caller invalidates it)."""
    try:
        pooled.dbapi_connection._handle_exception(error)  # the dialect's translation: raises the DBAPI error
    except Exception as translated:
        error = translated
    if not isinstance(error, dialect.loaded_dbapi.Error):
        return error, False
    lost = dialect.is_disconnect(error, pooled.dbapi_connection, None)
    return DBAPIError.instance(sql, arguments, error, dialect.loaded_dbapi.Error, connection_invalidated=lost,
                               dialect=dialect), lost
