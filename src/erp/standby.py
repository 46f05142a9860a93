"""Reads from a streaming standby, never older than what the reader itself wrote.

GitLab's database load balancing, on PostgreSQL's own positions: after a write commits, the primary's WAL
insert position is recorded for the caller's API key (`write_position`, on the primary, so every process
sees it). A read goes to the standby only when the standby has replayed past the caller's latest recorded
write (`pg_last_wal_replay_lsn()`), else to the primary. A watch in each process samples the primary's
position and the standby's replay every `WATCH_SECONDS`: a standby that is down, promoted, or behind
the primary by more than `ERP_READ_MAX_LAG_SECONDS` is skipped until it catches up; nothing waits for it.

What a reader is shown may be older than what others wrote (up to the lag bound); never older than its
own writes. A read whose standby fails mid-way (down, or a query cancelled by a conflict with recovery)
runs again on the primary.
"""

import asyncio
import logging
import time
from collections import deque
from contextlib import AbstractAsyncContextManager, suppress

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from erp.background import in_background
from erp.errors import database_unreachable, sqlstate

log = logging.getLogger("erp.standby")

WATCH_SECONDS = 0.2
# An answer slower than this counts as down: a read is never held up waiting for the standby.
PROBE_TIMEOUT_SECONDS = 1.0
# Clocks of the processes and the primary may differ by this much.
CLOCK_MARGIN_SECONDS = 1.0

# The primary's WAL insert position, as a byte count: an upper bound of every commit acknowledged before.
PRIMARY_POSITION = text("SELECT (pg_current_wal_insert_lsn() - '0/0')::bigint")
STANDBY_POSITION = text("SELECT pg_is_in_recovery() AS standby, (pg_last_wal_replay_lsn() - '0/0')::bigint AS replayed")
# One row per key and primary backend, so concurrent writes of one key never wait on each other's row.
RECORD_WRITE = text(
    "INSERT INTO write_position AS w (key_id, backend, lsn, written_at)"
    " VALUES (:key_id, pg_backend_pid(), (pg_current_wal_insert_lsn() - '0/0')::bigint, now())"
    " ON CONFLICT (key_id, backend) DO UPDATE SET lsn = EXCLUDED.lsn, written_at = EXCLUDED.written_at"
)
# Writes older than the lag bound are on any standby that is not skipped.
LAST_WRITE = text(
    "SELECT max(lsn) FROM write_position WHERE key_id = :key_id AND written_at > now() - make_interval(secs => :window)"
)
FORGET_OLD_WRITES = text("DELETE FROM write_position WHERE written_at < now() - make_interval(secs => :window)")


def failed_on_standby(exc: BaseException) -> bool:
    """The standby could not answer (down, restarting, promoted away) or cancelled the read because replay
    needed what it was reading (40001, 'conflict with recovery'): the read may be run on the primary."""
    return database_unreachable(exc) or (isinstance(exc, DBAPIError) and sqlstate(exc) == "40001")


class Standby:
    """The standby of one process: its sessions, and whether and for whom it may answer now."""

    def __init__(self, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], primary: AsyncEngine,
                 max_lag_seconds: float) -> None:
        # `primary` commits each statement on its own where it can (no BEGIN/COMMIT round trips).
        self.engine, self.sessions, self.primary, self.max_lag = engine, sessions, primary, max_lag_seconds
        self.replayed = -1  # the standby's replay position at the last watch
        self.fresh_as_of = float("-inf")  # monotonic time before which every commit is on the standby

    def usable(self) -> bool:
        return time.monotonic() - self.fresh_as_of <= self.max_lag

    def mark_down(self) -> None:
        self.fresh_as_of = float("-inf")

    async def sessions_for(self, key_id: int | None) -> async_sessionmaker[AsyncSession] | None:
        """The standby's sessions if it may answer the caller with `key_id` now, else None (the primary)."""
        if not self.usable():
            return None
        if key_id is None:
            return self.sessions
        async with self.primary.begin() as connection:
            needed = (await connection.execute(LAST_WRITE, {"key_id": key_id, "window": self._window()})).scalar()
        if needed is None or needed <= self.replayed:
            return self.sessions
        try:  # the watch's figure is a moment old: ask the standby itself
            _, replayed = await self._standby_position()
        except Exception as exc:
            if not failed_on_standby(exc) and not isinstance(exc, TimeoutError):
                raise
            self.mark_down()
            return None
        return self.sessions if replayed is not None and replayed >= needed else None

    async def record_write(self, key_id: int) -> None:
        """Remember, for every process, where the primary stood after this caller's write committed."""
        async with self.primary.begin() as connection:
            await connection.execute(RECORD_WRITE, {"key_id": key_id})

    def _window(self) -> float:
        return self.max_lag + CLOCK_MARGIN_SECONDS

    async def _standby_position(self) -> tuple[bool, int | None]:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS), self.engine.begin() as connection:
            row = (await connection.execute(STANDBY_POSITION)).one()
        if row.replayed is not None:
            self.replayed = max(self.replayed, row.replayed)
        return row.standby, row.replayed

    async def watch_once(self, samples: deque[tuple[float, int]]) -> None:
        """Sample the primary, then the standby: the standby is fresh as of the newest primary sample it has
        replayed (every commit acknowledged before that sample was taken is on it)."""
        sampled_at = time.monotonic()
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS), self.primary.begin() as connection:
            samples.append((sampled_at, (await connection.execute(PRIMARY_POSITION)).scalar_one()))
        while samples and samples[0][0] < sampled_at - self.max_lag - WATCH_SECONDS:
            samples.popleft()
        standby, replayed = await self._standby_position()
        if not standby or replayed is None:  # promoted: it no longer follows the primary
            self.mark_down()
            return
        caught_up = [at for at, position in samples if position <= replayed]
        if caught_up:
            self.fresh_as_of = max(self.fresh_as_of, caught_up[-1])

    async def watch(self) -> None:
        samples: deque[tuple[float, int]] = deque()
        forgotten_at = time.monotonic()
        while True:
            try:
                await self.watch_once(samples)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.usable():
                    log.warning("standby skipped: %s", type(exc).__name__)
                self.mark_down()
            if time.monotonic() - forgotten_at > 300:
                forgotten_at = time.monotonic()
                with suppress(Exception):
                    async with self.primary.begin() as connection:
                        await connection.execute(FORGET_OLD_WRITES, {"window": 3600})
            await asyncio.sleep(WATCH_SECONDS)


def watching(standby: Standby) -> AbstractAsyncContextManager[None]:
    return in_background(standby.watch(), "erp-standby-watch")
