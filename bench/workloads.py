"""What each workload asks for: order lines for the app and the floor alike, and the HTTP requests.

Generators take the catalogue and a seeded `random.Random`, so the app and its raw-SQL floor are sent
the same kind of orders, and a run can be repeated.
"""

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

API = "/api/v1"


@dataclass(frozen=True)
class Catalogue:
    """What the bench loaded: bulk products `BN-000001`... plus a few special ones."""

    products: int
    hot_sku: str = "HOT-1"
    spread: int = 10_000  # W2 and W3 orders draw from the first `spread` bulk products
    order_numbers: tuple[str, ...] = ()  # existing orders, for W3's status reads
    sellout_sku: str = ""


def bulk_sku(i: int) -> str:
    return f"BN-{i:06d}"


@dataclass(frozen=True, slots=True)
class Request:
    label: str  # statistics are kept per label
    method: str
    path: str
    body: bytes | None = None
    kind: str = ""  # "order": a POST /orders whose 201 body is inspected (status, reserved units)


Lines = list[tuple[str, int]]


# --- order lines, shared by the app workloads and the floor ---------------------------------------


def hot_lines(catalogue: Catalogue, rng: random.Random) -> Lines:
    return [(catalogue.hot_sku, 1)]


def spread_lines(catalogue: Catalogue, rng: random.Random) -> Lines:
    picks = rng.sample(range(1, catalogue.spread + 1), rng.randint(1, 5))
    return [(bulk_sku(i), rng.randint(1, 3)) for i in picks]


def sellout_lines(catalogue: Catalogue, rng: random.Random) -> Lines:
    return [(catalogue.sellout_sku, 1)]


def customer(rng: random.Random) -> tuple[str, str]:
    n = rng.randrange(1_000_000)
    return f"Bench customer {n}", f"c{n}@bench.example"


# --- HTTP requests ----------------------------------------------------------------------------------


def order_request(lines: Lines, rng: random.Random, allow_backorder: bool = True) -> Request:
    name, email = customer(rng)
    body = {
        "customer": {"name": name, "email": email},
        "channel": "api",
        "lines": [{"sku": sku, "quantity": quantity} for sku, quantity in lines],
        "allow_backorder": allow_backorder,
    }
    return Request(
        "POST /orders", "POST", f"{API}/orders", json.dumps(body, separators=(",", ":")).encode(), "order"
    )


def w1(catalogue: Catalogue, rng: random.Random) -> Request:
    return order_request(hot_lines(catalogue, rng), rng)


def w2(catalogue: Catalogue, rng: random.Random) -> Request:
    return order_request(spread_lines(catalogue, rng), rng)


def w3(catalogue: Catalogue, rng: random.Random) -> Request:
    """90% reads split evenly over the three a service rep makes, 10% new orders."""
    roll = rng.random()
    if roll < 0.3 and catalogue.order_numbers:
        return Request("GET /orders/{number}", "GET", f"{API}/orders/{rng.choice(catalogue.order_numbers)}")
    if roll < 0.6:
        return Request(
            "GET /stock?sku=", "GET", f"{API}/stock?sku={bulk_sku(rng.randint(1, catalogue.spread))}"
        )
    if roll < 0.9:
        sku = bulk_sku(rng.randint(1, catalogue.spread))
        return Request("GET /availability/{sku}", "GET", f"{API}/availability/{sku}")
    return order_request(spread_lines(catalogue, rng), rng)


def w4_single(catalogue: Catalogue, rng: random.Random) -> Request:
    sku = bulk_sku(rng.randint(1, catalogue.products))
    return Request(
        "GET /availability/{sku}?quantity=", "GET", f"{API}/availability/{sku}?quantity={rng.randint(1, 5)}"
    )


def w4_batch(catalogue: Catalogue, rng: random.Random) -> Request:
    picks = rng.sample(range(1, catalogue.products + 1), 100)
    body = {"lines": [{"sku": bulk_sku(i), "quantity": rng.randint(1, 5)} for i in picks]}
    return Request(
        "POST /availability/check (100)",
        "POST",
        f"{API}/availability/check",
        json.dumps(body, separators=(",", ":")).encode(),
    )


def w5(catalogue: Catalogue, rng: random.Random) -> Request:
    return order_request(sellout_lines(catalogue, rng), rng, allow_backorder=False)


def stock_read(catalogue: Catalogue, rng: random.Random) -> Request:
    """What already exists before the orders module: used to calibrate workers when /orders is missing."""
    return Request("GET /stock?sku=", "GET", f"{API}/stock?sku={bulk_sku(rng.randint(1, catalogue.spread))}")


def healthz(catalogue: Catalogue, rng: random.Random) -> Request:
    """The cheapest request the service answers: measures what the load generator itself costs."""
    return Request("GET /healthz", "GET", "/healthz")


REQUESTS: dict[str, Callable[[Catalogue, random.Random], Request]] = {
    "healthz": healthz,
    "W1": w1,
    "W2": w2,
    "W3": w3,
    "W4-1": w4_single,
    "W4-100": w4_batch,
    "W5": w5,
    "reads": stock_read,
}


# --- the floor: the same work as SQL straight to PostgreSQL (bench/floor.py runs it) -----------------


@dataclass(frozen=True, slots=True)
class FloorCall:
    label: str  # statistics are kept per label; the mix's reads use the app's labels
    kind: str  # "order" (floor.place_order), "view", "stock" or "availability"
    args: tuple[Any, ...]


def floor_order(lines: Lines, rng: random.Random, label: str = "floor order") -> FloorCall:
    name, email = customer(rng)
    return FloorCall(label, "order", (lines, name, email))


def floor_w3(catalogue: Catalogue, rng: random.Random) -> FloorCall:
    """What `w3` asks the app for, as the SQL the app sends for it (the same draws, so the same mix)."""
    roll = rng.random()
    if roll < 0.3 and catalogue.order_numbers:
        return FloorCall("GET /orders/{number}", "view", (rng.choice(catalogue.order_numbers),))
    if roll < 0.6:
        return FloorCall("GET /stock?sku=", "stock", (bulk_sku(rng.randint(1, catalogue.spread)),))
    if roll < 0.9:
        return FloorCall(
            "GET /availability/{sku}", "availability", ([bulk_sku(rng.randint(1, catalogue.spread))],)
        )
    return floor_order(spread_lines(catalogue, rng), rng, "POST /orders")


def floor_w4_single(catalogue: Catalogue, rng: random.Random) -> FloorCall:
    sku = bulk_sku(rng.randint(1, catalogue.products))
    rng.randint(1, 5)  # the quantity only changes the answer the app computes, not its SQL
    return FloorCall("availability of 1 sku", "availability", ([sku],))


def floor_w4_batch(catalogue: Catalogue, rng: random.Random) -> FloorCall:
    """POST /availability/check: a query with a body, read without BEGIN/COMMIT like a GET."""
    picks = rng.sample(range(1, catalogue.products + 1), 100)
    for _ in picks:
        rng.randint(1, 5)
    return FloorCall(
        "availability of 100 skus", "availability", (sorted({bulk_sku(i) for i in picks}),)
    )


FLOOR: dict[str, Callable[[Catalogue, random.Random], FloorCall]] = {
    "W1": lambda catalogue, rng: floor_order(hot_lines(catalogue, rng), rng),
    "W2": lambda catalogue, rng: floor_order(spread_lines(catalogue, rng), rng),
    "W3": floor_w3,
    "W4-1": floor_w4_single,
    "W4-100": floor_w4_batch,
    "W5": lambda catalogue, rng: floor_order(sellout_lines(catalogue, rng), rng),
}


@dataclass(frozen=True)
class Target:
    """A figure the issue asks for; printed beside the measurement, never asserted."""

    metric: str  # "throughput", "ratio" or "p99_ms"
    op: str  # ">=" or "<="
    value: float
    text: str = field(default="")

    def met(self, measured: float | None) -> bool | None:
        if measured is None:
            return None
        return measured >= self.value if self.op == ">=" else measured <= self.value


TARGETS: dict[str, list[Target]] = {
    "W1": [Target("throughput", ">=", 800, ">= 800 orders/s"), Target("ratio", ">=", 0.8, ">= 0.8 of floor")],
    "W2": [Target("throughput", ">=", 1000, ">= 1,000 orders/s")],
    "W3": [Target("throughput", ">=", 2000, ">= 2,000 req/s")],
    "W4-1": [Target("p99_ms", "<=", 20, "p99 <= 20 ms")],
    "W5": [],
}
