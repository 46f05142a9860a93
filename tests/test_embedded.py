"""The embedded PostgreSQL of `make run` (`erp serve` without ERP_DATABASE_URL): stopped on every exit,
never kept alive by the bookkeeping of a process that died, and brought back (or the service stops
loudly) when its postmaster is killed."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import start_service, stop_service

pytestmark = pytest.mark.slow

PATIENCE = 90.0  # how long a test waits for something to happen before it gives up (never an assertion)


def postgres_of(pgdata: Path) -> list[psutil.Process]:
    """The postmaster running on `pgdata` and all its children."""
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if process.info["name"] == "postgres" and str(pgdata) in cmdline:
            try:
                found += [process, *process.children(recursive=True)]
            except psutil.NoSuchProcess:
                pass
    return found


def postmaster_pid(pgdata: Path) -> int:
    return int((pgdata / "postmaster.pid").read_text().splitlines()[0])


def handles(pgdata: Path) -> list[int]:
    path = pgdata / ".handle_pids.json"
    return json.loads(path.read_text() or "[]") if path.exists() else []


def serve(data_dir: Path, **env: str) -> tuple[subprocess.Popen[bytes], str]:
    return start_service({"ERP_DATABASE_URL": None, "ERP_DATA_DIR": str(data_dir), **env}, timeout=PATIENCE,
                         stderr=subprocess.PIPE)


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        time.sleep(0.25)


@pytest.fixture
def data_dir(tmp_path: Path):
    data = tmp_path / "erp-data"
    yield data
    for process in postgres_of(data.resolve() / "pgdata"):  # whatever a failed test left behind
        process.kill()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_stopping_erp_serve_stops_its_embedded_postgresql(data_dir, stop):
    pgdata = data_dir.resolve() / "pgdata"
    process, base = serve(data_dir)
    assert postgres_of(pgdata)
    process.send_signal(stop)
    assert process.wait(PATIENCE) == 0
    assert postgres_of(pgdata) == []
    assert handles(pgdata) == []


def test_a_killed_erp_serve_does_not_keep_postgresql_running_after_the_next_run(data_dir):
    pgdata = data_dir.resolve() / "pgdata"
    killed, _ = serve(data_dir)
    killed.kill()  # no chance to clean up: its pid stays in pgserver's list of the server's users
    killed.wait(PATIENCE)
    assert postgres_of(pgdata) and killed.pid in handles(pgdata)
    process, base = serve(data_dir)
    assert httpx.get(f"{base}/readyz").status_code == 200
    assert stop_service(process) == 0
    assert postgres_of(pgdata) == []
    assert handles(pgdata) == []


def test_a_killed_postmaster_is_started_again_and_the_service_recovers(data_dir):
    pgdata = data_dir.resolve() / "pgdata"
    process, base = serve(data_dir)
    first = postmaster_pid(pgdata)
    os.kill(first, signal.SIGKILL)

    def ready_on_a_new_postmaster() -> bool:
        try:
            return postmaster_pid(pgdata) != first and httpx.get(f"{base}/readyz", timeout=5).status_code == 200
        except (OSError, ValueError, IndexError, httpx.HTTPError):
            return False

    wait_until(ready_on_a_new_postmaster, "the service answering on a new postmaster")
    assert httpx.get(f"{base}/api/v1/products").status_code == 401  # the API works again (asks for a key)
    assert stop_service(process) == 0
    assert postgres_of(pgdata) == []


def test_a_postmaster_that_cannot_be_started_again_stops_the_service_with_one_clear_line(data_dir):
    pgdata = data_dir.resolve() / "pgdata"
    process, base = serve(data_dir, ERP_EMBEDDED_RESTART_SECONDS="3")
    (pgdata / "PG_VERSION").rename(pgdata / "PG_VERSION.hidden")  # no restart can succeed now
    os.kill(postmaster_pid(pgdata), signal.SIGKILL)
    assert process.wait(PATIENCE) == 1
    stderr = process.stderr.read().decode()
    (line,) = [line for line in stderr.splitlines() if line.startswith("erp:")]
    assert "died and could not be started again" in line
    assert "Traceback" not in stderr
    assert postgres_of(pgdata) == []
