"""The load generator: a fixed number of closed-loop clients in a process of its own.

Each client owns one keep-alive HTTP/1.1 connection to 127.0.0.1 (or one asyncpg connection, for the
floor) and sends its next request as soon as the last one is answered. Every loop is bounded: it stops
at the end of the window or after `max_requests`, each request has a timeout, and the parent kills the
process if it overstays. Only requests that complete inside the measured window (after the warm-up)
count. The generator also measures itself: its CPU time and its event-loop lag, so a report can say
whether it, rather than the service, was the limit.
"""

import asyncio
import json
import os
import random
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench import cpu, http, workloads
from bench.workloads import Catalogue

# The floor's connections at most: more clients than this share them (W5's 1,000 clients), since the
# server allows 300 connections and the service's pool holds some.
FLOOR_POOL = 230
GROUP_CONNECTIONS = 20  # the floor's groups, as one worker of the app's default pool


@dataclass
class Phase:
    name: str
    workload: str  # a key of workloads.REQUESTS (app) or workloads.FLOOR (floor)
    target: str  # "app" or "floor"
    catalogue: Catalogue
    clients: int
    warmup: float
    duration: float
    port: int = 0
    authorization: str = ""
    dsn: str = ""
    one_shot: bool = False  # every client sends exactly one request, all released at once (W5)
    max_requests: int = 5_000_000
    timeout: float = 30.0
    seed: int = 1
    cpu_roots: dict[str, int | None] = field(default_factory=dict)
    balance: bool = True  # spread connections evenly over the service's workers (see balance.py)
    grouped: bool = True  # the floor places orders in groups, as the app does (floor.Grouped)


def percentile(ordered: Any, p: float) -> float | None:
    """Nearest-rank percentile of an ascending sequence."""
    if not ordered:
        return None
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
    return ordered[rank - 1]


class Stats:
    def __init__(self) -> None:
        self.latencies: dict[str, array] = {}
        self.results: Counter[tuple[str, str]] = (
            Counter()
        )  # (label, "201" | "409 insufficient_stock" | "exc: X")
        self.ok: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()  # what successful orders said: status, units reserved
        self.timeline: Counter[int] = Counter()

    def record(self, label: str, result: str, ok: bool, latency: float, second: int) -> None:
        self.latencies.setdefault(label, array("d")).append(latency)
        self.results[(label, result)] += 1
        if ok:
            self.ok[label] += 1
            self.timeline[second] += 1

    def summary(self, seconds: float) -> dict[str, Any]:
        by_label = {}
        everything = array("d")
        for label, latencies in self.latencies.items():
            everything.extend(latencies)
            by_label[label] = _figures(
                sorted(latencies),
                self.ok[label],
                {r: n for (lb, r), n in self.results.items() if lb == label},
                seconds,
            )
        results: Counter[str] = Counter()
        for (_, result), n in self.results.items():
            results[result] += n
        total = _figures(sorted(everything), sum(self.ok.values()), dict(results), seconds)
        total["by_label"] = by_label if len(by_label) > 1 else {}
        total["outcomes"] = dict(self.outcomes)
        total["timeline_ok_per_s"] = [self.timeline.get(s, 0) for s in range(int(seconds + 0.999))]
        return total


def _figures(latencies: list[float], ok: int, results: dict[str, int], seconds: float) -> dict[str, Any]:
    def ms(p: float) -> float | None:
        value = percentile(latencies, p)
        return None if value is None else round(value * 1000, 2)

    return {
        "requests": len(latencies),
        "ok": ok,
        "errors": len(latencies) - ok,
        "throughput": round(ok / seconds, 1) if seconds else None,
        "latency_ms": {
            "p50": ms(50),
            "p95": ms(95),
            "p99": ms(99),
            "max": ms(100),
            "mean": round(sum(latencies) / len(latencies) * 1000, 2) if latencies else None,
        },
        "results": dict(sorted(results.items(), key=lambda kv: -kv[1])),
    }


def _problem_code(body: bytes) -> str:
    try:
        code = json.loads(body).get("code")
    except (ValueError, AttributeError):
        return ""
    return f" {code}" if isinstance(code, str) else ""


class LagMonitor:
    """How late the load generator's event loop wakes up: if it is busy, requests wait in it."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.lags = array("d")
        self.recording = False

    async def run(self, until: float) -> None:
        while time.perf_counter() < until:
            before = time.perf_counter()
            await asyncio.sleep(self.interval)
            if self.recording:
                self.lags.append(time.perf_counter() - before - self.interval)


class DatabaseWatch:
    """What PostgreSQL's sessions are doing during the window, sampled every 100 ms from one extra
    connection: how many are running, waiting on a lock, or idle inside an open transaction (holding
    its locks while the client does something else); plus commits and new sessions from pg_stat_database.
    """

    ACTIVITY = """
        SELECT state, coalesce(wait_event_type || ':' || wait_event, 'cpu') AS wait
          FROM pg_stat_activity
         WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()
    """
    COUNTERS = """
        SELECT xact_commit, xact_rollback, sessions FROM pg_stat_database WHERE datname = current_database()
    """

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.connection: Any = None
        self.samples = 0
        self.states: Counter[str] = Counter()
        self.counters: list[dict[str, int]] = []
        self.stopped = False

    async def open(self) -> None:
        import asyncpg

        try:
            self.connection = await asyncpg.connect(
                self.dsn, server_settings={"application_name": "bench-watch"}
            )
        except Exception:  # watching is a bonus; the load runs without it
            self.connection = None

    async def count(self) -> None:
        if self.connection is not None:
            await self.connection.execute("SELECT pg_stat_clear_snapshot()")
            self.counters.append(dict(await self.connection.fetchrow(self.COUNTERS)))

    async def run(self, until: float) -> None:
        if self.connection is None:
            return
        while time.perf_counter() < until and not self.stopped:
            for row in await self.connection.fetch(self.ACTIVITY):
                key = row["state"] if row["state"] != "active" else f"active {row['wait']}"
                self.states[key] += 1
            self.samples += 1
            await asyncio.sleep(0.1)

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.close(timeout=5)

    def summary(self, seconds: float) -> dict[str, Any]:
        if not self.samples:
            return {}
        out: dict[str, Any] = {
            "sessions_avg": {k: round(v / self.samples, 1) for k, v in self.states.most_common()},
        }
        if len(self.counters) == 2 and seconds:
            first, last = self.counters
            out["commits_per_s"] = round((last["xact_commit"] - first["xact_commit"]) / seconds, 1)
            out["rollbacks_per_s"] = round((last["xact_rollback"] - first["xact_rollback"]) / seconds, 1)
            out["new_sessions"] = last["sessions"] - first["sessions"]
        return out


class Runner:
    def __init__(self, phase: Phase) -> None:
        self.phase = phase
        self.stats = Stats()
        self.issued = 0
        self.start = self.window_start = self.window_end = 0.0
        self.lag = LagMonitor()
        self.spread: dict[str, Any] = {}
        self.floor_pool: asyncio.Queue[Any] | None = None
        self.floor_grouped: Any = None  # floor.Grouped

    def in_window(self, finished: float) -> bool:
        return self.window_start <= finished <= self.window_end

    def more(self) -> bool:
        return time.perf_counter() < self.window_end and self.issued < self.phase.max_requests

    # --- HTTP ---------------------------------------------------------------------------------------

    def inspect(self, request: workloads.Request, status: int, body: bytes) -> tuple[str, bool]:
        ok = 200 <= status < 300
        if not ok:
            return f"{status}{_problem_code(body)}", False
        if request.kind == "order":
            try:
                order = json.loads(body)
                self.stats.outcomes[f"order {order.get('status')}"] += 1
                for line in order.get("lines") or ():
                    self.stats.outcomes["units reserved"] += int(line.get("reserved") or 0)
                    self.stats.outcomes["units backordered"] += int(line.get("backordered") or 0)
            except (ValueError, AttributeError, TypeError):
                self.stats.outcomes["unreadable order body"] += 1
        return str(status), True

    async def http_client(self, n: int, connection: http.Connection | None, go: asyncio.Event) -> None:
        phase = self.phase
        rng = random.Random(phase.seed * 100_003 + n)
        generate = workloads.REQUESTS[phase.workload]
        await go.wait()
        while phase.one_shot or self.more():
            request = generate(phase.catalogue, rng)
            data = http.serialize(request.method, request.path, phase.port, phase.authorization, request.body)
            self.issued += 1
            started = time.perf_counter()
            try:
                if connection is None or connection.closed:
                    connection = await http.connect(phase.port)
                status, body = await connection.send(data, phase.timeout)
                result, ok = self.inspect(request, status, body)
            except (TimeoutError, http.RequestTimeout, http.ConnectionClosed, OSError) as exc:
                result, ok = f"exception {type(exc).__name__}", False
                if connection is not None:
                    connection.close()
                connection = None
            finished = time.perf_counter()
            if phase.one_shot or self.in_window(finished):
                self.stats.record(
                    request.label, result, ok, finished - started, int(finished - self.window_start)
                )
            if not ok and not phase.one_shot:
                await asyncio.sleep(0.005)  # a refusing or dead server must not turn this into a busy loop
            if phase.one_shot:
                break
        if connection is not None:
            connection.close()

    async def open_http(self, count: int) -> list[http.Connection | None]:
        gate = asyncio.Semaphore(100)  # do not flood the listen backlog

        async def one() -> http.Connection | None:
            async with gate:
                try:
                    return await http.connect(self.phase.port)
                except OSError:
                    return None  # the client retries, and counts the failure, once it starts

        return list(await asyncio.gather(*(one() for _ in range(count))))

    async def balance(self, connections: list[http.Connection | None]) -> dict[str, Any]:
        from bench import balance

        port = self.phase.port
        hello = http.serialize("GET", "/healthz", port, self.phase.authorization)

        async def accepted(connection: http.Connection) -> http.Connection:
            await connection.send(hello, 10)  # answered, so a worker has accepted it
            return connection

        async def reconnect(connection: http.Connection | None) -> http.Connection:
            if connection is not None:
                connection.close()
            return await accepted(await http.connect(port))

        def local_port(connection: http.Connection | None) -> int:
            if connection is None or connection.transport is None:
                return -1
            return connection.transport.get_extra_info("sockname")[1]

        try:
            await asyncio.gather(*(accepted(c) for c in connections if c is not None))
            return await balance.spread(connections, self.phase.cpu_roots["app"], port, local_port, reconnect)
        except (OSError, http.ConnectionClosed, http.RequestTimeout) as exc:
            return {"error": f"{type(exc).__name__}: {exc}"}

    # --- the floor ----------------------------------------------------------------------------------

    async def floor_call(self, connection: Any, call: workloads.FloorCall) -> tuple[str, bool, int]:
        from bench import floor

        if call.kind == "order":
            try:
                _, units = await floor.place_order(connection, *call.args, grouped=self.floor_grouped)
            except floor.Short:
                return "refused insufficient_stock", False, 0
            return "committed", True, units
        read = {"view": floor.order_view, "stock": floor.stock_level, "availability": floor.availability}[
            call.kind
        ]
        try:
            await read(connection, *call.args, grouped=self.floor_grouped)
        except LookupError:
            return "not found", False, 0
        return "read", True, 0

    async def floor_client(self, n: int, connection: Any, go: asyncio.Event) -> None:
        """One closed-loop client on its own connection or, with more clients than FLOOR_POOL, on the
        first free one of the pool (its latency then includes the wait for a connection)."""
        phase = self.phase
        rng = random.Random(phase.seed * 100_003 + n)
        generate = workloads.FLOOR[phase.workload]
        pool = self.floor_pool
        await go.wait()
        while phase.one_shot or self.more():
            call = generate(phase.catalogue, rng)
            self.issued += 1
            started = time.perf_counter()
            if pool is not None:
                connection = await pool.get()
            try:
                result, ok, units = await self.floor_call(connection, call)
            except Exception as exc:  # every database error is a result to count, not a crash
                result, ok, units = f"exception {type(exc).__name__}", False, 0
            finally:
                if pool is not None:
                    pool.put_nowait(connection)
            finished = time.perf_counter()
            if phase.one_shot or self.in_window(finished):
                self.stats.record(
                    call.label, result, ok, finished - started, int(finished - self.window_start)
                )
                if ok and units:
                    self.stats.outcomes["units reserved"] += units
            if phase.one_shot or (pool is None and connection.is_closed()):
                break

    async def open_floor(self, count: int) -> list[Any]:
        import asyncpg

        gate = asyncio.Semaphore(16)

        async def one() -> Any:
            async with gate:
                return await asyncpg.connect(
                    self.phase.dsn, server_settings={"application_name": "bench-floor"}
                )

        try:
            return list(await asyncio.gather(*(one() for _ in range(count))))
        except asyncpg.TooManyConnectionsError as exc:
            raise RuntimeError(
                f"{exc}: the floor needs {count} connections besides the service's pool; raise the server's"
                " max_connections or lower --clients"
            ) from None

    # --- the run ------------------------------------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        phase = self.phase
        sampler = cpu.Sampler({**phase.cpu_roots, "loadgen": os.getpid()})
        watch = DatabaseWatch(phase.dsn)
        await watch.open()
        opened_floor: list[Any] = []
        if phase.target == "floor":
            from bench import floor

            floor.statements()  # compiled before the window
            opened_floor = await self.open_floor(min(phase.clients, FLOOR_POOL))
            if phase.grouped:
                self.floor_grouped = floor.Grouped(phase.dsn, GROUP_CONNECTIONS)
            if phase.clients > FLOOR_POOL:
                self.floor_pool = asyncio.Queue()
                for connection in opened_floor:
                    self.floor_pool.put_nowait(connection)
                connections = [None] * phase.clients
            else:
                connections = opened_floor
            client = self.floor_client
        else:
            connections = await self.open_http(phase.clients)
            client = self.http_client
            if phase.balance and not phase.one_shot and phase.cpu_roots.get("app"):
                self.spread = await self.balance(connections)
        opened = len(opened_floor) if phase.target == "floor" else sum(c is not None for c in connections)
        go = asyncio.Event()
        tasks = [asyncio.create_task(client(n, c, go)) for n, c in enumerate(connections)]
        await asyncio.sleep(0)
        self.start = time.perf_counter()
        self.window_start = self.start if phase.one_shot else self.start + phase.warmup
        self.window_end = self.window_start + phase.duration
        hard_stop = self.window_end + phase.timeout + 5
        lag = asyncio.create_task(self.lag.run(hard_stop))
        go.set()

        await asyncio.sleep(max(0.0, self.window_start - time.perf_counter()))
        first, cpu_start, self.lag.recording = sampler.snapshot(), time.process_time(), True
        app = phase.cpu_roots.get("app")
        spread = cpu.connections_by_process(app, phase.port) if app and phase.target == "app" else []
        await watch.count()
        watching = asyncio.create_task(watch.run(hard_stop))
        if phase.one_shot:
            done, pending = await asyncio.wait(tasks, timeout=hard_stop - time.perf_counter())
            self.window_end = time.perf_counter()
        else:
            await asyncio.sleep(max(0.0, self.window_end - time.perf_counter()))
        last, cpu_end, self.lag.recording = sampler.snapshot(), time.process_time(), False
        memory = cpu.resident_mib(app) if app and phase.target == "app" else []
        watch.stopped = True
        await asyncio.wait([watching], timeout=5)
        await watch.count()
        await watch.close()
        seconds = self.window_end - self.window_start
        done, pending = await asyncio.wait(tasks, timeout=max(0.1, hard_stop - time.perf_counter()))
        for task in pending:
            task.cancel()
        lag.cancel()
        if phase.target == "floor":
            for connection in opened_floor:
                await connection.close(timeout=5)
            if self.floor_grouped is not None:
                await self.floor_grouped.close()
        lags = sorted(self.lag.lags)
        summary = self.stats.summary(seconds)
        summary.update(
            phase=phase.name,
            target=phase.target,
            clients=phase.clients,
            connections_opened=opened,
            seconds=round(seconds, 3),
            cancelled_clients=len(pending),
            cpu_cores=cpu.cores_used(first, last, seconds),
            database=watch.summary(seconds),
            connections_per_worker=spread,
            app_resident_mib=memory,
            rebalanced=self.spread,
            loadgen={
                "cpu_of_one_core": round((cpu_end - cpu_start) / seconds, 3) if seconds else None,
                "cpu_us_per_request": round((cpu_end - cpu_start) / len_or_one(self.stats) * 1e6, 1),
                "loop_lag_ms_p50": round((percentile(lags, 50) or 0) * 1000, 2),
                "loop_lag_ms_p99": round((percentile(lags, 99) or 0) * 1000, 2),
            },
        )
        return summary


def len_or_one(stats: Stats) -> int:
    return max(1, sum(len(v) for v in stats.latencies.values()))


def run_phase(phase: Phase) -> dict[str, Any]:
    """Entry point in the load generator's own process."""
    import uvloop

    return uvloop.run(Runner(phase).run())


def child(phase: Phase, pipe: Any) -> None:
    try:
        pipe.send(("ok", run_phase(phase)))
    except BaseException as exc:  # the parent reports it; the bench goes on with the next workload
        import traceback

        pipe.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
    finally:
        pipe.close()
