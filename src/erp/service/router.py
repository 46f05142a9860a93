from fastapi import Request, Response

from erp import concurrency
from erp.auth import OrderReader
from erp.db import SessionDep
from erp.orders.router import OrderNumber
from erp.routing import router as make_router
from erp.service.schemas import OrderCaseOut
from erp.service.view import order_case

router = make_router(tags=["orders"])


@router.get("/orders/{number}")
async def get_order(number: OrderNumber, request: Request, actor: OrderReader, session: SessionDep,
                    response: Response) -> OrderCaseOut:
    """The order status view: status in words, each line's state and promise, shipments, touches, timeline,
    and its returns, repairs, replacement orders and refunds. Its ETag is what If-Match names to cancel,
    pack or ship only this version."""
    case = await order_case(session, number, request.app.state.settings.touch_threshold)
    concurrency.tag(response, case.version)
    return case
