"""What orders says on the bus (`erp.bus`) for whoever follows an order (see `erp.reactions`)."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class OrderShipped:
    """Units of the order left with a carrier."""

    order_id: int
    actor: str
