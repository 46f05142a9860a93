from fastapi import Request

from erp.auth import OrderReader
from erp.db import SessionDep
from erp.orders.router import OrderNumber
from erp.routing import router as make_router
from erp.service.schemas import OrderCaseOut
from erp.service.view import order_case

router = make_router(tags=["orders"])


@router.get("/orders/{number}")
async def get_order(number: OrderNumber, request: Request, actor: OrderReader, session: SessionDep) -> OrderCaseOut:
    """The order status view: status in words, each line's state and promise, shipments, touches, timeline,
    and its returns, repairs, replacement orders and refunds."""
    return await order_case(session, number, request.app.state.settings.touch_threshold)
