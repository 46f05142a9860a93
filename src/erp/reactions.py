"""Who reacts to what, in one place: the bus that `create_app()` and the CLI give every session.

What happens when stock arrives, supply moves or reserved stock turns out to be missing is read here;
the handlers live with the domain that reacts, the messages with the one that announces (see `erp.bus`).
"""

from erp.bus import Bus
from erp.inventory.messages import ReservationsReclaimed, StockAdded, SupplyChanged
from erp.orders import backorders
from erp.orders.messages import OrderShipped
from erp.returns import cases, repairs


def build_bus() -> Bus:
    return Bus({
        # Stock became sellable (found, received and accepted, restocked from a return or a repair): what
        # waits for it (backordered order lines, repair parts) claims it first come, first served, in one
        # queue, and the promises follow.
        StockAdded: [backorders.on_stock_added, repairs.on_stock_added],
        # A purchase order was sent, moved, received, closed or cancelled, or a lead time changed: every
        # backorder and waiting repair part promised from that supply is promised again.
        SupplyChanged: [backorders.on_supply_changed, repairs.on_supply_changed],
        # A short pick emptied a bin that reservations counted on: their order lines are reserved again
        # elsewhere or backordered, their repair parts wait in line again.
        ReservationsReclaimed: [backorders.on_reservations_reclaimed, repairs.on_reservations_reclaimed],
        # A replacement order shipped: the return (or repair) it serves may be resolved.
        OrderShipped: [cases.on_order_shipped],
    })
