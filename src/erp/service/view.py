"""The order's whole case, as a rep reads it: the order, its returns, repairs, replacements and refunds."""

from sqlalchemy.ext.asyncio import AsyncSession

from erp.errors import NotFound
from erp.orders.view import view_of, view_reads
from erp.returns.view import FOLLOWED, returns_of_order
from erp.service.schemas import OrderCaseOut

# The order's view and whether anything followed it, in one round trip: most orders have no returns. Requests
# that come together read their orders in one query (issue 13).
CASE_VIEWS = view_reads(f"{FOLLOWED} AS followed")


async def order_case(session: AsyncSession, number: str, touch_threshold: int) -> OrderCaseOut:
    rows = await CASE_VIEWS.fetch(session, [number])
    if not rows:
        raise NotFound(f"No order {number}.")
    row = rows[0]
    order = view_of(row, touch_threshold)
    returns, repairs, replaces = await returns_of_order(session, row["id"]) if row["followed"] else ([], [], None)
    words = [order.status_text]
    if replaces:
        words.append(f"Replacement for {replaces}.")
    words += [r.status_text[0].upper() + r.status_text[1:] + "." for r in [*returns, *repairs]]
    # Every part was validated as it was built: constructed, not dumped and validated again.
    return OrderCaseOut.model_construct(**{**order.__dict__, "status_text": " ".join(words)}, returns=returns,
                                        repairs=repairs, replacement_for=replaces)
