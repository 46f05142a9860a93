"""An order's status follows its lines (DOMAIN.md section 3): pure functions, no I/O."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, slots=True)
class LineState:
    quantity: int
    cancelled: int
    backordered: int
    reserved: int
    picked: int
    packed: int
    shipped: int
    listed: int = 0  # units on open pick lists, not yet picked

    @property
    def active(self) -> int:
        return self.quantity - self.cancelled


def order_status(lines: Sequence[LineState], delivered: bool) -> str:
    active = sum(line.active for line in lines)
    shipped = sum(line.shipped for line in lines)
    if active == 0:
        return "cancelled"
    if shipped == active:
        return "delivered" if delivered else "shipped"
    if shipped > 0:
        return "partially_shipped"
    if any(line.backordered for line in lines):
        return "backordered"
    if sum(line.packed for line in lines) == active:
        return "packed"
    if any(line.picked or line.listed for line in lines):
        return "picking"
    return "confirmed"


def line_state_text(line: LineState) -> str:
    if line.active == 0:
        return "cancelled"
    parts = []
    for count, label in (
        (line.shipped, "shipped"),
        (line.packed - line.shipped, "packed"),
        (line.picked - line.packed, "picked, awaiting verification"),
        (line.reserved, "reserved"),
        (line.backordered, "waiting for supply"),
        (line.cancelled, "cancelled"),
    ):
        if count:
            parts.append(f"{count} {label}")
    return ", ".join(parts)


def _every(units: int) -> str:
    """How a rep says all of an order's units: "the item" or "all 3 items"."""
    return "the item" if units == 1 else f"all {units} items"


def _be(count: int) -> str:
    return "is" if count == 1 else "are"


def status_text(status: str, promised: date | None, reason: str, lines: Sequence[LineState]) -> str:
    units = sum(line.active for line in lines)
    when = f"promised for {promised.isoformat()} ({reason})" if promised else f"not yet promised: {reason}"
    match status:
        case "cancelled":
            return "Cancelled: nothing will ship."
        case "delivered":
            return f"Delivered: {_every(units)} reached the customer."
        case "shipped":
            return f"Shipped: {_every(units)} {_be(units)} with the carrier."
        case "partially_shipped":
            shipped = sum(line.shipped for line in lines)
            return f"Partially shipped: {shipped} of {units} items {_be(shipped)} with the carrier; the rest is {when}."
        case "backordered":
            waiting = sum(line.backordered for line in lines)
            which = _every(units) if waiting == units else f"{waiting} of {units} items"
            return f"Backordered: {which} {_be(waiting)} waiting for supply; the order is {when}."
        case "packed":
            return f"Packed: {_every(units)} {_be(units)} verified and packed, ready to ship; {when}."
        case "picking":
            return f"Being picked in the warehouse; {when}."
        case _:
            return f"Confirmed: {_every(units)} {_be(units)} reserved; {when}."
