"""The ledger invariants of DOMAIN.md section 1, as queries that return the rows breaking them."""

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

PHYSICAL = "('receiving', 'quarantine', 'storage', 'packing', 'scrap')"

CHECKS: dict[str, str] = {
    "1. 0 <= reserved <= on_hand for every product and warehouse": """
        SELECT product_id, warehouse_id, on_hand, reserved FROM stock_level
         WHERE reserved < 0 OR reserved > on_hand OR on_hand < 0 OR quarantined < 0""",
    "1. physical locations never go negative": """
        SELECT location_id, product_id, quantity FROM location_balance WHERE quantity < 0""",
    "2. every physical location's balance equals the sum of its ledger moves": f"""
        WITH ledger AS (
            SELECT location_id, product_id, sum(quantity) AS quantity FROM (
                SELECT to_location_id AS location_id, product_id, quantity FROM stock_move
                UNION ALL
                SELECT from_location_id, product_id, -quantity FROM stock_move) m
             GROUP BY location_id, product_id)
        SELECT l.location_id, l.product_id, coalesce(b.quantity, 0) AS balance, l.quantity AS ledger
          FROM ledger l JOIN location loc ON loc.id = l.location_id AND loc.type IN {PHYSICAL}
          LEFT JOIN location_balance b ON (b.location_id, b.product_id) = (l.location_id, l.product_id)
         WHERE coalesce(b.quantity, 0) <> l.quantity
        UNION ALL
        SELECT b.location_id, b.product_id, b.quantity, 0 FROM location_balance b
         WHERE b.quantity <> 0 AND NOT EXISTS (
            SELECT 1 FROM stock_move m WHERE m.product_id = b.product_id
               AND b.location_id IN (m.from_location_id, m.to_location_id))""",
    "2. on_hand and quarantined equal the stock in storage and quarantine locations": """
        WITH by_type AS (
            SELECT b.product_id, loc.warehouse_id,
                   sum(b.quantity) FILTER (WHERE loc.type = 'storage') AS on_hand,
                   sum(b.quantity) FILTER (WHERE loc.type = 'quarantine') AS quarantined
              FROM location_balance b JOIN location loc ON loc.id = b.location_id
             GROUP BY b.product_id, loc.warehouse_id)
        SELECT s.product_id, s.warehouse_id, s.on_hand, coalesce(t.on_hand, 0) AS in_storage,
               s.quarantined, coalesce(t.quarantined, 0) AS in_quarantine
          FROM stock_level s
          LEFT JOIN by_type t ON (t.product_id, t.warehouse_id) = (s.product_id, s.warehouse_id)
         WHERE s.on_hand <> coalesce(t.on_hand, 0) OR s.quarantined <> coalesce(t.quarantined, 0)""",
    "3. reserved equals the sum of active reservations": """
        SELECT s.product_id, s.warehouse_id, s.reserved, coalesce(r.quantity, 0) AS reservations
          FROM stock_level s
          LEFT JOIN (SELECT product_id, warehouse_id, sum(quantity) AS quantity FROM reservation
                      GROUP BY product_id, warehouse_id) r
            ON (r.product_id, r.warehouse_id) = (s.product_id, s.warehouse_id)
         WHERE s.reserved <> coalesce(r.quantity, 0)""",
    "4. every move conserves quantity (positive, between two distinct locations)": """
        SELECT id, quantity, from_location_id, to_location_id FROM stock_move
         WHERE quantity <= 0 OR from_location_id = to_location_id""",
    "every unit of an order line is accounted for: ordered = cancelled + backordered + reserved + picked": """
        SELECT l.id, l.quantity, l.cancelled, l.backordered, coalesce(r.quantity, 0) AS reserved, l.picked
          FROM order_line l
          LEFT JOIN (SELECT owner_id, sum(quantity) AS quantity FROM reservation WHERE owner_type = 'order_line'
                      GROUP BY owner_id) r ON r.owner_id = l.id
         WHERE l.quantity <> l.cancelled + l.backordered + coalesce(r.quantity, 0) + l.picked""",
    "picked >= packed >= shipped >= returned, and picks confirmed on pick lists add up to picked": """
        SELECT l.id, l.picked, l.packed, l.shipped, l.returned, coalesce(p.picked, 0) AS on_pick_lists
          FROM order_line l
          LEFT JOIN (SELECT order_line_id, sum(picked) AS picked FROM pick_list_line GROUP BY order_line_id) p
            ON p.order_line_id = l.id
         WHERE NOT (l.picked >= l.packed AND l.packed >= l.shipped AND l.shipped >= l.returned)
            OR l.picked <> coalesce(p.picked, 0)""",
    "a purchase-order line's received quantity equals what arrived from the supplier for it": """
        SELECT l.id, l.received, coalesce(i.quantity, 0) AS inspected_or_pending
          FROM purchase_order_line l
          LEFT JOIN (SELECT purchase_order_line_id, sum(quantity) AS quantity FROM inspection
                      GROUP BY purchase_order_line_id) i ON i.purchase_order_line_id = l.id
         WHERE l.received <> coalesce(i.quantity, 0)
            OR l.rejected <> (SELECT coalesce(sum(rejected), 0) FROM inspection WHERE purchase_order_line_id = l.id)""",
    "an order line's units on returns are what its returns authorized, and its returned units what came back": """
        SELECT l.id, l.return_authorized, coalesce(r.authorized, 0) AS on_returns, l.returned,
               coalesce(r.received, 0) AS received
          FROM order_line l
          LEFT JOIN (SELECT rl.order_line_id, sum(rl.quantity - rl.cancelled) AS authorized,
                            sum(rl.received) AS received
                       FROM return_line rl JOIN return_authorization ra ON ra.id = rl.return_id
                      WHERE ra.status <> 'rejected' GROUP BY rl.order_line_id) r ON r.order_line_id = l.id
         WHERE l.return_authorized <> coalesce(r.authorized, 0) OR l.returned <> coalesce(r.received, 0)""",
    "a return line's received and inspected units are its receipts and inspections": """
        SELECT l.id, l.received, l.restocked, l.repaired, l.scrapped, l.returned_to_supplier
          FROM return_line l
         WHERE l.received <> (SELECT coalesce(sum(c.quantity), 0) FROM return_receipt c WHERE c.return_line_id = l.id)
            OR (l.restocked, l.repaired, l.scrapped, l.returned_to_supplier) <> (
               SELECT coalesce(sum(i.restock), 0), coalesce(sum(i.repair), 0), coalesce(sum(i.scrap), 0),
                      coalesce(sum(i.return_to_supplier), 0)
                 FROM return_inspection i WHERE i.return_line_id = l.id)""",
    "refunds never exceed what was paid for the refundable units: refunded = its refunds <= refundable": """
        SELECT r.id, r.refunded_amount, coalesce(f.total, 0) AS refunds, r.refundable_amount,
               coalesce(x.paid, 0) AS paid_for_refundable
          FROM return_authorization r
          LEFT JOIN (SELECT return_id, sum(amount) AS total FROM refund GROUP BY return_id) f ON f.return_id = r.id
          LEFT JOIN (SELECT return_id, sum(refundable * unit_price) AS paid FROM return_line GROUP BY return_id) x
            ON x.return_id = r.id
         WHERE r.refunded_amount <> coalesce(f.total, 0) OR r.refunded_amount > r.refundable_amount
            OR r.refundable_amount <> coalesce(x.paid, 0)""",
    "every unit of a repair part is accounted for: quantity = consumed + cancelled + waiting + reserved": """
        SELECT p.id, p.quantity, p.consumed, p.cancelled, p.waiting, coalesce(r.quantity, 0) AS reserved
          FROM repair_part p
          LEFT JOIN (SELECT owner_id, sum(quantity) AS quantity FROM reservation WHERE owner_type = 'repair_part'
                      GROUP BY owner_id) r ON r.owner_id = p.id
         WHERE p.quantity <> p.consumed + p.cancelled + p.waiting + coalesce(r.quantity, 0)""",
    "every product has a stock level at every warehouse": """
        SELECT p.id AS product_id, w.id AS warehouse_id FROM product p CROSS JOIN warehouse w
         WHERE NOT EXISTS (SELECT 1 FROM stock_level s WHERE s.product_id = p.id AND s.warehouse_id = w.id)""",
}


@dataclass
class Violation:
    rule: str
    rows: list[dict[str, object]]


async def find_violations(connection: AsyncConnection, limit: int = 20) -> list[Violation]:
    """Run every check in one snapshot; return the rules that fail with up to `limit` offending rows."""
    await connection.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
    found = []
    for rule, query in CHECKS.items():
        rows = (await connection.execute(text(f"SELECT * FROM ({query}) v LIMIT {limit}"))).mappings().all()
        if rows:
            found.append(Violation(rule, [dict(r) for r in rows]))
    return found
