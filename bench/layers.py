"""`python -m bench.layers`: what each layer of a request costs the app, in process, one request at a time.

The ASGI app is called directly (no HTTP server, no load generator, no concurrency), so the CPU it spends
per request is measured alone. Routes added for the measurement build up a read layer by layer, each one
the previous plus one thing: a route in a domain router, the role dependency, the session dependency, one
hot statement (`SELECT 1`), two query parameters. Then the service's own hot reads and orders. Each figure
is the least of three runs (the machine's noise only ever adds). Prints figures; asserts none.

    .venv/bin/python -m bench.layers                      # an embedded PostgreSQL, deleted after
    .venv/bin/python -m bench.layers --database-url postgresql://postgres@127.0.0.1:5432/postgres
"""

import argparse
import asyncio
import json
import os
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench import database, dataset
from bench.workloads import Catalogue, bulk_sku

PRODUCTS = 2_000
Call = tuple[str, str, bytes, str]  # method, path, body, query string


async def _call(app: Any, key: str, method: str, path: str, body: bytes, query: str) -> int:
    headers = [(b"host", b"bench"), (b"authorization", f"Bearer {key}".encode())]
    if body:
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
             "headers": headers, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8000), "state": {}}
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # no disconnect: the answer is always read whole
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


def _layers_router() -> Any:
    """The measurement's routes, each a layer more than the one before."""
    from pydantic import BaseModel
    from sqlalchemy import text

    from erp.auth import Anyone
    from erp.db import HotStatement, SessionDep
    from erp.routing import router

    class Answer(BaseModel):
        status: str

    layers = router()
    one = HotStatement(text("SELECT 1 AS one"))

    @layers.get("/layers/route")
    async def route() -> Answer:
        return Answer(status="ok")

    @layers.get("/layers/role")
    async def role(actor: Anyone) -> Answer:
        return Answer(status="ok")

    @layers.get("/layers/session")
    async def session(actor: Anyone, session: SessionDep) -> Answer:
        return Answer(status="ok")

    @layers.get("/layers/statement")
    async def statement(actor: Anyone, session: SessionDep) -> Answer:
        await one.fetch(session, {})
        return Answer(status="ok")

    @layers.get("/layers/parameters")
    async def parameters(actor: Anyone, session: SessionDep, a: int = 1, b: str | None = None) -> Answer:
        await one.fetch(session, {})
        return Answer(status="ok")

    return layers


def _requests(numbers: list[str], rng: random.Random) -> dict[str, Callable[[], Call]]:
    def order(lines: list[tuple[str, int]]) -> Call:
        body = {"channel": "web", "customer": {"name": "Layer Bench", "email": "layers@example.com"},
                "lines": [{"sku": sku, "quantity": quantity} for sku, quantity in lines]}
        return ("POST", "/api/v1/orders", json.dumps(body).encode(), "")

    def spread() -> Call:
        skus = {bulk_sku(rng.randint(1, PRODUCTS)) for _ in range(rng.randint(1, 5))}
        return order([(sku, rng.randint(1, 3)) for sku in skus])

    return {
        "/healthz (middleware, routing, answer)": lambda: ("GET", "/healthz", b"", ""),
        "+ a route in a domain router": lambda: ("GET", "/api/v1/layers/route", b"", ""),
        "+ the role dependency": lambda: ("GET", "/api/v1/layers/role", b"", ""),
        "+ the session dependency": lambda: ("GET", "/api/v1/layers/session", b"", ""),
        "+ one hot statement (SELECT 1)": lambda: ("GET", "/api/v1/layers/statement", b"", ""),
        "+ two query parameters": lambda: ("GET", "/api/v1/layers/parameters", b"", "a=2&b=x"),
        "GET /orders/{number}": lambda: ("GET", f"/api/v1/orders/{rng.choice(numbers)}", b"", ""),
        "GET /stock?sku=": lambda: ("GET", "/api/v1/stock", b"", f"sku={bulk_sku(rng.randint(1, PRODUCTS))}"),
        "GET /availability/{sku}": lambda: ("GET", f"/api/v1/availability/{bulk_sku(rng.randint(1, PRODUCTS))}",
                                            b"", ""),
        "POST /orders, 1 line of HOT-1": lambda: order([("HOT-1", 1)]),
        "POST /orders, 1-5 lines": spread,
    }


async def _measure(app: Any, key: str, make: Callable[[], Call], count: int) -> float:
    """The least CPU per request, in ms, of three runs of `count` requests."""
    for _ in range(min(count, 200)):  # warm: compiled statements, pooled connections, caches
        status = await _call(app, key, *make())
        if status >= 400:
            raise SystemExit(f"{make()[:2]} answered {status}")
    best = float("inf")
    for _ in range(3):
        calls = [make() for _ in range(count)]
        started = time.process_time()
        for call in calls:
            await _call(app, key, *call)
        best = min(best, (time.process_time() - started) / count * 1000)
    return best


async def _run(url: str, count: int) -> None:
    from erp.app import create_app
    from erp.migrations import upgrade

    await asyncio.to_thread(upgrade, url)
    key = await dataset.create_key_and_warehouses(url)
    await dataset.bulk_load(url, PRODUCTS, "HOT-1")
    numbers = await dataset.seed_orders(url, Catalogue(products=PRODUCTS, spread=PRODUCTS), 200)
    app = create_app(database_url=url)
    _layers_router().include_in(app, "/api/v1")
    rng = random.Random(7)
    print(f"app CPU per request, in process, least of 3 runs of {count:,} requests (no HTTP server):")
    async with app.router.lifespan_context(app):
        for label, make in _requests(numbers, rng).items():
            print(f"  {label:42s} {await _measure(app, key, make, count):6.3f} ms", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.layers", description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("ERP_BENCH_DATABASE_URL"),
                        help="a local PostgreSQL to create a fresh database in (default: an embedded one)")
    parser.add_argument("--requests", type=int, default=2_000, help="requests per run (default 2,000)")
    args = parser.parse_args(argv)
    os.environ.update({"ERP_LOG_LEVEL": "WARNING", "ERP_ACCESS_LOG": "false", "ERP_WORKER_IN_SERVE": "false"})
    server = database.open_server(args.database_url)
    try:
        import uvloop

        run: Callable[[Awaitable[None]], None] = uvloop.run  # as the service runs: uvicorn's loop is uvloop
        run(_run(server.database_url, args.requests))
    finally:
        if not server.embedded:
            asyncio.run(database.drop_database(server))
        server.stop()


if __name__ == "__main__":
    main()
