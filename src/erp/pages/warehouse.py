"""The warehouse's screens (API.md "Pages", DOMAIN.md sections 3-5): open pick lists, picking by scan, pack
verification and receiving. Every decision is the domains' (picking, shipping, receiving, returns): these
routes read a scan, call the service, and show what it said.

Picking by scan, for a keyboard-wedge scanner (a scan is typed characters then Enter), one input:
- a bin label (`MAD-1/A-01`, or `A-01` within the list's warehouse) chooses the bin;
- then each product barcode or sku confirms 1 unit taken from that bin; `3*CODE` confirms 3;
- `!N` (or the Short button, Alt+S, with N typed first) reports a short pick at the bin: N units found.
"""

import re
from collections.abc import Awaitable
from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from erp.db import SessionDep
from erp.errors import DomainError, NotFound
from erp.orders import picking, shipping
from erp.orders.router import OrderNumber
from erp.orders.schemas import PackRequest, PickConfirm, PickListCreate, PickListOut
from erp.pages import web
from erp.pages.web import Form, WarehouseWorker
from erp.people.sessions import SignedIn
from erp.returns import service as returns
from erp.returns.schemas import ReturnReceive
from erp.returns.view import return_view
from erp.suppliers import receiving
from erp.suppliers.purchase_orders import purchase_order_view
from erp.suppliers.schemas import ReceiptCreate

router = APIRouter(route_class=web.PageRoute, include_in_schema=False)

WAREHOUSES = text("SELECT code, name FROM warehouse ORDER BY priority, code")
# Open pick lists of a warehouse, summed up for the chooser (GET /pick-lists answers them line by line).
OPEN_PICK_LISTS = text("""
    SELECT pl.id, pl.created_at, pl.created_by, count(DISTINCT l.order_id) AS orders,
           coalesce(sum(p.quantity), 0) AS units, coalesce(sum(p.picked + p.short), 0) AS done
      FROM pick_list pl JOIN warehouse w ON w.id = pl.warehouse_id
      LEFT JOIN pick_list_line p ON p.pick_list_id = pl.id LEFT JOIN order_line l ON l.id = p.order_line_id
     WHERE w.code = :w AND pl.status = 'open'
     GROUP BY pl.id ORDER BY pl.id
""")
# Orders with units picked at the warehouse and not yet packed: the packer's queue.
TO_PACK = text("""
    SELECT o.number, sum(l.picked - l.packed) AS units FROM sales_order o JOIN order_line l ON l.order_id = o.id
     WHERE l.picked > l.packed AND EXISTS (
           SELECT 1 FROM pick_list_line p JOIN pick_list pl ON pl.id = p.pick_list_id JOIN warehouse w
             ON w.id = pl.warehouse_id WHERE p.order_line_id = l.id AND w.code = :w)
     GROUP BY o.id ORDER BY o.id
""")
# What an order has picked and not packed, by product: what the second person should find in the box.
UNPACKED = text("""
    SELECT p.sku, p.barcode, p.name, sum(l.picked - l.packed) AS unpacked FROM order_line l
      JOIN sales_order o ON o.id = l.order_id JOIN product p ON p.id = l.product_id
     WHERE o.number = :n GROUP BY p.id ORDER BY p.sku
""")
PICKED_BY = text("""
    SELECT DISTINCT p.picked_by FROM pick_list_line p JOIN order_line l ON l.id = p.order_line_id
      JOIN sales_order o ON o.id = l.order_id WHERE o.number = :n AND p.picked > 0 AND p.picked_by IS NOT NULL
""")
ORDER_EXISTS = text("SELECT 1 FROM sales_order WHERE number = :n")

COUNT = "count."  # pack verification: `count.<sku>` carries the units scanned so far
QUANTITY = "qty."  # receiving: `qty.<sku>` the units received now
TIMES = re.compile(r"^([0-9]{1,6})\s*[*]\s*(\S+)$")  # `3*CODE`: three units of CODE


def open_of(line: Any) -> int:
    return line.quantity - line.picked - line.short


# --- open pick lists ----------------------------------------------------------------------------------


async def _warehouse_page(request: Request, session: AsyncSession, person: SignedIn, code: str, status: int = 200,
                          error: str | None = None) -> Response:
    warehouses = (await session.execute(WAREHOUSES)).all()
    codes = [w.code for w in warehouses]
    code = code if code in codes else (codes[0] if codes else "")
    lists = (await session.execute(OPEN_PICK_LISTS, {"w": code})).all() if code else []
    to_pack = (await session.execute(TO_PACK, {"w": code})).all() if code else []
    return web.render(request, "warehouse.html", status, person=person, title="Warehouse", warehouses=warehouses,
                      warehouse=code, lists=lists, to_pack=to_pack, error=error, form_token=web.new_form_token())


@router.get("/warehouse")
async def warehouse(request: Request, session: SessionDep, person: WarehouseWorker, warehouse: str = "") -> Response:
    return await _warehouse_page(request, session, person, warehouse.strip().upper()[:16])


@router.post("/warehouse/pick-lists")
async def build_pick_list(request: Request, session: SessionDep, person: WarehouseWorker, form: Form) -> Response:
    code = form.get("warehouse", "").strip().upper()[:16]
    try:
        data = PickListCreate.model_validate({"warehouse": code})
    except ValidationError:
        return await _warehouse_page(request, session, person, code, 422, "Choose a warehouse.")
    built: list[PickListOut] = []

    async def build() -> None:
        built.append(await picking.create_pick_list(session, data, person.principal))

    try:
        await web.once(request, session, person, form.get("form_token"), build)
    except DomainError as refused:
        return await _warehouse_page(request, session, person, code, refused.status, refused.detail)
    # A resend of the same form built nothing: the list it built is on the warehouse's page.
    return web.redirect(f"/warehouse/pick-lists/{built[0].id}" if built else f"/warehouse?warehouse={code}")


# --- picking by scan ----------------------------------------------------------------------------------


async def _pick_list(session: AsyncSession, pick_list_id: int) -> PickListOut:
    try:
        return await picking.get_pick_list(session, pick_list_id)
    except NotFound:
        raise web.PageError(404, "No such pick list", f"There is no pick list {pick_list_id}.") from None


def _next_pick(pick_list: PickListOut, at: str) -> Any:
    """The pick to do next: the first open one in the chosen bin, else the first open one in walking order."""
    open_lines = [line for line in pick_list.lines if open_of(line) > 0]
    return next((line for line in open_lines if line.location == at), open_lines[0] if open_lines else None)


async def _pick_page(request: Request, session: AsyncSession, person: SignedIn, pick_list_id: int, at: str = "",
                     status: int = 200, error: str | None = None, done: str | None = None) -> Response:
    pick_list = await _pick_list(session, pick_list_id)
    if not any(line.location == at and open_of(line) > 0 for line in pick_list.lines):
        at = ""  # that bin is done: the next pick starts with scanning its bin
    following = _next_pick(pick_list, at)
    return web.render(request, "pick.html", status, person=person, title=f"Pick list {pick_list_id}",
                      pick_list=pick_list, next=following, at=at, error=error, done=done, open_of=open_of,
                      form_token=web.new_form_token())


@router.get("/warehouse/pick-lists/{pick_list_id}")
async def pick_page(request: Request, session: SessionDep, person: WarehouseWorker, pick_list_id: int, at: str = "",
                    sku: str = "", n: int = 0, short: int = 0) -> Response:
    done = None
    if sku:
        done = (f"Short pick recorded: {n} × {sku} found at {at}." if short else f"Picked {n} × {sku} from {at}.")
    return await _pick_page(request, session, person, pick_list_id, at[:49], done=done)


def _bin_of(pick_list: PickListOut, value: str) -> str | None:
    """The bin a scan names, if it names one: a full address, or a bin code of the list's warehouse."""
    upper = value.upper()
    addresses = {line.location for line in pick_list.lines}
    for candidate in (upper, f"{pick_list.warehouse}/{upper}"):
        if candidate in addresses:
            return candidate
    return upper if "/" in upper else None


@router.post("/warehouse/pick-lists/{pick_list_id}/scan")
async def scan(request: Request, session: SessionDep, person: WarehouseWorker, form: Form,
               pick_list_id: int) -> Response:
    pick_list = await _pick_list(session, pick_list_id)
    value, at = form.get("scan", "").strip()[:80], form.get("at", "").strip().upper()[:49]
    short = "short" in form or value.startswith("!")

    def again(message: str, status: int = 409) -> Any:
        return _pick_page(request, session, person, pick_list_id, at, status, message)

    if not short:
        if not value:
            return await again("Scan a bin label or an item.", 422)
        chosen = _bin_of(pick_list, value)
        if chosen is not None:
            if not any(line.location == chosen and open_of(line) > 0 for line in pick_list.lines):
                return await again(f"Pick list {pick_list_id} has nothing to pick at {chosen}.")
            return web.redirect(f"/warehouse/pick-lists/{pick_list_id}?{urlencode({'at': chosen})}")
    if not at:
        return await again("Scan the bin first: its label, then the items.", 422)
    if short:
        found = value.removeprefix("!").strip() or "0"
        expected = _next_pick(pick_list, at)
        units = web.whole_number(found)
        if units is None or expected is None or expected.location != at:
            return await again("A short pick is the units found in the bin: type them, then Short (or !N).", 422)
        quantity, fields = units, {"sku": expected.sku, "short": True}
    else:
        times = TIMES.match(value)
        quantity, code = (int(times.group(1)), times.group(2)) if times else (1, value)
        by_barcode = any(line.barcode == code for line in pick_list.lines)
        # A sku typed by hand in another case is the list's sku; anything else goes to the domain as scanned.
        typed = next((line.sku for line in pick_list.lines if line.sku.casefold() == code.casefold()), code)
        fields = {"barcode": code} if by_barcode else {"sku": typed}
    try:
        confirm = PickConfirm.model_validate({"location": at, "quantity": quantity, **fields})
    except ValidationError:
        return await again(f"“{value}” is not a bin, a barcode or a sku.", 422)
    try:
        await web.once(request, session, person, form.get("form_token"),
                      lambda: picking.confirm_pick(session, pick_list_id, confirm, person.principal, date.today()))
    except DomainError as refused:
        return await again(refused.detail, refused.status)
    sku = fields.get("sku") or next(line.sku for line in pick_list.lines if line.barcode == fields["barcode"])
    done = {"at": at, "sku": sku, "n": quantity, **({"short": 1} if short else {})}
    return web.redirect(f"/warehouse/pick-lists/{pick_list_id}?{urlencode(done)}")


# --- pack verification --------------------------------------------------------------------------------


def _counts(fields: dict[str, str], skus: set[str]) -> dict[str, int]:
    counts = {}
    for name, value in fields.items():
        sku = name.removeprefix(COUNT)
        n = web.whole_number(value)
        if name.startswith(COUNT) and sku in skus and n is not None:
            counts[sku] = n
    return counts


async def _pack_page(request: Request, session: AsyncSession, person: SignedIn, number: str, counts: dict[str, int],
                     status: int = 200, error: str | None = None, done: str | None = None) -> Response:
    lines = (await session.execute(UNPACKED, {"n": number})).all()
    if not lines and (await session.execute(ORDER_EXISTS, {"n": number})).first() is None:
        raise web.PageError(404, "No such order", f"There is no order {number}.")
    pickers = (await session.execute(PICKED_BY, {"n": number})).scalars().all()
    return web.render(request, "pack.html", status, person=person, title=f"Pack {number}", number=number,
                      lines=[line for line in lines if line.unpacked > 0 or counts.get(line.sku)], counts=counts,
                      pickers=pickers, error=error, done=done, count_field=COUNT, form_token=web.new_form_token())


@router.get("/warehouse/orders/{number}/pack")
async def pack_page(request: Request, session: SessionDep, person: WarehouseWorker, number: OrderNumber,
                    packed: int = 0) -> Response:
    """Scanning is a GET (it changes nothing): the counts so far travel in the form, each scan adds one."""
    fields = dict(request.query_params)
    lines = (await session.execute(UNPACKED, {"n": number})).all()
    counts = _counts(fields, {line.sku for line in lines})
    value = fields.get("scan", "").strip()[:80]
    if "scan" not in fields:
        return await _pack_page(request, session, person, number, counts,
                                done=f"Packed {number}: it can be shipped." if packed else None)
    times = TIMES.match(value)
    quantity, code = (int(times.group(1)), times.group(2)) if times else (1, value)
    line = next((line for line in lines if code in (line.sku, line.barcode)), None)
    if line is None:
        error = f"“{value}” is not in this order's picks; not counted." if value else "Scan an item."
        return await _pack_page(request, session, person, number, counts, 409 if value else 422, error)
    counts[line.sku] = counts.get(line.sku, 0) + quantity
    query = urlencode({f"{COUNT}{sku}": n for sku, n in counts.items()})
    return web.redirect(f"/warehouse/orders/{number}/pack?{query}")


@router.post("/warehouse/orders/{number}/pack")
async def pack(request: Request, session: SessionDep, person: WarehouseWorker, form: Form,
               number: OrderNumber) -> Response:
    lines = (await session.execute(UNPACKED, {"n": number})).all()
    counts = _counts(form, {line.sku for line in lines})
    items = [{"sku": sku, "quantity": n} for sku, n in counts.items() if n > 0]
    if not items:
        return await _pack_page(request, session, person, number, counts, 422, "Scan what goes in the box first.")
    data = PackRequest.model_validate({"items": items})
    try:
        await web.once(request, session, person, form.get("form_token"),
                      lambda: shipping.pack(session, number, data, person.principal, date.today()))
    except DomainError as refused:
        return await _pack_page(request, session, person, number, counts, refused.status, refused.detail)
    return web.redirect(f"/warehouse/orders/{number}/pack?packed=1")


# --- receiving ----------------------------------------------------------------------------------------


def _quantities(form: dict[str, str]) -> tuple[list[dict[str, Any]], list[str]]:
    lines, wrong = [], []
    for name, value in form.items():
        if name.startswith(QUANTITY) and value.strip():
            quantity = web.whole_number(value)
            if quantity is not None:
                if quantity:
                    lines.append({"sku": name.removeprefix(QUANTITY), "quantity": quantity})
            else:
                wrong.append(name.removeprefix(QUANTITY))
    return lines, wrong


async def _receive_page(request: Request, session: AsyncSession, person: SignedIn, kind: str, number: str,
                        status: int = 200, error: str | None = None, done: str | None = None,
                        form: dict[str, str] | None = None) -> Response:
    document = None
    if number:
        try:
            document = await (purchase_order_view if kind == "purchase-orders" else return_view)(session, number)
        except NotFound as missing:
            error, status = missing.detail, 404
    rows = []
    if document is not None and kind == "purchase-orders":
        rows = [(line.sku, line.quantity, line.received - line.rejected, line.open) for line in document.lines]
    elif document is not None:
        rows = [(line.sku, line.quantity, line.received, line.quantity - line.cancelled - line.received)
                for line in document.lines]
    return web.render(request, "receive.html", status, person=person, kind=kind, number=number, document=document,
                      rows=rows, error=error, done=done, form=form or {}, quantity_field=QUANTITY,
                      title="Receive a purchase order" if kind == "purchase-orders" else "Receive a return",
                      form_token=web.new_form_token())


@router.get("/warehouse/receiving/{kind}")
async def receive_page(request: Request, session: SessionDep, person: WarehouseWorker, kind: str,
                       number: str = "", received: int = 0) -> Response:
    if kind not in ("purchase-orders", "returns"):
        raise web.PageError(404, "No such page", "Receiving is of purchase orders or of returns.")
    number = number.strip().upper()[:20]
    return await _receive_page(request, session, person, kind, number,
                               done=f"Received on {number}." if received and number else None)


@router.post("/warehouse/receiving/{kind}/{number}")
async def receive(request: Request, session: SessionDep, person: WarehouseWorker, form: Form, kind: str,
                  number: str) -> Response:
    if kind not in ("purchase-orders", "returns"):
        raise web.PageError(404, "No such page", "Receiving is of purchase orders or of returns.")
    number = number.strip().upper()[:20]
    lines, wrong = _quantities(form)
    if wrong or not lines:
        message = (f"Quantities are whole numbers: {', '.join(wrong)}." if wrong
                   else "Type the quantity that arrived of at least one line.")
        return await _receive_page(request, session, person, kind, number, 422, message, form=form)
    tolerance = request.app.state.settings.receipt_tolerance_percent
    try:
        if kind == "purchase-orders":
            receipt = ReceiptCreate.model_validate({"lines": lines})

            def work() -> Awaitable[Any]:
                return receiving.receive(session, number, receipt, person.principal, tolerance)
        else:
            arrived = ReturnReceive.model_validate({"lines": lines})

            def work() -> Awaitable[Any]:
                return returns.receive(session, number, arrived, person.principal, date.today())
    except ValidationError:
        return await _receive_page(request, session, person, kind, number, 422, "Those quantities cannot be received.",
                                   form=form)
    try:
        await web.once(request, session, person, form.get("form_token"), work)
    except DomainError as refused:
        return await _receive_page(request, session, person, kind, number, refused.status, refused.detail, form=form)
    return web.redirect(f"/warehouse/receiving/{kind}?{urlencode({'number': number, 'received': 1})}")
