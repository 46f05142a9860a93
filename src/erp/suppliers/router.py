from datetime import date, timedelta
from typing import Annotated, Literal

from fastapi import Path, Query, Request, Response, status
from sqlmodel import select

from erp import concurrency
from erp.auth import WarehouseWorker, allow
from erp.concurrency import IfMatchHeader, tagged
from erp.db import SessionDep
from erp.errors import AlreadyExists, InvalidTransition, NotFound
from erp.inventory.models import Location, Product, Warehouse
from erp.openapi import errors
from erp.pagination import Cursor, Limit, Page, paginate
from erp.routing import router as make_router
from erp.schemas import Code, PeriodDate, Sku
from erp.suppliers import purchase_orders, receiving, replenishment, scorecard, service
from erp.suppliers.models import Inspection, PurchaseOrder, PurchaseOrderLine, Supplier
from erp.suppliers.schemas import (
    AcceptSuggestions,
    InspectionOut,
    InspectionResult,
    PurchaseOrderCreate,
    PurchaseOrderLineUpdate,
    PurchaseOrderOut,
    PurchaseOrderStatus,
    PurchaseOrderSummary,
    ReceiptCreate,
    ReceiptOut,
    Scorecard,
    Suggestion,
    SupplierCreate,
    SupplierOut,
    SupplierProductOut,
    SupplierProductPut,
)

router = make_router(tags=["suppliers"])

Purchaser = allow("admin", "purchasing")
PurchaseOrderReader = allow("admin", "purchasing", "warehouse")
CodePath = Annotated[Code, Path(description="Supplier code")]
PoNumber = Annotated[str, Path(pattern=r"^[A-Z]{2,4}-[0-9]{1,12}$", description="e.g. PO-000012")]
InspectionId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def supplier_out(supplier: Supplier) -> SupplierOut:
    return SupplierOut.model_validate(supplier, from_attributes=True)


@router.post("/suppliers", status_code=status.HTTP_201_CREATED, responses=errors(AlreadyExists))
async def create_supplier(body: SupplierCreate, actor: Purchaser, session: SessionDep, response: Response) -> SupplierOut:
    return tagged(response, supplier_out(await service.create_supplier(session, body)))


@router.get("/suppliers")
async def list_suppliers(actor: Purchaser, session: SessionDep, limit: Limit = 50,
                         cursor: Cursor = None) -> Page[SupplierOut]:
    return await paginate(session, select(Supplier), [Supplier.code], limit, cursor, lambda r: supplier_out(r[0]))


@router.get("/suppliers/{code}")
async def get_supplier(code: CodePath, actor: Purchaser, session: SessionDep, response: Response) -> SupplierOut:
    return tagged(response, supplier_out(await service.get_supplier(session, code)))


@router.put("/suppliers/{code}/products/{sku}")
async def put_supplier_product(code: CodePath, sku: Annotated[Sku, Path()], body: SupplierProductPut,
                               actor: Purchaser, session: SessionDep, response: Response,
                               if_match: IfMatchHeader = None) -> SupplierProductOut:
    """What this supplier sells of a product: its SKU, price, lead time, minimum order, preferred flag."""
    return tagged(response, await service.put_supplier_product(session, code, sku, body, actor,
                                                               concurrency.if_match(if_match)))


@router.get("/suppliers/{code}/scorecard")
async def get_scorecard(
    code: CodePath, actor: Purchaser, session: SessionDep,
    period_from: Annotated[PeriodDate | None, Query(alias="from", description="YYYY-MM-DD; default: 90 days ago")] = None,
    period_to: Annotated[PeriodDate | None, Query(alias="to", description="YYYY-MM-DD; default: today")] = None,
) -> Scorecard:
    """On-time rate, fill rate, defect rate and promised vs actual lead time for lines due in the period."""
    today = date.today()
    return await scorecard.scorecard(session, code, period_from or today - timedelta(days=90), period_to or today)


@router.post("/purchase-orders", status_code=status.HTTP_201_CREATED, responses=errors(NotFound))
async def create_purchase_order(body: PurchaseOrderCreate, actor: Purchaser, session: SessionDep,
                                response: Response) -> PurchaseOrderOut:
    """A draft: it becomes supply that orders can be promised against when it is sent."""
    return tagged(response, await purchase_orders.create_purchase_order(session, body, actor, date.today()))


@router.get("/purchase-orders")
async def list_purchase_orders(
    actor: PurchaseOrderReader, session: SessionDep,
    status: PurchaseOrderStatus | None = None,
    supplier: Code | None = None, warehouse: Code | None = None, limit: Limit = 50, cursor: Cursor = None,
) -> Page[PurchaseOrderSummary]:
    query = (select(PurchaseOrder.id, PurchaseOrder.number, PurchaseOrder.status, PurchaseOrder.created_at,
                    Supplier.code.label("supplier"), Warehouse.code.label("warehouse"))
             .join(Supplier, Supplier.id == PurchaseOrder.supplier_id)
             .join(Warehouse, Warehouse.id == PurchaseOrder.warehouse_id))
    if status is not None:
        query = query.where(PurchaseOrder.status == status)
    if supplier is not None:
        query = query.where(Supplier.code == supplier)
    if warehouse is not None:
        query = query.where(Warehouse.code == warehouse)
    return await paginate(session, query, [PurchaseOrder.id], limit, cursor,
                          lambda r: PurchaseOrderSummary.model_validate(r._mapping))


@router.get("/purchase-orders/{number}")
async def get_purchase_order(number: PoNumber, actor: PurchaseOrderReader, session: SessionDep,
                             response: Response) -> PurchaseOrderOut:
    return tagged(response, await purchase_orders.purchase_order_view(session, number))


@router.post("/purchase-orders/{number}/send", responses=errors(InvalidTransition))
async def send_purchase_order(number: PoNumber, actor: Purchaser, session: SessionDep, response: Response,
                              if_match: IfMatchHeader = None) -> PurchaseOrderOut:
    """Draft to sent: its lines become dated supply, and waiting backorders are re-promised."""
    return tagged(response, await purchase_orders.send(session, number, actor, concurrency.if_match(if_match)))


@router.post("/purchase-orders/{number}/cancel", responses=errors(InvalidTransition))
async def cancel_purchase_order(number: PoNumber, actor: Purchaser, session: SessionDep, response: Response,
                                if_match: IfMatchHeader = None) -> PurchaseOrderOut:
    """Cancel a draft or sent order; promises that depended on it are recomputed at once."""
    return tagged(response, await purchase_orders.cancel(session, number, actor, concurrency.if_match(if_match)))


@router.post("/purchase-orders/{number}/close", responses=errors(InvalidTransition))
async def close_purchase_order(number: PoNumber, actor: Purchaser, session: SessionDep, response: Response,
                               if_match: IfMatchHeader = None) -> PurchaseOrderOut:
    """Nothing more will be delivered (a short receipt accepted as final): the rest stops being supply."""
    return tagged(response, await purchase_orders.close(session, number, actor, concurrency.if_match(if_match)))


@router.patch("/purchase-orders/{number}/lines/{line}", responses=errors(InvalidTransition))
async def update_purchase_order_line(
    number: PoNumber, line: Annotated[int, Path(ge=1, le=100_000)], body: PurchaseOrderLineUpdate,
    actor: Purchaser, session: SessionDep, response: Response, if_match: IfMatchHeader = None,
) -> PurchaseOrderOut:
    """Move a line's expected date; every backorder promised on it is re-promised."""
    return tagged(response, await purchase_orders.move_expected_date(
        session, number, line, body.expected_date, actor, date.today(), concurrency.if_match(if_match)))


@router.post("/purchase-orders/{number}/receipts", status_code=status.HTTP_201_CREATED,
             responses=errors(InvalidTransition, receiving.OverReceipt))
async def receive_purchase_order(number: PoNumber, body: ReceiptCreate, request: Request, actor: WarehouseWorker,
                                 session: SessionDep) -> ReceiptOut:
    """Goods in: into receiving (or quarantine when inspection is required), each awaiting inspection."""
    tolerance = request.app.state.settings.receipt_tolerance_percent
    return await receiving.receive(session, number, body, actor, tolerance)


@router.get("/inspections")
async def list_inspections(
    actor: PurchaseOrderReader, session: SessionDep, status: Literal["pending", "done"] | None = None,
    limit: Limit = 50, cursor: Cursor = None,
) -> Page[InspectionOut]:
    query = (select(Inspection.id, PurchaseOrder.number.label("purchase_order"), Product.sku,
                    (Warehouse.code + "/" + Location.code).label("location"), Inspection.quantity,
                    Inspection.accepted, Inspection.rejected, Inspection.status, Inspection.notes,
                    Inspection.received_by, Inspection.inspected_by, Inspection.created_at)
             .join(PurchaseOrderLine, PurchaseOrderLine.id == Inspection.purchase_order_line_id)
             .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.purchase_order_id)
             .join(Product, Product.id == Inspection.product_id)
             .join(Location, Location.id == Inspection.location_id)
             .join(Warehouse, Warehouse.id == Location.warehouse_id))
    if status is not None:
        query = query.where(Inspection.status == status)
    return await paginate(session, query, [Inspection.id], limit, cursor,
                          lambda r: InspectionOut.model_validate(r._mapping))


@router.post("/inspections/{inspection_id}", responses=errors(InvalidTransition))
async def inspect_receipt(inspection_id: InspectionId, body: InspectionResult, actor: WarehouseWorker,
                  session: SessionDep) -> InspectionOut:
    """Decide every received unit: accepted go to storage and fill backorders, rejected go back."""
    return await receiving.inspect(session, inspection_id, body, actor)


@router.get("/replenishment/suggestions")
async def list_replenishment_suggestions(actor: Purchaser, session: SessionDep) -> list[Suggestion]:
    """Products and warehouses projected below their reorder point, with what to order from whom."""
    return await replenishment.suggestions(session)


@router.post("/replenishment/suggestions/accept", status_code=status.HTTP_201_CREATED,
             responses={200: {"description": "Nothing to accept: no draft purchase order was created (an empty list)."},
                        **errors(replenishment.AlreadyOnOrder)})
async def accept_suggestions(body: AcceptSuggestions, actor: Purchaser, session: SessionDep,
                             response: Response) -> list[PurchaseOrderOut]:
    """Turn suggestions into draft purchase orders, one per supplier and warehouse (201). A draft counts
    against its suggestion, so accepting again creates nothing: 200 with an empty list; naming an item a
    draft already covers is 409 `already_on_order`."""
    created = await replenishment.accept(session, body.items, actor, date.today())
    if not created:
        response.status_code = status.HTTP_200_OK
    return created
