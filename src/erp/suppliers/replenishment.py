"""What to buy next: replenishment suggestions from projected availability, and turning them into draft
purchase orders (DOMAIN.md section 5)."""

from collections import defaultdict
from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from erp.auth import Principal
from erp.errors import Conflict, InvalidRequest
from erp.suppliers import purchase_orders
from erp.suppliers.schemas import PurchaseOrderCreate, PurchaseOrderOut, Suggestion, SuggestionSelection


def order_quantity(projected: int, reorder_max: int, minimum: int) -> int:
    """Enough to bring projected availability up to the maximum, in whole minimum-order multiples."""
    needed = max(reorder_max - projected, 1)
    return -(-needed // minimum) * minimum


# Projected availability counts draft purchase orders too: a draft for the product and warehouse (an
# accepted suggestion not sent yet) already answers the shortfall, so it is not suggested again.
SUGGESTIONS = text("""
    WITH drafted AS (
        SELECT l.product_id, po.warehouse_id, sum(l.quantity)::bigint AS quantity
          FROM purchase_order_line l JOIN purchase_order po ON po.id = l.purchase_order_id
         WHERE po.status = 'draft' GROUP BY l.product_id, po.warehouse_id
    )
    SELECT p.sku, w.code AS warehouse, p.reorder_point, p.reorder_max,
           s.available + s.incoming + coalesce(d.quantity, 0) - s.backordered AS projected,
           coalesce(d.quantity, 0) AS drafted, sup.code AS supplier, sp.min_order_quantity
      FROM product p CROSS JOIN warehouse w
      JOIN stock_position s ON s.product_id = p.id AND s.warehouse_id = w.id
      LEFT JOIN drafted d ON d.product_id = p.id AND d.warehouse_id = w.id
      LEFT JOIN supplier_product sp ON sp.product_id = p.id AND sp.preferred
      LEFT JOIN supplier sup ON sup.id = sp.supplier_id
     WHERE p.active AND p.reorder_point > 0
       AND s.available + s.incoming + coalesce(d.quantity, 0) - s.backordered < p.reorder_point
     ORDER BY p.sku, w.code
""")
DRAFTS = text("""
    SELECT DISTINCT po.number FROM purchase_order po JOIN purchase_order_line l ON l.purchase_order_id = po.id
      JOIN product p ON p.id = l.product_id JOIN warehouse w ON w.id = po.warehouse_id
     WHERE po.status = 'draft' AND p.sku = :sku AND w.code = :warehouse ORDER BY po.number
""")
# Accepting is rare and reads every suggestion: one at a time, so two racing accepts cannot both order.
SERIALIZE = text("SELECT pg_advisory_xact_lock(hashtext('erp.replenishment.accept'))")


class AlreadyOnOrder(Conflict):
    """The product is already on a draft purchase order for that warehouse; send or change that one."""

    code, title = "already_on_order", "Already on a draft purchase order"


async def suggestions(session: AsyncSession) -> list[Suggestion]:
    """Each product and warehouse whose projected availability is below its reorder point."""
    found = []
    for row in (await session.execute(SUGGESTIONS)).all():
        quantity = order_quantity(row.projected, row.reorder_max, row.min_order_quantity or 1)
        reason = (f"projected {row.projected} is below the reorder point {row.reorder_point}; "
                  f"order up to {row.reorder_max}")
        if row.drafted:
            reason += f" ({row.drafted} already on draft purchase orders)"
        if row.supplier is None:
            reason += "; no preferred supplier: set one to order"
        found.append(Suggestion(sku=row.sku, warehouse=row.warehouse, supplier=row.supplier, projected=row.projected,
                                drafted=row.drafted, reorder_point=row.reorder_point, reorder_max=row.reorder_max, quantity=quantity,
                                reason=reason))
    return found


async def accept(session: AsyncSession, selection: list[SuggestionSelection] | None, actor: Principal,
                 today: date) -> list[PurchaseOrderOut]:
    """Turn suggestions into draft purchase orders, one per supplier and warehouse. What a draft already
    covers is no longer suggested: accepting again creates nothing (an empty list), and naming such an item
    is 409 `already_on_order` with the draft's number."""
    await session.execute(SERIALIZE)
    current = {(s.sku, s.warehouse): s for s in await suggestions(session)}
    if selection is None:
        chosen = [(s, s.quantity) for s in current.values() if s.supplier]
    else:
        chosen = []
        for item in selection:
            suggestion = current.get((item.sku, item.warehouse))
            if suggestion is None:
                drafts = (await session.execute(DRAFTS, {"sku": item.sku, "warehouse": item.warehouse})).scalars().all()
                if drafts:
                    raise AlreadyOnOrder(f"{item.sku} at {item.warehouse} is already on draft {', '.join(drafts)}: "
                                         "send or change that one.")
                raise InvalidRequest(f"No current suggestion for {item.sku} at {item.warehouse}.")
            if suggestion.supplier is None:
                raise InvalidRequest(f"{item.sku} has no preferred supplier to order from.")
            chosen.append((suggestion, item.quantity or suggestion.quantity))
    groups: dict[tuple[str, str], list[tuple[Suggestion, int]]] = defaultdict(list)
    for suggestion, quantity in chosen:
        groups[(suggestion.supplier, suggestion.warehouse)].append((suggestion, quantity))
    created = []
    for (supplier, warehouse), items in sorted(groups.items()):
        created.append(await purchase_orders.create_purchase_order(session, PurchaseOrderCreate.model_validate({
            "supplier": supplier, "warehouse": warehouse,
            "lines": [{"sku": s.sku, "quantity": q} for s, q in items]}), actor, today))
    return created
