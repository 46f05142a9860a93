from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import Path, Query, Request, Response, status
from sqlalchemy import select

from erp import concurrency
from erp.auth import OrderReader, OrderTaker, ServiceRep, WarehouseWorker, allow
from erp.concurrency import IfMatchHeader
from erp.db import AutocommitDep, SessionDep
from erp.errors import AlreadyExists, InsufficientStock, InvalidTransition, NotFound, ScanMismatch
from erp.models import Event
from erp.openapi import errors
from erp.orders import cancellation, contacts, holds, picking, placement, search, shipping
from erp.orders.lines import order_id
from erp.orders.models import Contact
from erp.orders.picking import NothingToPick
from erp.orders.schemas import (
    CancelRequest,
    Channel,
    ContactCreate,
    ContactOut,
    HoldCreate,
    HoldOut,
    OrderCreate,
    OrderOut,
    OrderStatus,
    OrderSummary,
    PackRequest,
    PickConfirm,
    PickListCreate,
    PickListOut,
    PickListStatus,
    ShipmentCreate,
    TimelineEntry,
)
from erp.orders.search import OrderFilters
from erp.orders.view import describe, order_view
from erp.pagination import Cursor, Limit, Page, paginate
from erp.routing import router as make_router
from erp.schemas import NO_NUL, Code, Email, Sku

router = make_router(tags=["orders"])

OrderNumber = Annotated[str, Path(pattern=r"^[A-Z]{2,4}-[0-9]{1,12}$", description="e.g. SO-000123")]
SearchText = Annotated[str, Query(min_length=1, max_length=200, pattern=NO_NUL,
                                  description="A number, email, phone, external reference or (part of) a name.")]
PickListId = Annotated[int, Path(ge=1, le=2**31 - 1)]
CarrierConfirmer = allow("admin", "warehouse", "integration")


def _threshold(request: Request) -> int:
    return request.app.state.settings.touch_threshold


async def _view(request: Request, session: SessionDep, number: str, response: Response) -> OrderOut:
    view = await order_view(session, number, _threshold(request))
    concurrency.tag(response, view.version)
    return view


@router.post("/orders", status_code=status.HTTP_201_CREATED, responses=errors(NotFound, InsufficientStock, AlreadyExists, InvalidTransition, holds.HoldMismatch))
async def place_order(body: OrderCreate, actor: OrderTaker, session: SessionDep, autocommit: AutocommitDep,
                      response: Response) -> OrderOut:
    """Allocate across warehouses and reserve in one transaction; uncovered lines are backordered with a
    promise, or with `allow_backorder: false` the order is refused (409) and nothing is created. With
    `hold`, the order takes over the hold's reservations."""
    placed = await placement.place_order(session, body, actor, date.today(), autocommit)
    concurrency.tag(response, placed.version)
    return placed


@router.get("/orders")
async def list_orders(
    actor: OrderReader,
    session: SessionDep,
    q: SearchText | None = None,
    status: OrderStatus | None = None,
    customer_email: Email | None = None,
    sku: Sku | None = None,
    channel: Channel | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[OrderSummary]:
    """Orders meeting every filter given, oldest first. `q` finds an order by its number (`so-000123`), the
    customer's email or phone (digits compared: `+34 600-000 000` finds `+34600000000`), its external
    reference (each whole, any case) or the customer's name (each word of `q` begins a word of the name, any
    case: `ana ru` finds "Ana Ruiz"). An unknown query parameter is 422, never ignored."""
    filters = OrderFilters(q=q, status=status, customer_email=customer_email, sku=sku, channel=channel)
    return await search.find_orders(session, filters, limit, cursor)


@router.post("/orders/{number}/cancel", responses=errors(InvalidTransition))
async def cancel_order(number: OrderNumber, body: CancelRequest, request: Request, actor: ServiceRep,
                       session: SessionDep, response: Response, if_match: IfMatchHeader = None) -> OrderOut:
    """Cancel the whole order, or quantities of lines; reservations are released at once."""
    await cancellation.cancel(session, number, body, actor, date.today(), concurrency.if_match(if_match))
    return await _view(request, session, number, response)


@router.get("/orders/{number}/timeline")
async def get_timeline(number: OrderNumber, actor: OrderReader, session: SessionDep, limit: Limit = 50,
                       cursor: Cursor = None) -> Page[TimelineEntry]:
    oid = await order_id(session, number)
    return await paginate(
        session, select(Event).where(Event.order_id == oid), [Event.id], limit, cursor,
        lambda r: TimelineEntry(id=r[0].id, at=r[0].created_at, type=r[0].type, actor=r[0].actor,
                                channel=r[0].channel, data=r[0].data,
                                summary=describe({"type": r[0].type, "data": r[0].data})),
    )


@router.post("/orders/{number}/contacts", status_code=status.HTTP_201_CREATED)
async def log_contact(number: OrderNumber, body: ContactCreate, actor: ServiceRep, session: SessionDep) -> ContactOut:
    """Log a customer interaction about the order; it counts as a touch."""
    return await contacts.add_contact(session, number, body, actor)


@router.get("/orders/{number}/contacts")
async def list_contacts(number: OrderNumber, actor: OrderReader, session: SessionDep, limit: Limit = 50,
                        cursor: Cursor = None) -> Page[ContactOut]:
    oid = await order_id(session, number)
    return await paginate(session, select(Contact).where(Contact.order_id == oid), [Contact.id], limit, cursor,
                          lambda r: contacts.to_contact(r[0]))


@router.post("/pick-lists", status_code=status.HTTP_201_CREATED, responses=errors(NotFound, NothingToPick))
async def create_pick_list(body: PickListCreate, actor: WarehouseWorker, session: SessionDep) -> PickListOut:
    """Group reserved lines of one warehouse, oldest promise first, bins in walking order."""
    return await picking.create_pick_list(session, body, actor)


@router.get("/pick-lists")
async def list_pick_lists(
    actor: WarehouseWorker, session: SessionDep,
    warehouse: Annotated[Code | None, Query(description="A warehouse's code: its pick lists only.")] = None,
    status: Annotated[PickListStatus, Query(description="`open` (the default): still to pick.")] = "open",
    limit: Limit = 50, cursor: Cursor = None,
) -> Page[PickListOut]:
    """Pick lists, open ones unless `status=completed`, oldest first, each with its lines in walking order
    (`location`, `sku`, `quantity`, `picked`, `short`). An unknown query parameter is 422."""
    return await picking.list_pick_lists(session, warehouse, status, limit, cursor)


@router.get("/pick-lists/{pick_list_id}")
async def get_pick_list(pick_list_id: PickListId, actor: WarehouseWorker, session: SessionDep) -> PickListOut:
    return await picking.get_pick_list(session, pick_list_id)


@router.post("/pick-lists/{pick_list_id}/confirm", responses=errors(ScanMismatch, InvalidTransition))
async def confirm_pick(pick_list_id: PickListId, body: PickConfirm, actor: WarehouseWorker,
                       session: SessionDep) -> PickListOut:
    """Confirm one pick by scanning location, product (sku or barcode) and quantity. A wrong scan is 409
    `scan_mismatch` and changes nothing; `short: true` reports that the bin held only `quantity`."""
    return await picking.confirm_pick(session, pick_list_id, body, actor, date.today())


@router.post("/orders/{number}/pack", responses=errors(ScanMismatch, InvalidTransition))
async def pack_order(number: OrderNumber, body: PackRequest, request: Request, actor: WarehouseWorker,
                     session: SessionDep, response: Response, if_match: IfMatchHeader = None) -> OrderOut:
    """A second person (not a picker of this order) scans what goes in the box; it must match exactly."""
    await shipping.pack(session, number, body, actor, date.today(), concurrency.if_match(if_match))
    return await _view(request, session, number, response)


@router.post("/orders/{number}/shipments", status_code=status.HTTP_201_CREATED,
             responses=errors(ScanMismatch, InvalidTransition))
async def ship_order(number: OrderNumber, body: ShipmentCreate, request: Request, actor: WarehouseWorker,
                     session: SessionDep, response: Response, if_match: IfMatchHeader = None) -> OrderOut:
    """Hand packed units to a carrier (partial shipments allowed); stock moves from packing to the customer."""
    await shipping.ship(session, number, body, actor, concurrency.if_match(if_match))
    return await _view(request, session, number, response)


@router.post("/orders/{number}/delivered", responses=errors(InvalidTransition))
async def confirm_delivery(number: OrderNumber, request: Request, actor: CarrierConfirmer,
                           session: SessionDep, response: Response, if_match: IfMatchHeader = None) -> OrderOut:
    """The carrier confirms delivery of a fully shipped order."""
    await shipping.mark_delivered(session, number, actor, concurrency.if_match(if_match))
    return await _view(request, session, number, response)


# --- holds ------------------------------------------------------------------------------------------

HoldKeeper = allow("admin", "service", "integration")
HoldId = Annotated[UUID, Path(description="The hold's id, as POST /holds answered it")]


@router.post("/holds", status_code=status.HTTP_201_CREATED, responses=errors(NotFound, InsufficientStock))
async def place_hold(body: HoldCreate, actor: HoldKeeper, session: SessionDep) -> HoldOut:
    """Reserve lines for a customer who has not ordered yet, for `expires_in` seconds (default 15 minutes,
    at most 24 hours). All or nothing: 409 `insufficient_stock` holds nothing. An order with `hold` takes
    the reservations over; a hold that expires is released within seconds."""
    return await holds.view(session, await holds.create(session, body, actor))


@router.get("/holds/{hold_id}")
async def get_hold(hold_id: HoldId, actor: HoldKeeper, session: SessionDep) -> HoldOut:
    return await holds.view(session, hold_id)


@router.delete("/holds/{hold_id}", responses=errors(InvalidTransition))
async def release_hold(hold_id: HoldId, actor: HoldKeeper, session: SessionDep) -> HoldOut:
    """Give the held units back at once (waiting backorders claim them first)."""
    await holds.release(session, hold_id, actor)
    return await holds.view(session, hold_id)
