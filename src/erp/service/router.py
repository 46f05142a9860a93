from datetime import date
from typing import Annotated

from fastapi import Query, Request, Response

from erp import concurrency
from erp.auth import OrderReader, ServiceRep
from erp.db import SessionDep
from erp.orders.router import OrderNumber
from erp.orders.schemas import Channel
from erp.routing import router as make_router
from erp.schemas import PeriodDate
from erp.service import figures
from erp.service.schemas import OrderCaseOut, ServiceFigures
from erp.service.view import order_case

router = make_router(tags=["orders"])
figures_router = make_router(tags=["service"])


@router.get("/orders/{number}")
async def get_order(number: OrderNumber, request: Request, actor: OrderReader, session: SessionDep,
                    response: Response) -> OrderCaseOut:
    """The order status view: status in words, each line's state and promise, shipments, touches, timeline,
    and its returns, repairs, replacement orders and refunds. Its ETag is what If-Match names to cancel,
    pack or ship only this version."""
    case = await order_case(session, number, request.app.state.settings.touch_threshold)
    concurrency.tag(response, case.version)
    return case


@figures_router.get("/metrics/service", description=figures.__doc__)
async def get_service_figures(
    request: Request, actor: ServiceRep, session: SessionDep,
    period_from: Annotated[PeriodDate | None, Query(alias="from", description="YYYY-MM-DD, the period's first "
                                                    "day (UTC); default: 30 days ending on `to`")] = None,
    period_to: Annotated[PeriodDate | None, Query(alias="to", description="YYYY-MM-DD, the period's last day "
                                                  "(UTC), at most 366 days after `from`; default: today")] = None,
    channel: Annotated[Channel | None, Query(description="The orders' channel; default: every channel")] = None,
) -> ServiceFigures:
    today = date.today()
    asked = figures.period(period_from, period_to, channel, today)
    return await figures.service_figures(session, asked, request.app.state.settings.touch_threshold, today)
