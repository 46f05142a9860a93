"""`python -m bench`: start one PostgreSQL, load data, serve the app, run the workloads, print figures.

Benchmarks print figures; they are not timed tests and never fail on a number. The exit status is 1
only when the ledger invariants (`erp check`) break, or the harness itself could not run.
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from bench import cpu, database, dataset, loadgen, report, workloads
from bench.server import SERVICE_ENV, Service
from bench.workloads import Catalogue

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
ALL = ("W1", "W2", "W3", "W4", "W5", "W6")

TITLES = {
    "W1": "hot SKU: one-line orders of 1 unit of one product",
    "W2": "spread: orders of 1-5 lines over {spread:,} products",
    "W3": "service mix: 90% reads (order status, stock, availability), 10% new orders",
    "W4": "availability at scale: ATP over {products:,} products x 3 warehouses",
    "W5": "sell-out: {clients:,} clients at once for {units} units of one product (allow_backorder false)",
    "W6": "scale-out: 2 API processes behind pgbouncer (transaction mode), reads from a streaming standby",
}


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Load the real service and its raw-SQL floor on one PostgreSQL; print figures, write JSON.",
    )
    parser.add_argument("--workloads", default=",".join(ALL), help="comma-separated subset of W1,W2,W3,W4,W5")
    parser.add_argument("--duration", type=float, default=15, help="measured seconds per phase (default 15)")
    parser.add_argument(
        "--warmup", type=float, default=2, help="unmeasured seconds before each phase (default 2)"
    )
    parser.add_argument(
        "--clients", type=int, default=64, help="concurrent clients for W1-W3 and floors (64)"
    )
    parser.add_argument("--w4-clients", type=int, default=16, help="concurrent clients for W4 (16)")
    parser.add_argument("--w5-clients", type=int, default=1000, help="clients racing in W5 (1000)")
    parser.add_argument("--w5-units", type=int, default=100, help="units they race for (100)")
    parser.add_argument("--workers", default="auto", choices=("auto", "1", "2"),
                        help="server workers; auto measures 1 and 2 and keeps the faster")  # fmt: skip
    parser.add_argument("--server", default="uvicorn", choices=("uvicorn", "granian"),
                        help="the HTTP server in front of the app (uvicorn, as production runs it)")  # fmt: skip
    parser.add_argument(
        "--calibrate", type=float, default=6, help="measured seconds per worker count in auto (6)"
    )
    parser.add_argument("--products", type=int, default=0,
                        help="bulk products (default 100,000 with W4, else 10,000)")  # fmt: skip
    parser.add_argument("--no-floor", action="store_true", help="skip the raw-SQL floors")
    parser.add_argument("--no-balance", action="store_true",
                        help="keep connections on whichever worker accepted them (see bench/balance.py)")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="smoke run: 4 s phases, 20,000 products")
    parser.add_argument("--database-url", default=os.environ.get("ERP_BENCH_DATABASE_URL"),
                        help="use this PostgreSQL (a fresh database is created in it) instead of an embedded one; "
                             "default $ERP_BENCH_DATABASE_URL")  # fmt: skip
    parser.add_argument(
        "--keep-database", action="store_true", help="do not drop the bench database at the end"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON goes (bench/results/)")
    args = parser.parse_args(argv)
    args.workloads = [w.strip().upper() for w in args.workloads.split(",") if w.strip()]
    unknown = set(args.workloads) - set(ALL)
    if unknown:
        parser.error(f"unknown workloads: {', '.join(sorted(unknown))}")
    if args.quick:
        args.duration, args.warmup, args.calibrate = 4, 1, 3
        args.products = args.products or 20_000
    if not args.products:
        args.products = 100_000 if "W4" in args.workloads else 10_000
    args.products = max(args.products, 100)
    return args


def say(*lines: str) -> None:
    print(*lines, sep="\n", flush=True)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.server: database.Server | None = None
        self.service: Service | None = None
        self.key = ""
        self.catalogue = Catalogue(products=args.products, spread=min(args.products, 10_000))
        self.results: dict[str, Any] = {
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
            },
            "options": {
                k: (str(v) if isinstance(v, Path) else v)
                for k, v in vars(args).items()
                if k != "database_url"
            },
            "workloads": {},
        }
        self.failed_checks = 0
        self.order_numbers: list[str] = []
        self.extra_cpu_roots: dict[str, int | None] = {}  # W6: the standby and the pgbouncers

    # --- plumbing -----------------------------------------------------------------------------------

    def phase(self, name: str, workload: str, target: str, clients: int, **kw: Any) -> dict[str, Any]:
        assert self.server is not None
        phase = loadgen.Phase(
            name=name,
            workload=workload,
            target=target,
            catalogue=kw.pop("catalogue", self.catalogue),
            clients=clients,
            warmup=kw.pop("warmup", self.args.warmup),
            duration=kw.pop("duration", self.args.duration),
            port=self.service.port if self.service else 0,
            authorization=f"Bearer {self.key}",
            dsn=self.server.database_url,
            balance=not self.args.no_balance,
            cpu_roots={
                "app": self.service.process.pid if self.service and self.service.process else None,
                "postgres": self.server.postmaster_pid,
                **self.extra_cpu_roots,
            },
            **kw,
        )
        context = multiprocessing.get_context("spawn")
        receive, send = context.Pipe(duplex=False)
        process = context.Process(target=loadgen.child, args=(phase, send), name="bench-loadgen", daemon=True)
        process.start()
        send.close()
        limit = phase.warmup + phase.duration + phase.timeout + 60
        try:
            status, payload = (
                receive.recv() if receive.poll(limit) else ("error", f"overstayed {limit:.0f} s; killed")
            )
        except EOFError:
            status, payload = "error", f"load generator died (exit code {process.exitcode})"
        if process.is_alive():
            process.join(5)
        if process.is_alive():
            process.kill()
        process.join(5)
        if status == "error":
            return {"target": target, "error": payload}
        return payload

    def check(self) -> dict[str, Any]:
        assert self.server is not None
        try:
            result = asyncio.run(dataset.check_invariants(self.server.database_url))
        except Exception as exc:  # reported, and the run goes on
            return {"error": f"{type(exc).__name__}: {exc}"}
        if result["violations"]:
            self.failed_checks += 1
        return result

    def start_service(self, workers: int) -> Service:
        assert self.server is not None
        service = Service(self.server.database_url, workers, server=self.args.server)
        service.start()
        return service

    def stop_service(self) -> None:
        if self.service is not None:
            self.service.stop()
            errors = self.service.log_errors()
            if errors:
                say(f"  the service logged {errors} error lines; last lines of {self.service.log}:",
                    *("    " + line for line in self.service.log_tail(8).splitlines()))  # fmt: skip
                self.results.setdefault("service_logs", []).append(str(self.service.log))
            else:
                self.service.log.unlink(missing_ok=True)
            self.service = None

    def http(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        assert self.service is not None
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.service.port}/api/v1{path}", data=data, method=method,
            headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw[:200].decode(errors="replace")

    # --- stages -------------------------------------------------------------------------------------

    def prepare(self) -> None:
        from erp.migrations import upgrade

        args = self.args
        started = time.perf_counter()
        self.server = database.open_server(args.database_url)
        where = "embedded, temporary" if self.server.embedded else "given by ERP_BENCH_DATABASE_URL"
        say(f"PostgreSQL {self.server.settings.get('server_version')} ({where}), database {self.server.database}",
            "  " + ", ".join(f"{k}={v}" for k, v in self.server.settings.items() if k != "server_version"))  # fmt: skip
        upgrade(self.server.database_url)
        self.key = asyncio.run(dataset.create_key_and_warehouses(self.server.database_url))
        timings = asyncio.run(
            dataset.bulk_load(self.server.database_url, args.products, self.catalogue.hot_sku)
        )
        self.order_numbers = asyncio.run(dataset.seed_orders(self.server.database_url, self.catalogue, 2000))
        say(f"loaded {args.products:,} products x {len(dataset.WAREHOUSES)} warehouses, stock through the ledger "
            f"({', '.join(f'{k} {v}' for k, v in timings.items())}); setup {time.perf_counter() - started:.0f} s")  # fmt: skip
        self.results["database"] = {
            "embedded": self.server.embedded,
            "settings": self.server.settings,
            "tuning": database.TUNING if self.server.embedded else None,
            "products": args.products,
            "warehouses": len(dataset.WAREHOUSES),
            "load_timings_s": timings,
            "seeded_orders": len(self.order_numbers),
        }

    def probe(self) -> dict[str, int]:
        """One call to each endpoint the workloads use, so a missing one is named once, up front."""
        hot = self.catalogue.hot_sku
        calls = {
            "GET /stock?sku=": ("GET", f"/stock?sku={hot}", None),
            "POST /orders": ("POST", "/orders", json.loads(workloads.w1(self.catalogue, __import__("random").Random(0)).body)),
            "GET /availability/{sku}": ("GET", f"/availability/{hot}?quantity=1", None),
            "POST /availability/check": ("POST", "/availability/check", {"lines": [{"sku": hot, "quantity": 1}]}),
        }  # fmt: skip
        found = {}
        for name, (method, path, body) in calls.items():
            status, answer = self.http(method, path, body)
            found[name] = status
            if name == "POST /orders" and status == 201 and isinstance(answer, dict):
                number = answer.get("number")
                if number:
                    found["GET /orders/{number}"] = self.http("GET", f"/orders/{number}")[0]
        found.setdefault("GET /orders/{number}", found["POST /orders"] if found["POST /orders"] >= 300 else 0)
        return found

    def choose_workers(self) -> int:
        args = self.args
        if args.workers != "auto":
            self.service = self.start_service(int(args.workers))
            self.results["service"] = {"server": args.server, "workers": int(args.workers), "chosen_by": "--workers"}
            return int(args.workers)
        measured: dict[int, dict[str, Any]] = {}
        workload = None
        for workers in (1, 2):
            self.service = self.start_service(workers)
            if workload is None:
                # The service mix, when every endpoint it uses answers; else what exists.
                workload = "W3" if all(200 <= s < 300 for s in self.probe().values()) else "reads"
            for attempt in (1, 2):
                result = self.phase(
                    f"calibrate {workers}",
                    workload,
                    "app",
                    args.clients,
                    duration=args.calibrate,
                    catalogue=self.w3_catalogue(),
                )
                say(
                    report.phase_row(f"{workers} worker{'s' if workers > 1 else ''} ({workload})", result),
                    *report.phase_details(result),
                )
                # Another process taking the cores would decide the comparison: measure once more.
                if attempt == 1 and result.get("cpu_cores", {}).get("other", 0) > 0.25:
                    say("    measuring again")
                    continue
                break
            measured[workers] = result
            if workers == 1:
                self.stop_service()
        best = max(measured, key=lambda w: measured[w].get("throughput") or 0)
        if any(r.get("cpu_cores", {}).get("other", 0) > 0.25 for r in measured.values()):
            say("  WARNING: the machine was busy during calibration; the choice may be wrong (see --workers)")
        if best != 2:
            self.stop_service()
            self.service = self.start_service(best)
        self.results["service"] = {
            "server": args.server,
            "workers": best,
            "chosen_by": f"faster of 1 and 2 on {workload}",
            "calibration": {str(w): r for w, r in measured.items()},
        }
        return best

    def selftest(self) -> None:
        """The load generator against the cheapest endpoint: what one request costs the client itself."""
        say("", "load generator self-test (GET /healthz: no database, no auth)", report.HEADER)
        result = self.phase(
            "self-test", "healthz", "app", self.args.clients, duration=min(3, self.args.duration)
        )
        say(report.phase_row("GET /healthz", result), *report.phase_details(result))
        self.results["loadgen_selftest"] = result
        if "error" not in result and result["loadgen"]["cpu_us_per_request"]:
            capacity = 1e6 / result["loadgen"]["cpu_us_per_request"]
            say(f"  one load-generator core could send ~{capacity:,.0f} requests/s of this kind")
            result["loadgen"]["capacity_per_core"] = round(capacity)

    def w3_catalogue(self) -> Catalogue:
        return Catalogue(
            self.catalogue.products, spread=self.catalogue.spread, order_numbers=tuple(self.order_numbers)
        )

    def workload(self, key: str) -> None:
        args = self.args
        title = TITLES[key].format(
            spread=self.catalogue.spread,
            products=self.catalogue.products,
            clients=args.w5_clients,
            units=args.w5_units,
        )
        say("", f"{key} {title}", report.HEADER)
        started = time.perf_counter()
        phases: dict[str, dict[str, Any]] = {}
        entry: dict[str, Any] = {"title": title, "phases": phases}
        figures: dict[str, Any] = {}

        def run(name: str, workload: str, target: str, clients: int, **kw: Any) -> dict[str, Any]:
            result = self.phase(f"{key} {name}", workload, target, clients, **kw)
            phases[name] = result
            say(report.phase_row(name, result), *report.phase_details(result))
            return result

        def floor(
            app_name: str, app: dict[str, Any], name: str, workload: str, clients: int, **kw: Any
        ) -> None:
            """The same work as SQL straight to PostgreSQL, right after the app's phase, and app/floor."""
            if args.no_floor:
                return
            measured = run(name, workload, "floor", clients, **kw)
            pair: dict[str, Any] = {"phase": name, "floor_throughput": measured.get("throughput")}
            if app.get("throughput") is not None and measured.get("throughput"):
                pair["ratio"] = round(app["throughput"] / measured["throughput"], 3)
                say(f"  app/floor = {pair['ratio']:.2f}")
            entry.setdefault("floors", {})[app_name] = pair
            if "floor_throughput" not in entry:  # the workload's main pair, as before
                entry["floor_throughput"] = pair["floor_throughput"]
                if "ratio" in pair:
                    entry["ratio"] = figures["ratio"] = pair["ratio"]

        if key in ("W1", "W2"):
            app = run("app", key, "app", args.clients)
            figures["throughput"] = app.get("throughput")
            floor("app", app, "floor (asyncpg, same SQL)", key, args.clients)
            if key == "W1":  # the floor's shape before group commit, for comparison with earlier runs
                floor("app against orders alone", app, "floor, each order alone", key, args.clients,
                      grouped=False)
            target_key = key
        elif key == "W3":
            app = run("app", "W3", "app", args.clients, catalogue=self.w3_catalogue())
            figures["throughput"] = app.get("throughput")
            floor("app", app, "floor (asyncpg, same SQL)", "W3", args.clients, catalogue=self.w3_catalogue())
            target_key = key
        elif key == "W4":
            name = "1 SKU: GET /availability/{sku}"
            single = run(name, "W4-1", "app", args.w4_clients)
            floor(name, single, "1 SKU: floor (asyncpg, same SQL)", "W4-1", args.w4_clients)
            name = "100 SKUs: POST /availability/check"
            batch = run(name, "W4-100", "app", args.w4_clients)
            floor(name, batch, "100 SKUs: floor (asyncpg, same SQL)", "W4-100", args.w4_clients)
            figures["p99_ms"] = single.get("latency_ms", {}).get("p99") if single.get("ok") else None
            target_key = "W4-1"
        elif key == "W6":
            self.scale_out(run)
            target_key = "W6"
        else:
            sku = time.strftime("SELL-%H%M%S")
            asyncio.run(dataset.create_sellout(self.server.database_url, sku, args.w5_units))
            catalogue = Catalogue(self.catalogue.products, spread=self.catalogue.spread, sellout_sku=sku)
            result = run("sell-out", "W5", "app", args.w5_clients, catalogue=catalogue, one_shot=True, warmup=0,
                         duration=0, timeout=60)  # fmt: skip
            state = asyncio.run(dataset.sellout_state(self.server.database_url, sku))
            created = result.get("results", {}).get("201", 0)
            refused = result.get("results", {}).get("409 insufficient_stock", 0)
            entry["sellout"] = {"sku": sku, "units": args.w5_units, "created_201": created,
                                "refused_409_insufficient_stock": refused, "database": state,
                                "exactly_all_units_reserved": state.get("reserved") == args.w5_units}  # fmt: skip
            say(f"  reserved in the database: {state.get('reserved')} of {args.w5_units} units"
                f" ({state.get('reservations')} reservations, {state.get('orders')} orders);"
                f" answered 201: {created}, 409 insufficient_stock: {refused},"
                f" other: {result.get('requests', 0) - created - refused}"
                f" -> {'exactly' if state.get('reserved') == args.w5_units else 'NOT'} {args.w5_units} reserved")  # fmt: skip
            if not args.no_floor:
                # Its own product with the same units, so the app's sell-out stays as it ended.
                floor_sku = sku + "-F"
                asyncio.run(dataset.create_sellout(self.server.database_url, floor_sku, args.w5_units))
                catalogue = Catalogue(
                    self.catalogue.products, spread=self.catalogue.spread, sellout_sku=floor_sku
                )
                floor("sell-out", result, "floor (asyncpg, same SQL)", "W5", args.w5_clients, catalogue=catalogue,
                      one_shot=True, warmup=0, duration=0, timeout=60)  # fmt: skip
                side = phases["floor (asyncpg, same SQL)"]
                state = asyncio.run(dataset.sellout_state(self.server.database_url, floor_sku))
                committed = side.get("results", {}).get("committed", 0)
                short = side.get("results", {}).get("refused insufficient_stock", 0)
                exact = state.get("reserved") == args.w5_units and committed == args.w5_units
                entry["sellout"]["floor"] = {"sku": floor_sku, "connections": side.get("connections_opened"),
                                             "committed": committed, "refused_insufficient_stock": short,
                                             "database": state, "exactly_all_units_reserved": exact}  # fmt: skip
                say(f"  floor: {args.w5_clients:,} concurrent clients on a pool of {side.get('connections_opened')}"
                    f" asyncpg connections (the server allows {self.server.settings.get('max_connections', 300)};"
                    f" a client's latency includes its wait for one); reserved in the database:"
                    f" {state.get('reserved')} of {args.w5_units} units ({state.get('reservations')} reservations,"
                    f" {state.get('orders')} orders); committed: {committed}, refused: {short},"
                    f" other: {side.get('requests', 0) - committed - short}"
                    f" -> {'exactly' if exact else 'NOT'} {args.w5_units} reserved")  # fmt: skip
            target_key = "W5"
        verdicts = report.target_text(target_key, figures)
        if verdicts:
            say("  " + "; ".join(verdicts))
        entry["targets"] = verdicts
        entry["check"] = self.check()
        say(*report.check_text(entry["check"]))
        entry["seconds"] = round(time.perf_counter() - started, 1)
        self.results["workloads"][key] = entry

    def scale_out(self, run: Any) -> None:
        """W3's mix and W1's orders again, with 2 processes (uvicorn workers) behind pgbouncer reading from a
        standby, against the single process measured before (W3 above)."""
        from bench.scaleout import scaled_out

        assert self.server is not None and self.service is not None
        if not self.server.embedded:
            say("  not run: the standby is made with pg_basebackup from the embedded server, not from a server"
                " given by ERP_BENCH_DATABASE_URL")  # fmt: skip
            return
        workers = self.service.workers
        self.stop_service()
        try:
            with scaled_out(self.server) as setup:
                self.extra_cpu_roots = setup.cpu_roots
                self.service = Service(setup.primary_url, 2, extra_env=setup.env)
                self.service.start()
                run("W3 mix, 2 processes", "W3", "app", self.args.clients, catalogue=self.w3_catalogue())
                run("W1 orders, 2 processes", "W1", "app", self.args.clients)
                self.stop_service()
        finally:
            self.extra_cpu_roots = {}
            self.service = self.start_service(workers)

    def run(self) -> int:
        args = self.args
        started = time.perf_counter()
        say(f"bench: {', '.join(args.workloads)}; {args.duration:g} s per phase after {args.warmup:g} s warm-up;"
            f" {os.cpu_count()} cores; service env {SERVICE_ENV}")  # fmt: skip
        busy = cpu.machine_busy()
        self.results["machine"]["busy_cores_before"] = busy
        if busy > 0.25:
            say(f"WARNING: {busy:.2f} cores are busy before the bench starts; its figures will be low")
        try:
            self.prepare()
            server = "uvicorn, uvloop, httptools" if self.args.server == "uvicorn" else "granian, uvloop"
            say("", f"service workers ({server}, no access log):", report.HEADER)
            workers = self.choose_workers()
            say(f"  -> {workers} worker{'s' if workers > 1 else ''}")
            self.selftest()
            probes = self.probe()
            self.results["probes"] = probes
            missing = {k: v for k, v in probes.items() if not 200 <= v < 300}
            say("endpoints: " + ", ".join(f"{k} {v}" for k, v in probes.items()))
            if missing:
                say(f"  not there yet (their requests will count as errors): {', '.join(missing)}")
            for key in args.workloads:
                self.workload(key)
        finally:
            self.stop_service()
            self.finish(started)
        return 1 if self.failed_checks else 0

    def finish(self, started: float) -> None:
        self.results["elapsed_s"] = round(time.perf_counter() - started, 1)
        if self.server is not None:
            if not self.server.embedded and not self.args.keep_database and self.server.database:
                asyncio.run(database.drop_database(self.server))
            self.server.stop()
        if self.results["workloads"]:
            say("", *report.summary_table(self.results), *report.environment_lines(self.results))
        self.args.out.mkdir(parents=True, exist_ok=True)
        path = self.args.out / time.strftime("%Y%m%d-%H%M%S.json")
        path.write_text(json.dumps(self.results, indent=2, default=str))
        say("", f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}"
                f" in {self.results['elapsed_s']:.0f} s")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    try:
        return Bench(args).run()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
