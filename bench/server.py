"""The real service, as production runs it: uvicorn with uvloop and httptools, no access log; or, to
compare, granian (a Rust HTTP server) with the same application, loop and worker count."""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Production-like: no access log, warnings only, the pool as configured by default.
SERVICE_ENV = {"ERP_ACCESS_LOG": "false", "ERP_LOG_LEVEL": "WARNING"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    def __init__(self, database_url: str, workers: int, extra_env: dict[str, str] | None = None,
                 server: str = "uvicorn") -> None:
        self.database_url = database_url
        self.workers = workers
        self.server = server
        self.port = free_port()
        self.env = {**os.environ, **SERVICE_ENV, **(extra_env or {}), "ERP_DATABASE_URL": database_url}
        self.log = Path(tempfile.mkstemp(prefix="erp-bench-server-", suffix=".log")[1])
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def command(self) -> list[str]:
        if self.server == "granian":
            return [
                str(Path(sys.executable).with_name("granian")), "--interface", "asgi", "--factory",
                "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(self.workers),
                "--loop", "uvloop", "--no-access-log", "--log-level", "warning", "erp.app:create_app",
            ]  # fmt: skip
        return [
            sys.executable, "-m", "uvicorn", "erp.app:create_app", "--factory",
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(self.workers),
            "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip

    def start(self, timeout: float = 60) -> None:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        ready = 0
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the service exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=2) as response:
                    ready = ready + 1 if response.status == 200 else 0
            except OSError:
                ready = 0
            if ready >= 2 * self.workers:  # every worker has had a chance to come up
                return
            time.sleep(0.1 if ready else 0.25)
        self.stop()
        raise RuntimeError(f"the service did not become ready in {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)  # the group this bench started for it, nothing else
            self.process.wait(5)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def log_errors(self) -> int:
        """Lines the service logged at error level or above (tracebacks, failed requests)."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return 0
        return sum('"level": "error"' in line or '"level": "critical"' in line for line in text.splitlines())
