from pydantic import Field

from erp.orders.schemas import OrderOut
from erp.returns.schemas import RepairOut, ReturnOut


class OrderCaseOut(OrderOut):
    """The order status view with everything that followed it: returns (with their replacement orders,
    repairs and refunds) and walk-in repairs, each with its state and promise."""

    returns: list[ReturnOut]
    repairs: list[RepairOut] = Field(description="Walk-in repairs of units bought with this order.")
    replacement_for: str | None = Field(description="The return or repair this order replaces units for.")
