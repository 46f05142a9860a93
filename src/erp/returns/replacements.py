"""Replacement orders: units sent instead of returned or unrepairable ones, placed through the same
placement path as any order (the same reservation, the same honest promise), at zero price."""

from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from erp.auth import Principal
from erp.orders import placement
from erp.orders.schemas import OrderCreate

ORIGINAL = text(
    "SELECT channel, customer_name, customer_email, customer_phone, ship_to, currency FROM sales_order WHERE id = :o"
)
ORDER_ID = text("SELECT id FROM sales_order WHERE number = :n")
LINK = text("INSERT INTO replacement (order_id, return_id, repair_order_id) VALUES (:o, :r, :ro)")


async def place(session: AsyncSession, items: list[tuple[str, int]], actor: Principal, today: date, *,
                order_id: int | None, customer: dict[str, Any] | None = None, return_id: int | None = None,
                repair_order_id: int | None = None) -> str:
    """An order of `items` (sku, quantity) for the customer of `order_id` (or `customer`, for a walk-in),
    linked to the return or repair it serves. Returns its number."""
    original = (await session.execute(ORIGINAL, {"o": order_id})).one() if order_id else None
    currency = original.currency if original else None
    who = customer or {"name": original.customer_name, "email": original.customer_email,
                       "phone": original.customer_phone}
    placed = await placement.place_order(session, OrderCreate.model_validate({
        "customer": who, "channel": original.channel if original else "store",
        "lines": [{"sku": sku, "quantity": quantity, **({"unit_price": "0"} if currency else {})}
                  for sku, quantity in items],
        "currency": currency, "ship_to": original.ship_to if original else None,
    }), actor, today)
    new_id = (await session.execute(ORDER_ID, {"n": placed.number})).scalar_one()
    await session.execute(LINK, {"o": new_id, "r": return_id, "ro": repair_order_id})
    return placed.number
