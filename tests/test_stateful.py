"""Random sequences of warehouse and order work, checked against a small model after every step.

A hypothesis state machine drives the API (in-process, as the `api` fixture does) through adjustments,
transfers, orders with and without backorders, cancels, pick lists, picks (short ones too), four-eyes
packing, shipments, deliveries, and returns (authorized, received into quarantine, inspected by a
second person into a bin or scrap). After every step the ledger invariants hold and the API agrees with
a model that knows only what the domain rules fix, whatever allocation policy picks:

- on hand per bin and warehouse, and what waits in packing, follow from the moves made;
- every order line's ordered, cancelled, picked, packed and shipped quantities follow from the steps,
  and its reserved + backordered is the rest;
- per product, stock serves demand first come first served and never idles while demand waits: reserved
  = min(open demand, on hand) over all warehouses, backordered = the rest, and nothing is available
  anywhere while anything is backordered;
- per warehouse, reserved is what the orders' allocations say, and available = on hand - reserved.

One database per test run; each example gets fresh warehouses and products, so examples never meet.
`ERP_STATEFUL_EXAMPLES` / `ERP_STATEFUL_STEPS` bound the run (defaults 15 x 30, about half a minute);
`ERP_STATEFUL_RANDOM=1` explores new sequences instead of the fixed, reproducible ones, and
`ERP_STATEFUL_SHRINK=1` shrinks a failing sequence to a minimal one (slow).
"""

import functools
import itertools
import os
import random
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, Phase, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from erp.app import create_app
from erp.invariants import find_violations
from tests import conftest
from tests.builders import given_product, given_stock, given_warehouse, stock_of
from tests.orders.test_placing import order_body

EXAMPLES = int(os.environ.get("ERP_STATEFUL_EXAMPLES", "15"))
STEPS = int(os.environ.get("ERP_STATEFUL_STEPS", "30"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    deadline=None,
    database=None,
    derandomize=os.environ.get("ERP_STATEFUL_RANDOM") != "1",
    # Shrinking replays hundreds of sequences over HTTP, minutes of work: only when asked for.
    phases=[Phase.explicit, Phase.reuse, Phase.generate] + ([Phase.shrink] if os.environ.get("ERP_STATEFUL_SHRINK") else []),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)

BINS = {"A": ("A-01", "A-02"), "B": ("B-01",)}
# What a rule does is drawn as one number, the seed of its choices.
SEED = st.integers(0, 2**32 - 1)
_worlds = itertools.count(1)


class Service:
    """The app on its own event loop thread, called synchronously: one app and pool for the whole run."""

    def __init__(self, portal: BlockingPortal, client: httpx.AsyncClient, app: Any, keys: dict[str, str]) -> None:
        self.portal, self.client, self.app, self.keys = portal, client, app, keys

    def call(self, role: str, method: str, path: str, body: Any = None) -> httpx.Response:
        request = functools.partial(self.client.request, method, path, json=body,
                                    headers={"Authorization": f"Bearer {self.keys[role]}"})
        return self.portal.call(request)

    def ok(self, role: str, method: str, path: str, body: Any = None) -> Any:
        response = self.call(role, method, path, body)
        assert response.status_code in (200, 201), f"{method} {path}: {response.status_code} {response.text}"
        return response.json()

    def violations(self) -> list[Any]:
        async def check() -> list[Any]:
            async with self.app.state.engine.connect() as connection:
                return await find_violations(connection)

        return self.portal.call(check)


@contextmanager
def running_service(database_url: str, keys: dict[str, str]) -> Iterator[Service]:
    app = create_app(conftest.test_settings(), database_url=database_url)

    async def open_client() -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        return httpx.AsyncClient(transport=transport, base_url="http://test/api/v1", timeout=60)

    with start_blocking_portal() as portal, portal.wrap_async_context_manager(app.router.lifespan_context(app)):
        client = portal.call(open_client)
        try:
            yield Service(portal, client, app, keys)
        finally:
            portal.call(client.aclose)


@dataclass
class Line:
    sku: str
    quantity: int
    cancelled: int = 0
    picked: int = 0
    packed: int = 0
    shipped: int = 0
    on_returns: int = 0
    returned: int = 0

    @property
    def open(self) -> int:
        """Still only promised: reserved or backordered."""
        return self.quantity - self.cancelled - self.picked


@dataclass
class Order:
    number: str
    lines: dict[str, Line]
    delivered: bool = False

    @property
    def active(self) -> int:
        return sum(line.quantity - line.cancelled for line in self.lines.values())

    @property
    def shipped(self) -> int:
        return sum(line.shipped for line in self.lines.values())


@dataclass
class Return:
    number: str
    order: Order
    sku: str
    warehouse: str
    quantity: int
    received: int = 0
    inspected: int = 0


@dataclass
class Model:
    warehouses: dict[str, str]  # "A"/"B" -> code
    skus: list[str]
    barcodes: dict[str, str]
    bins: dict[tuple[str, str], int] = field(default_factory=dict)  # (sku, WH/BIN) -> units
    packing: Counter = field(default_factory=Counter)  # sku -> units picked and not yet shipped
    orders: list[Order] = field(default_factory=list)
    pick_lists: list[int] = field(default_factory=list)
    returns: list[Return] = field(default_factory=list)

    def addresses(self) -> list[str]:
        return [f"{self.warehouses[w]}/{b}" for w, bins in BINS.items() for b in bins]

    def on_hand(self, sku: str, warehouse: str) -> int:
        return sum(q for (s, address), q in self.bins.items() if s == sku and address.startswith(warehouse + "/"))

    def open_demand(self, sku: str) -> int:
        return sum(o.lines[sku].open for o in self.orders if sku in o.lines)

    def reserved(self, sku: str) -> int:
        """First come, first served and never idle: demand takes all the stock it can."""
        return min(self.open_demand(sku), sum(self.on_hand(sku, w) for w in self.warehouses.values()))

    def available(self, sku: str) -> int:
        return sum(self.on_hand(sku, w) for w in self.warehouses.values()) - self.reserved(sku)


class Fulfilment(RuleBasedStateMachine):
    service: Service  # bound by the test

    def __init__(self) -> None:
        super().__init__()
        n = next(_worlds)
        warehouses = {"A": f"SM{n}A", "B": f"SM{n}B"}
        for offset, (name, code) in enumerate(warehouses.items()):
            # Each world's warehouses come first (lower ships first), so backorders wait in this world too.
            priority = 10_000 - 2 * n + offset
            self.ok("admin", "POST", "/warehouses", {"code": code, "name": f"Warehouse {code}", "priority": priority})
            for sequence, bin_code in enumerate(BINS[name]):
                self.ok("admin", "POST", f"/warehouses/{code}/locations", {"code": bin_code, "sequence": sequence})
        skus = [f"SM{n}-P{i}" for i in range(2)]
        barcodes = {sku: f"77{n}0{i}" for i, sku in enumerate(skus)}
        for sku in skus:
            self.ok("admin", "POST", "/products", {"sku": sku, "name": f"Product {sku}", "barcode": barcodes[sku]})
        self.model = Model(warehouses, skus, barcodes)
        # As of the last step: open pick list lines, and warehouses with reserved units not yet on a list.
        self.picks: list[tuple[int, dict[str, Any]]] = []
        self.pickable: list[str] = []

    # --- talking to the service ------------------------------------------------------------------

    def call(self, role: str, method: str, path: str, body: Any = None) -> httpx.Response:
        response = self.service.call(role, method, path, body)
        assert response.status_code < 500, f"{method} {path} {body}: {response.status_code} {response.text}"
        return response

    def ok(self, role: str, method: str, path: str, body: Any = None) -> Any:
        return self.service.ok(role, method, path, body)

    def expect(self, response: httpx.Response, status: int, code: str | None = None) -> Any:
        assert response.status_code == status, f"expected {status} {code or ''}: {response.status_code} {response.text}"
        if code is not None:
            assert response.json()["code"] == code, response.text
        return response.json()

    def stock(self, sku: str) -> dict[str, dict[str, Any]]:
        rows, cursor = [], None
        while True:
            page = self.ok("admin", "GET", f"/stock?sku={sku}&limit=500" + (f"&cursor={cursor}" if cursor else ""))
            rows += page["items"]
            if not (cursor := page["next_cursor"]):
                return {row["warehouse"]: row for row in rows}

    def pick_list(self, pick_list_id: int) -> dict[str, Any]:
        return self.ok("warehouse", "GET", f"/pick-lists/{pick_list_id}")

    def open_picks(self) -> list[tuple[int, dict[str, Any]]]:
        return [(pick_list_id, line) for pick_list_id in self.model.pick_lists
                for line in self.pick_list(pick_list_id)["lines"] if line["quantity"] - line["picked"] - line["short"] > 0]

    # --- stock ----------------------------------------------------------------------------------

    @initialize(quantities=st.lists(st.integers(0, 6), min_size=6, max_size=6))
    def initial_stock(self, quantities: list[int]) -> None:
        pairs = [(sku, address) for sku in self.model.skus for address in self.model.addresses()]
        for (sku, address), quantity in zip(pairs, quantities, strict=True):
            if quantity:
                self.ok("warehouse", "POST", "/stock/adjustments",
                        {"sku": sku, "location": address, "quantity_delta": quantity, "reason": "initial_stock"})
                self.model.bins[sku, address] = quantity

    @initialize(seed=SEED)
    def initial_orders(self, seed: int) -> None:
        choose = random.Random(seed)
        for _ in range(choose.randint(0, 3)):
            self.place({sku: choose.randint(1, 6) for sku in choose.sample(self.model.skus, choose.randint(1, 2))},
                       allow_backorder=True)

    # Every rule takes one number and derives its choices from it (`Random(seed)`): hypothesis then weighs
    # the rules alike instead of preferring those with fewer arguments, and what it draws never depends on
    # the state, so its replays stay consistent. `note()` says what each step did in a failure report.

    @rule(seed=SEED)
    def adjust(self, seed: int) -> None:
        choose = random.Random(seed)
        sku, address = choose.choice(self.model.skus), choose.choice(self.model.addresses())
        held = self.model.bins.get((sku, address), 0)
        counted = choose.randint(0, 8) if choose.random() < 0.3 else None
        delta = choose.choice([-4, -3, -2, -1, 1, 2, 3, 4, 5, 6])
        change = delta if counted is None else counted - held
        available_here = self.stock(sku)[address.partition("/")[0]]["available"]
        body = {"sku": sku, "location": address, "reason": "cycle_count" if counted is not None else "found"}
        body |= {"counted_quantity": counted} if counted is not None else {"quantity_delta": delta}
        note(f"adjust {body}")
        response = self.call("warehouse", "POST", "/stock/adjustments", body)
        if change < 0 and (held < -change or available_here < -change):
            self.expect(response, 409, "insufficient_stock")
            return
        self.expect(response, 201)
        self.model.bins[sku, address] = held + change

    @rule(seed=SEED)
    def transfer(self, seed: int) -> None:
        choose = random.Random(seed)
        sku = choose.choice(self.model.skus)
        source, target = choose.sample(self.model.addresses(), 2)
        quantity = choose.randint(1, 5)
        held = self.model.bins.get((sku, source), 0)
        source_warehouse = source.partition("/")[0]
        across = source_warehouse != target.partition("/")[0]
        available_there = self.stock(sku)[source_warehouse]["available"]
        note(f"transfer {quantity} {sku} {source} -> {target}")
        response = self.call("warehouse", "POST", "/stock/transfers",
                             {"sku": sku, "from_location": source, "to_location": target, "quantity": quantity})
        if held < quantity or (across and available_there < quantity):
            self.expect(response, 409, "insufficient_stock")
            return
        # Within one warehouse, reserved units move between bins freely: what the warehouse holds is unchanged.
        self.expect(response, 201)
        self.model.bins[sku, source] = held - quantity
        self.model.bins[sku, target] = self.model.bins.get((sku, target), 0) + quantity

    # --- orders ---------------------------------------------------------------------------------

    @rule(seed=SEED)
    def place_order(self, seed: int) -> None:
        choose = random.Random(seed)
        skus = choose.sample(self.model.skus, choose.randint(1, 2))
        self.place({sku: choose.randint(1, 6) for sku in skus}, allow_backorder=choose.random() < 0.7)

    def place(self, lines: dict[str, int], allow_backorder: bool) -> None:
        available = {sku: self.model.available(sku) for sku in lines}
        note(f"place {lines} allow_backorder={allow_backorder}")
        response = self.call("service", "POST", "/orders", {
            "customer": {"name": "Model Customer", "email": "model@example.com"}, "channel": "web",
            "lines": [{"sku": sku, "quantity": q} for sku, q in lines.items()], "allow_backorder": allow_backorder})
        if not allow_backorder and any(q > available[sku] for sku, q in lines.items()):
            self.expect(response, 409, "insufficient_stock")
            return
        order = self.expect(response, 201)
        for line in order["lines"]:
            # A new order takes what is free now; whatever is missing waits behind earlier demand.
            assert line["reserved"] == min(line["quantity"], available[line["sku"]]), (line, available)
            assert line["backordered"] == line["quantity"] - line["reserved"], line
        self.model.orders.append(Order(order["number"], {sku: Line(sku, q) for sku, q in lines.items()}))

    @precondition(lambda self: any(line.open for o in self.model.orders for line in o.lines.values()))
    @rule(seed=SEED)
    def cancel(self, seed: int) -> None:
        """The whole order (any order: one with nothing left to cancel is refused), or part of an open line."""
        choose = random.Random(seed)
        if choose.random() < 0.4:
            order = choose.choice(self.model.orders)
            note(f"cancel {order.number}")
            response = self.call("service", "POST", f"/orders/{order.number}/cancel", {"reason": "changed mind"})
            if not any(line.open for line in order.lines.values()):
                self.expect(response, 409, "invalid_transition")
                return
            self.expect(response, 200)
            for line in order.lines.values():
                line.cancelled += line.open
            return
        order, line = choose.choice([(o, line) for o in self.model.orders
                                     for line in sorted(o.lines.values(), key=lambda x: x.sku) if line.open])
        quantity = choose.randint(1, line.open + 1)
        note(f"cancel {quantity} {line.sku} of {order.number}")
        response = self.call("service", "POST", f"/orders/{order.number}/cancel",
                             {"lines": [{"sku": line.sku, "quantity": quantity}]})
        if quantity > line.open:
            self.expect(response, 409, "invalid_transition")
            return
        self.expect(response, 200)
        line.cancelled += quantity

    # --- the warehouse --------------------------------------------------------------------------

    @precondition(lambda self: self.pickable)
    @rule(seed=SEED)
    def create_pick_list(self, seed: int) -> None:
        choose = random.Random(seed)
        warehouse, max_orders = choose.choice(self.pickable), choose.randint(1, 3)
        listed_before = Counter()
        for _, line in self.picks:
            listed_before[line["sku"], line["location"]] += line["quantity"] - line["picked"] - line["short"]
        note(f"pick list at {warehouse} for up to {max_orders} orders")
        response = self.call("warehouse", "POST", "/pick-lists", {"warehouse": warehouse, "max_orders": max_orders})
        if response.status_code == 409:
            self.expect(response, 409, "nothing_to_pick")
            return
        pick_list = self.expect(response, 201)
        self.model.pick_lists.append(pick_list["id"])
        asked = Counter()
        for line in pick_list["lines"]:
            assert line["location"].startswith(warehouse + "/"), line
            asked[line["sku"], line["location"]] += line["quantity"]
        for (sku, address), quantity in asked.items():
            # Never asks a bin for more than it holds beyond what open pick lists already claim there.
            free = max(0, self.model.bins.get((sku, address), 0) - listed_before[sku, address])
            assert quantity <= free, (sku, address, quantity, free)

    @precondition(lambda self: self.picks)
    @rule(seed=SEED)
    def confirm_pick(self, seed: int) -> None:
        """All that is listed at a bin, some of it, a short pick (the bin held less), or a wrong product."""
        choose = random.Random(seed)
        pick_list_id, line = choose.choice(self.picks)
        how = choose.choice(["all", "all", "some", "short", "wrong_product"])
        before = self.pick_list(pick_list_id)
        wanted = sum(x["quantity"] - x["picked"] - x["short"] for x in before["lines"]
                     if x["location"] == line["location"] and x["sku"] == line["sku"])
        scan: dict[str, Any] = {"location": line["location"]}
        scan |= {"barcode": self.model.barcodes[line["sku"]]} if choose.random() < 0.5 else {"sku": line["sku"]}
        path = f"/pick-lists/{pick_list_id}/confirm"
        if how == "wrong_product":
            other = next(sku for sku in self.model.skus if sku != line["sku"])
            if any(x["location"] == line["location"] and x["sku"] == other for x in before["lines"]):
                return  # not a wrong product here after all
            note(f"scan {other} at {line['location']} for pick list {pick_list_id}")
            response = self.call("warehouse", "POST", path, {"location": line["location"], "sku": other, "quantity": 1})
            self.expect(response, 409, "scan_mismatch")
            assert self.pick_list(pick_list_id) == before
            return
        short = how == "short"
        quantity = {"all": wanted, "some": choose.randint(1, wanted), "short": choose.randint(0, wanted - 1)}[how]
        held = self.model.bins.get((line["sku"], line["location"]), 0)
        note(f"pick {quantity} of {wanted} {line['sku']} at {line['location']}{' (short)' if short else ''}")
        response = self.call("warehouse", "POST", path, scan | {"quantity": quantity, "short": short})
        if held < quantity:
            self.expect(response, 409, "insufficient_stock")
            return
        after = self.expect(response, 200)
        picked = {x["id"]: x["picked"] for x in before["lines"]}
        took = 0
        for x in after["lines"]:
            increment = x["picked"] - picked[x["id"]]
            if increment:
                assert (x["sku"], x["location"]) == (line["sku"], line["location"]), x
                order = next(o for o in self.model.orders if o.number == x["order"])
                order.lines[x["sku"]].picked += increment
                took += increment
        assert took == quantity, (took, quantity)
        self.model.bins[line["sku"], line["location"]] = 0 if short else held - quantity
        self.model.packing[line["sku"]] += quantity

    def advanceable(self) -> list[Order]:
        """Orders with picked units to pack or ship, or shipped in full and waiting for delivery."""
        return [o for o in self.model.orders if any(line.picked > line.shipped for line in o.lines.values())
                or (o.shipped == o.active > 0 and not o.delivered)]

    @precondition(lambda self: self.advanceable())
    @rule(seed=SEED)
    def advance_an_order(self, seed: int) -> None:
        """The next step for a picked order: verify and pack it, ship it, or confirm its delivery."""
        choose = random.Random(seed)
        order = choose.choice(self.advanceable())
        wrong = choose.random() < 0.25
        if any(line.picked > line.packed for line in order.lines.values()):
            self.pack(order, wrong=wrong, by_the_picker=choose.random() < 0.5)
        elif any(line.packed > line.shipped for line in order.lines.values()):
            self.ship(order, choose)
        else:
            self.confirm_delivery(order, early=wrong)

    def pack(self, order: Order, wrong: bool, by_the_picker: bool) -> None:
        """A second person scans exactly what was picked; a miscount, or the picker packing, is refused."""
        items = [{"sku": line.sku, "quantity": line.picked - line.packed}
                 for line in order.lines.values() if line.picked > line.packed]
        if wrong and not by_the_picker:
            items[0]["quantity"] += 1
        before = self.ok("admin", "GET", f"/orders/{order.number}")
        packer = "warehouse" if wrong and by_the_picker else "warehouse2"
        note(f"{packer} packs {order.number}: {items}")
        response = self.call(packer, "POST", f"/orders/{order.number}/pack", {"items": items})
        if wrong:
            self.expect(response, *((403, "forbidden") if by_the_picker else (409, "scan_mismatch")))
            assert self.ok("admin", "GET", f"/orders/{order.number}")["lines"] == before["lines"]
            return
        self.expect(response, 200)
        for line in order.lines.values():
            line.packed = line.picked

    def ship(self, order: Order, choose: random.Random) -> None:
        waiting = {line.sku: line.packed - line.shipped for line in order.lines.values() if line.packed > line.shipped}
        body: dict[str, Any] = {"carrier": "UPS", "tracking_number": f"1Z{len(self.model.orders)}"}
        if choose.random() < 0.5:
            sku = choose.choice(sorted(waiting))
            waiting = {sku: choose.randint(1, waiting[sku])}
            body["lines"] = [{"sku": sku, "quantity": q} for sku, q in waiting.items()]
        note(f"ship {order.number}: {waiting}")
        self.expect(self.call("warehouse", "POST", f"/orders/{order.number}/shipments", body), 201)
        for sku, quantity in waiting.items():
            order.lines[sku].shipped += quantity
            self.model.packing[sku] -= quantity

    def confirm_delivery(self, order: Order, early: bool) -> None:
        """The carrier confirms a fully shipped order; one still waiting for units is refused."""
        unfinished = [o for o in self.model.orders if o.active and o.shipped < o.active]
        if early and unfinished:
            note(f"deliver {unfinished[0].number} early")
            self.expect(self.call("integration", "POST", f"/orders/{unfinished[0].number}/delivered"),
                        409, "invalid_transition")
            return
        note(f"deliver {order.number}")
        self.expect(self.call("integration", "POST", f"/orders/{order.number}/delivered"), 200)
        order.delivered = True

    @precondition(lambda self: self.pickable or self.picks or self.advanceable())
    @rule(seed=SEED)
    def warehouse_round(self, seed: int) -> None:
        """A stretch of warehouse work, checked after each part: pick lists, picks, orders moved on. (Single
        rules rarely line up into a whole fulfilment in a bounded number of steps.)"""
        choose = random.Random(seed)
        for _ in range(choose.randint(2, 6)):
            work = [step for step, possible in ((self.create_pick_list, self.pickable), (self.confirm_pick, self.picks),
                                                (self.advance_an_order, self.advanceable())) if possible]
            if not work:
                return
            choose.choice(work)(choose.getrandbits(32))
            self.the_ledger_and_the_model_agree()

    # --- returns --------------------------------------------------------------------------------

    @precondition(lambda self: any(line.shipped for o in self.model.orders for line in o.lines.values()))
    @rule(seed=SEED)
    def authorize_return(self, seed: int) -> None:
        """Shipped units come back for a refund; more than shipped and not yet on a return is refused."""
        choose = random.Random(seed)
        order, line = choose.choice([(o, line) for o in self.model.orders
                                     for line in sorted(o.lines.values(), key=lambda x: x.sku) if line.shipped])
        returnable = line.shipped - line.on_returns
        quantity = choose.randint(1, returnable + 1)
        warehouse = choose.choice(sorted(self.model.warehouses.values()))
        note(f"return {quantity} {line.sku} of {order.number} to {warehouse}")
        response = self.call("service", "POST", "/returns", {
            "order": order.number, "resolution": "refund", "warehouse": warehouse,
            "lines": [{"sku": line.sku, "quantity": quantity, "reason": "defective"}]})
        if quantity > returnable:
            self.expect(response, 409, "not_returnable")
            return
        created = self.expect(response, 201)
        line.on_returns += quantity
        self.model.returns.append(Return(created["number"], order, line.sku, warehouse, quantity))

    @precondition(lambda self: any(r.quantity > r.received for r in self.model.returns))
    @rule(seed=SEED)
    def receive_return(self, seed: int) -> None:
        """Goods in, into quarantine: some of what is expected, or more (refused)."""
        choose = random.Random(seed)
        ret = choose.choice([r for r in self.model.returns if r.quantity > r.received])
        quantity = choose.randint(1, ret.quantity - ret.received + 1)
        note(f"receive {quantity} {ret.sku} on {ret.number}")
        response = self.call("warehouse", "POST", f"/returns/{ret.number}/receive",
                             {"lines": [{"sku": ret.sku, "quantity": quantity}]})
        if quantity > ret.quantity - ret.received:
            self.expect(response, 409, "over_receipt")
            return
        self.expect(response, 200)
        ret.received += quantity
        ret.order.lines[ret.sku].returned += quantity

    @precondition(lambda self: any(r.received > r.inspected for r in self.model.returns))
    @rule(seed=SEED)
    def inspect_return(self, seed: int) -> None:
        """A second person restocks some of what arrived into a bin (where it serves waiting demand) and
        scraps the rest; the person who received it is refused."""
        choose = random.Random(seed)
        ret = choose.choice([r for r in self.model.returns if r.received > r.inspected])
        waiting = ret.received - ret.inspected
        restock = choose.randint(0, waiting)
        address = f"{ret.warehouse}/{choose.choice(BINS['A'] if ret.warehouse.endswith('A') else BINS['B'])}"
        body = {"lines": [{"sku": ret.sku, "restock": restock, "scrap": waiting - restock, "location": address}]}
        if choose.random() < 0.2:
            note(f"{ret.number} inspected by its receiver")
            self.expect(self.call("warehouse", "POST", f"/returns/{ret.number}/inspect", body), 403, "forbidden")
            return
        note(f"inspect {ret.number}: restock {restock} at {address}, scrap {waiting - restock}")
        self.expect(self.call("warehouse2", "POST", f"/returns/{ret.number}/inspect", body), 200)
        ret.inspected += waiting
        self.model.bins[ret.sku, address] = self.model.bins.get((ret.sku, address), 0) + restock

    def returnable(self) -> bool:
        return any(line.shipped for o in self.model.orders for line in o.lines.values())

    @precondition(lambda self: self.returnable())
    @rule(seed=SEED)
    def returns_round(self, seed: int) -> None:
        """A return followed through, checked after each part: authorized, received, inspected. (Shipped
        units are rare in a bounded sequence, so single return rules seldom line up.)"""
        choose = random.Random(seed)
        for step, possible in ((self.authorize_return, self.returnable),
                               (self.receive_return, lambda: any(r.quantity > r.received for r in self.model.returns)),
                               (self.inspect_return, lambda: any(r.received > r.inspected for r in self.model.returns))):
            if possible():
                step(choose.getrandbits(32))
                self.the_ledger_and_the_model_agree()

    # --- after every step -----------------------------------------------------------------------

    @invariant()
    def the_ledger_and_the_model_agree(self) -> None:
        violations = self.service.violations()
        assert not violations, "ledger invariants broken:\n" + "\n".join(f"{v.rule}: {v.rows}" for v in violations)
        model = self.model
        views = {o.number: self.ok("admin", "GET", f"/orders/{o.number}") for o in model.orders}
        reserved_at = Counter()
        for sku in model.skus:
            levels = self.stock(sku)
            allocated = Counter()
            for order in model.orders:
                for line in views[order.number]["lines"]:
                    if line["sku"] == sku:
                        for allocation in line["allocations"]:
                            allocated[allocation["warehouse"]] += allocation["reserved"]
            for code in model.warehouses.values():
                level = levels[code]
                reserved_at[code] += level["reserved"]
                # Returned goods wait in quarantine until inspected, never in sellable stock.
                assert level["quarantined"] == sum(r.received - r.inspected for r in model.returns
                                                   if r.sku == sku and r.warehouse == code), (sku, level)
                assert level["on_hand"] == model.on_hand(sku, code), (sku, level, model.bins)
                assert level["available"] == level["on_hand"] - level["reserved"], level
                assert level["reserved"] == allocated[code], (sku, level, allocated)
            reserved = sum(level["reserved"] for level in levels.values())
            backordered = sum(level["backordered"] for level in levels.values())
            assert reserved == model.reserved(sku), (sku, reserved, model.reserved(sku), model.open_demand(sku))
            assert backordered == model.open_demand(sku) - reserved, (sku, backordered, model.open_demand(sku))
            if backordered:
                assert all(level["available"] == 0 for level in levels.values()), (sku, levels)
            places = {x["location"]: x["quantity"]
                      for x in self.ok("admin", "GET", f"/stock/{sku}/locations?limit=500")["items"]}
            for address in model.addresses():
                assert places.get(address, 0) == model.bins.get((sku, address), 0), (sku, address, places)
            in_packing = sum(q for address, q in places.items() if address.endswith("/PACKING"))
            assert in_packing == model.packing[sku], (sku, places, model.packing)
        for order in model.orders:
            view = views[order.number]
            assert {line["sku"] for line in view["lines"]} == set(order.lines), view
            for line in view["lines"]:
                expected = order.lines[line["sku"]]
                assert (line["quantity"], line["cancelled"], line["picked"], line["packed"], line["shipped"],
                        line["returned"]) == (expected.quantity, expected.cancelled, expected.picked, expected.packed,
                                              expected.shipped, expected.returned), line
                assert line["reserved"] + line["backordered"] == expected.open, line
                assert line["reserved"] == sum(a["reserved"] for a in line["allocations"]), line
            if order.active == 0:
                assert view["status"] == "cancelled", view["status"]
            elif order.shipped == order.active:
                assert view["status"] == ("delivered" if order.delivered else "shipped"), view["status"]
            elif order.shipped:
                assert view["status"] == "partially_shipped", view["status"]
            elif any(line["backordered"] for line in view["lines"]):
                assert view["status"] == "backordered", view["status"]
        self.picks = self.open_picks()
        listed = Counter(line["location"].partition("/")[0] for _, line in self.picks
                         for _ in range(line["quantity"] - line["picked"] - line["short"]))
        self.pickable = [code for code in model.warehouses.values() if reserved_at[code] > listed[code]]


def test_random_fulfilment_keeps_the_ledger_and_the_model_in_agreement(database_url, keys):
    with running_service(database_url, keys) as service:
        machine = type("BoundFulfilment", (Fulfilment,), {"service": service})
        run_state_machine_as_test(machine, settings=SETTINGS)


async def test_reserved_stock_moves_between_bins_of_its_warehouse(api):
    """Re-slotting stock between bins does not change what the warehouse holds, reserved or not."""
    await given_warehouse(api, "MAD-1", bins=("A-01", "A-02"))
    await given_product(api, "LAP-1")
    await given_stock(api, "LAP-1", "MAD-1/A-01", 5)
    await api.as_("service").ok("post", "/orders", order_body(("LAP-1", 5)))
    response = await api.as_("warehouse").post("/stock/transfers", {
        "sku": "LAP-1", "from_location": "MAD-1/A-01", "to_location": "MAD-1/A-02", "quantity": 5})
    assert response.status_code == 201, response.text
    level = await stock_of(api, "LAP-1", "MAD-1")
    assert (level["on_hand"], level["reserved"]) == (5, 5)
