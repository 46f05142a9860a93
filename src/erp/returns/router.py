from datetime import date
from typing import Annotated

from fastapi import Path, Response, status
from sqlalchemy import select

from erp import concurrency
from erp.auth import ServiceRep, WarehouseWorker, allow
from erp.concurrency import IfMatchHeader, tagged
from erp.db import SessionDep
from erp.errors import Conflict, InsufficientStock, InvalidTransition, NotFound
from erp.inventory.models import Product
from erp.openapi import errors
from erp.orders.models import SalesOrder
from erp.pagination import Cursor, Limit, Page, paginate
from erp.returns import repairs, service, view
from erp.returns.models import RepairOrder, ReturnAuthorization
from erp.returns.schemas import (
    OrderNumber,
    PartIn,
    RefundCreate,
    RepairCreate,
    RepairOut,
    RepairOutcome,
    RepairStatus,
    RepairStatusChange,
    RepairSummary,
    ReturnClose,
    ReturnCreate,
    ReturnInspect,
    ReturnOut,
    ReturnReceive,
    ReturnStatus,
    ReturnSummary,
)
from erp.routing import router as make_router
from erp.schemas import Sku

router = make_router(tags=["returns"])

# Reps, the warehouse (which receives and repairs) and admins read returns and repairs.
CaseReader = allow("admin", "service", "warehouse")
ReturnNumber = Annotated[str, Path(pattern=r"^RMA-[0-9]{6,12}$", description="e.g. RMA-000012")]
RepairNumber = Annotated[str, Path(pattern=r"^RO-[0-9]{6,12}$", description="e.g. RO-000003")]


# --- returns ----------------------------------------------------------------------------------------


@router.post("/returns", status_code=status.HTTP_201_CREATED,
             responses=errors(NotFound, service.NotReturnable, InvalidTransition, InsufficientStock))
async def authorize_return(body: ReturnCreate, actor: ServiceRep, session: SessionDep, response: Response) -> ReturnOut:
    """Authorize the return of shipped units of one order (never more than shipped and not yet on a
    return). With `advance_replacement`, the replacement order is placed now."""
    _, number = await service.authorize(session, body, actor, date.today())
    return tagged(response, await view.return_view(session, number))


@router.get("/returns")
async def list_returns(actor: CaseReader, session: SessionDep, status: ReturnStatus | None = None,
                       order: OrderNumber | None = None, limit: Limit = 50,
                       cursor: Cursor = None) -> Page[ReturnSummary]:
    query = (select(ReturnAuthorization.id, ReturnAuthorization.number, SalesOrder.number.label("order"),
                    ReturnAuthorization.status, ReturnAuthorization.resolution, ReturnAuthorization.created_at)
             .join(SalesOrder, SalesOrder.id == ReturnAuthorization.order_id))
    if status is not None:
        query = query.where(ReturnAuthorization.status == status)
    if order is not None:
        query = query.where(SalesOrder.number == order)
    return await paginate(session, query, [ReturnAuthorization.id], limit, cursor,
                          lambda r: ReturnSummary.model_validate(r._mapping))


@router.get("/returns/{number}")
async def get_return(number: ReturnNumber, actor: CaseReader, session: SessionDep, response: Response) -> ReturnOut:
    """The return with its lines, replacement orders, repairs and refunds, its state in words."""
    return tagged(response, await view.return_view(session, number))


@router.post("/returns/{number}/receive", responses=errors(InvalidTransition, service.OverReceipt))
async def receive_return(number: ReturnNumber, body: ReturnReceive, actor: WarehouseWorker,
                         session: SessionDep, response: Response, if_match: IfMatchHeader = None) -> ReturnOut:
    """Goods in, into quarantine (never straight to sellable stock). Omit `lines` to receive all expected."""
    await service.receive(session, number, body, actor, date.today(), concurrency.if_match(if_match))
    return tagged(response, await view.return_view(session, number))


@router.post("/returns/{number}/inspect", responses=errors(InvalidTransition))
async def inspect_return(number: ReturnNumber, body: ReturnInspect, actor: WarehouseWorker,
                         session: SessionDep, response: Response, if_match: IfMatchHeader = None) -> ReturnOut:
    """Decide each received unit: restock, repair, scrap or return to the supplier. A second person: not
    one who received these goods."""
    await service.inspect(session, number, body, actor, date.today(), concurrency.if_match(if_match))
    return tagged(response, await view.return_view(session, number))


@router.post("/returns/{number}/refunds", status_code=status.HTTP_201_CREATED,
             responses=errors(InvalidTransition, service.RefundNotAllowed))
async def refund_return(number: ReturnNumber, body: RefundCreate, actor: ServiceRep, session: SessionDep,
                        response: Response, if_match: IfMatchHeader = None) -> ReturnOut:
    """Record a refund: never more than was paid for the units that may be refunded, less earlier refunds."""
    await service.refund(session, number, body, actor, concurrency.if_match(if_match))
    return tagged(response, await view.return_view(session, number))


@router.post("/returns/{number}/cancel", responses=errors(InvalidTransition))
async def cancel_return(number: ReturnNumber, body: ReturnClose, actor: ServiceRep, session: SessionDep,
                        response: Response, if_match: IfMatchHeader = None) -> ReturnOut:
    """Stop expecting the units that have not arrived (all of them: the return is cancelled)."""
    await service.cancel(session, number, body, actor, date.today(), concurrency.if_match(if_match))
    return tagged(response, await view.return_view(session, number))


@router.post("/returns/{number}/reject", responses=errors(InvalidTransition))
async def reject_return(number: ReturnNumber, body: ReturnClose, actor: ServiceRep, session: SessionDep,
                        response: Response, if_match: IfMatchHeader = None) -> ReturnOut:
    """Refuse the claim before inspection: units that arrived go back to the customer."""
    await service.reject(session, number, body, actor, date.today(), concurrency.if_match(if_match))
    return tagged(response, await view.return_view(session, number))


# --- repairs ----------------------------------------------------------------------------------------


@router.post("/repairs", status_code=status.HTTP_201_CREATED, responses=errors(NotFound))
async def open_repair(body: RepairCreate, actor: ServiceRep, session: SessionDep, response: Response) -> RepairOut:
    """A walk-in repair: the customer's unit comes into quarantine until it is repaired and sent back."""
    number = await repairs.open_walk_in(session, body, actor, date.today())
    return tagged(response, await view.repair_view(session, number))


@router.get("/repairs")
async def list_repairs(actor: CaseReader, session: SessionDep, status: RepairStatus | None = None,
                       order: OrderNumber | None = None, limit: Limit = 50,
                       cursor: Cursor = None) -> Page[RepairSummary]:
    query = (select(RepairOrder.id, RepairOrder.number, RepairOrder.status, Product.sku, RepairOrder.quantity,
                    SalesOrder.number.label("order"), RepairOrder.promised_date, RepairOrder.created_at)
             .join(Product, Product.id == RepairOrder.product_id)
             .outerjoin(SalesOrder, SalesOrder.id == RepairOrder.order_id))
    if status is not None:
        query = query.where(RepairOrder.status == status)
    if order is not None:
        query = query.where(SalesOrder.number == order)
    return await paginate(session, query, [RepairOrder.id], limit, cursor,
                          lambda r: RepairSummary.model_validate(r._mapping))


@router.get("/repairs/{number}")
async def get_repair(number: RepairNumber, actor: CaseReader, session: SessionDep, response: Response) -> RepairOut:
    """The repair with its parts, its state in words and its promise ("waiting for 2 x FAN-12 on ...")."""
    return tagged(response, await view.repair_view(session, number))


@router.post("/repairs/{number}/parts", status_code=status.HTTP_201_CREATED, responses=errors(InvalidTransition))
async def add_part(number: RepairNumber, body: PartIn, actor: WarehouseWorker, session: SessionDep,
                   response: Response, if_match: IfMatchHeader = None) -> RepairOut:
    """Reserve a part at the repair's warehouse; what is short waits in line for stock, with a dated promise."""
    await repairs.add_part(session, number, body, actor, date.today(), concurrency.if_match(if_match))
    return tagged(response, await view.repair_view(session, number))


@router.delete("/repairs/{number}/parts/{sku}", responses=errors(InvalidTransition))
async def remove_part(number: RepairNumber, sku: Annotated[Sku, Path()], actor: WarehouseWorker,
                      session: SessionDep, response: Response, if_match: IfMatchHeader = None) -> RepairOut:
    """A part not needed after all: its reservations are released, it stops waiting."""
    await repairs.remove_part(session, number, sku, actor, date.today(), concurrency.if_match(if_match))
    return tagged(response, await view.repair_view(session, number))


@router.post("/repairs/{number}/status", responses=errors(InvalidTransition, repairs.WaitingForParts, Conflict))
async def change_repair_status(number: RepairNumber, body: RepairStatusChange, actor: WarehouseWorker,
                               session: SessionDep, response: Response, if_match: IfMatchHeader = None) -> RepairOut:
    """Start, complete (consumes the parts), ship back (carrier and tracking) or give up (unrepairable)."""
    await repairs.change_status(session, number, body, actor, date.today(), concurrency.if_match(if_match))
    return tagged(response, await view.repair_view(session, number))


@router.post("/repairs/{number}/outcome", responses=errors(InvalidTransition, Conflict))
async def choose_repair_outcome(number: RepairNumber, body: RepairOutcome, actor: ServiceRep,
                                session: SessionDep, response: Response, if_match: IfMatchHeader = None) -> RepairOut:
    """For a unit that cannot be repaired: a replacement order, or a refund the rep then records."""
    await repairs.choose_outcome(session, number, body, actor, date.today(), concurrency.if_match(if_match))
    return tagged(response, await view.repair_view(session, number))
