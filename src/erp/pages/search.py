"""The rep's search box: one function, so that when `GET /orders?q=` lands (number, email, phone, name or
external reference) the console is pointed at it here and nowhere else."""

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from erp.orders.models import SalesOrder
from erp.orders.schemas import OrderSummary

MAX_FOUND = 50


async def find_orders(session: AsyncSession, query: str) -> list[OrderSummary]:
    """Orders whose number or customer email is exactly `query`, newest first (emails are stored lower-case)."""
    query = query.strip()
    if not query:
        return []
    statement = (select(SalesOrder)
                 .where(or_(SalesOrder.number == query.upper(), SalesOrder.customer_email == query.lower()))
                 .order_by(SalesOrder.id.desc()).limit(MAX_FOUND))
    return [OrderSummary.model_validate(row, from_attributes=True) for row in (await session.execute(statement)).scalars()]
