"""What to buy next: replenishment suggestions from projected availability, and turning them into draft
purchase orders (DOMAIN.md section 5)."""

from collections import defaultdict
from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from erp.auth import Principal
from erp.errors import InvalidRequest
from erp.suppliers import purchase_orders
from erp.suppliers.schemas import PurchaseOrderCreate, PurchaseOrderOut, Suggestion, SuggestionSelection


def order_quantity(projected: int, reorder_max: int, minimum: int) -> int:
    """Enough to bring projected availability up to the maximum, in whole minimum-order multiples."""
    needed = max(reorder_max - projected, 1)
    return -(-needed // minimum) * minimum


SUGGESTIONS = text("""
    SELECT p.sku, w.code AS warehouse, p.reorder_point, p.reorder_max,
           s.available + s.incoming - s.backordered AS projected,
           sup.code AS supplier, sp.min_order_quantity
      FROM product p CROSS JOIN warehouse w
      JOIN stock_position s ON s.product_id = p.id AND s.warehouse_id = w.id
      LEFT JOIN supplier_product sp ON sp.product_id = p.id AND sp.preferred
      LEFT JOIN supplier sup ON sup.id = sp.supplier_id
     WHERE p.active AND p.reorder_point > 0 AND s.available + s.incoming - s.backordered < p.reorder_point
     ORDER BY p.sku, w.code
""")


async def suggestions(session: AsyncSession) -> list[Suggestion]:
    """Each product and warehouse whose projected availability is below its reorder point."""
    found = []
    for row in (await session.execute(SUGGESTIONS)).all():
        quantity = order_quantity(row.projected, row.reorder_max, row.min_order_quantity or 1)
        reason = (f"projected {row.projected} is below the reorder point {row.reorder_point}; "
                  f"order up to {row.reorder_max}")
        if row.supplier is None:
            reason += "; no preferred supplier: set one to order"
        found.append(Suggestion(sku=row.sku, warehouse=row.warehouse, supplier=row.supplier, projected=row.projected,
                                reorder_point=row.reorder_point, reorder_max=row.reorder_max, quantity=quantity,
                                reason=reason))
    return found


async def accept(session: AsyncSession, selection: list[SuggestionSelection] | None, actor: Principal,
                 today: date) -> list[PurchaseOrderOut]:
    """Turn suggestions into draft purchase orders, one per supplier and warehouse."""
    current = {(s.sku, s.warehouse): s for s in await suggestions(session)}
    if selection is None:
        chosen = [(s, s.quantity) for s in current.values() if s.supplier]
    else:
        chosen = []
        for item in selection:
            suggestion = current.get((item.sku, item.warehouse))
            if suggestion is None:
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
