"""The rep's search box and the console's list of orders that need attention.

The box finds orders as `GET /orders?q=` does (erp.orders.search: number, email, phone, customer name or
external reference), through the same query, newest first."""

from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from erp.orders.models import SalesOrder
from erp.orders.schemas import OrderSummary
from erp.orders.search import OrderFilters, order_query

MAX_FOUND = 50
MAX_ATTENTION = 20
# An order with something left to do (the rest are shipped, delivered or cancelled), as SQL: the open orders
# are found through the status index (a minority), and only their contacts are counted.
OPEN = ", ".join(f"'{status}'" for status in ("confirmed", "backordered", "picking", "packed", "partially_shipped"))


async def find_orders(session: AsyncSession, query: str) -> list[OrderSummary]:
    """The orders `query` finds (as `GET /orders?q=`), newest first, at most MAX_FOUND."""
    query = query.strip()
    if not query:
        return []
    statement = order_query(OrderFilters(q=query)).order_by(SalesOrder.id.desc()).limit(MAX_FOUND)
    return [OrderSummary.model_validate(row, from_attributes=True) for row in (await session.execute(statement)).scalars()]


# Open orders with more contacts than the threshold (as the order view's `needs_attention`), and orders with
# backordered units whose promise is already past: most touches first, then the oldest. Each kind is found
# through its own index (order_contact by order, the partial index of backordered lines) before the orders.
ATTENTION = text(f"""
    WITH touched AS (
        SELECT c.order_id, count(*) AS touches
          FROM sales_order o JOIN order_contact c ON c.order_id = o.id
         WHERE o.status IN ({OPEN})
         GROUP BY c.order_id HAVING count(*) > :threshold
    ), late AS (
        SELECT order_id, min(promised_date) AS promised FROM order_line
         WHERE backordered > 0 AND promised_date < :today GROUP BY order_id
    ), flagged AS (
        SELECT coalesce(t.order_id, l.order_id) AS order_id, t.touches, l.promised
          FROM touched t FULL JOIN late l ON l.order_id = t.order_id
    )
    SELECT o.number, o.status, o.customer_name, o.customer_email, o.created_at,
           coalesce(f.touches, (SELECT count(*) FROM order_contact c WHERE c.order_id = o.id)) AS touches,
           f.promised AS late_since, f.touches IS NOT NULL AS many_touches
      FROM flagged f JOIN sales_order o ON o.id = f.order_id
     WHERE o.status IN ({OPEN})
     ORDER BY 6 DESC, o.created_at, o.id
     LIMIT :n
""")


async def needing_attention(session: AsyncSession, touch_threshold: int, today: date) -> list[dict[str, Any]]:
    rows = await session.execute(ATTENTION, {"threshold": touch_threshold, "today": today, "n": MAX_ATTENTION})
    return [dict(row._mapping) for row in rows]
