"""The order's whole case, as a rep reads it: the order, its returns, repairs, replacements and refunds."""

from sqlalchemy.ext.asyncio import AsyncSession

from erp.orders.view import order_view
from erp.returns.view import returns_of_order
from erp.service.schemas import OrderCaseOut


async def order_case(session: AsyncSession, number: str, touch_threshold: int) -> OrderCaseOut:
    order = await order_view(session, number, touch_threshold)
    returns, repairs, replaces = await returns_of_order(session, number)
    words = [order.status_text]
    if replaces:
        words.append(f"Replacement for {replaces}.")
    words += [r.status_text[0].upper() + r.status_text[1:] + "." for r in [*returns, *repairs]]
    return OrderCaseOut(**{**order.model_dump(), "status_text": " ".join(words)}, returns=returns, repairs=repairs,
                        replacement_for=replaces)
