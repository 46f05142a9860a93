"""Who reacts to what, in one place: the bus that `create_app()` and the CLI give every session.

What happens when stock arrives, supply moves or reserved stock turns out to be missing is read here;
the handlers live with the domain that reacts, the messages with the one that announces (see `erp.bus`).
"""

from erp.bus import Bus
from erp.inventory.messages import ReservationsReclaimed, StockAdded, SupplyChanged
from erp.orders import backorders


def build_bus() -> Bus:
    return Bus({
        # Stock became sellable (found, received and accepted): waiting backorders claim it first come,
        # first served, and their promises follow.
        StockAdded: [backorders.on_stock_added],
        # A purchase order was sent, moved, received, closed or cancelled, or a lead time changed: every
        # backorder promised from that supply is promised again.
        SupplyChanged: [backorders.on_supply_changed],
        # A short pick emptied a bin that reservations counted on: their order lines are reserved again
        # elsewhere or backordered.
        ReservationsReclaimed: [backorders.on_reservations_reclaimed],
    })
