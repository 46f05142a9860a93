"""A return's and a repair's state and promise, as pure rules over plain data: no I/O.

A return's status follows its lines (as an order's does): authorized until goods arrive, received while
arrived units wait for inspection, inspected once every arrived unit has a disposition, resolved when
everything authorized came back and the customer got what was chosen (the refund recorded, the
replacement shipped, the repairs shipped). Rejected and cancelled are set by a rep and final.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from erp.inventory.availability import Promise, days_after

FINAL = ("rejected", "cancelled")
SHIPPED = ("shipped", "delivered")

# Repair transitions a person may ask for: target -> states it may leave from. `waiting_parts` is also set
# and left by the server as parts go short and arrive.
REPAIR_TRANSITIONS = {
    "in_progress": ("queued", "waiting_parts"),
    "waiting_parts": ("queued", "in_progress"),
    "completed": ("in_progress",),
    "shipped": ("completed",),
    "unrepairable": ("queued", "in_progress", "waiting_parts"),
}
BASIS_RANK = {"in_stock": 0, "incoming_supply": 1, "supplier_lead_time": 2, "cannot_promise": 3}


@dataclass(frozen=True, slots=True)
class ReturnCounts:
    authorized: int
    received: int
    inspected: int


@dataclass(frozen=True, slots=True)
class RepairState:
    status: str
    ships_to_customer: bool
    outcome: str | None
    outcome_done: bool  # its replacement shipped, or its refund recorded


def repair_done(repair: RepairState) -> bool:
    if repair.status == "shipped" or (repair.status == "completed" and not repair.ships_to_customer):
        return True
    return repair.status == "unrepairable" and (not repair.ships_to_customer or repair.outcome_done)


def resolution_done(resolution: str, *, refundable: Decimal, refunded: Decimal, unpriced_refundable: bool,
                    replacements: Sequence[str], replaced: int, received: int,
                    repairs: Sequence[RepairState]) -> bool:
    """Has the customer got what the return promised, for every unit that came back?"""
    match resolution:
        case "refund":
            return not unpriced_refundable and refundable > 0 and refunded >= refundable
        case "replacement":
            return bool(replacements) and replaced >= received and all(s in SHIPPED for s in replacements)
        case _:
            return bool(repairs) and all(repair_done(r) for r in repairs)


def return_status(current: str, counts: ReturnCounts, done: bool) -> str:
    if current in FINAL:
        return current
    if counts.received == 0:
        return "authorized"
    if counts.inspected < counts.received:
        return "received"
    if counts.received == counts.authorized and done:
        return "resolved"
    return "inspected"


def _units(count: int) -> str:
    return f"{count} unit{'s' if count != 1 else ''}"


def return_text(number: str, status: str, counts: ReturnCounts, dispositions: dict[str, int],
                refund_left: Decimal | None, currency: str | None) -> str:
    """The return's state in words, as a rep reads it out."""
    match status:
        case "authorized":
            return f"{number} authorized for {_units(counts.authorized)}, waiting for the goods"
        case "received":
            waiting = counts.received - counts.inspected
            return (f"{number} received ({counts.received} of {_units(counts.authorized)}), "
                    f"{waiting} awaiting inspection")
        case "inspected" | "resolved":
            done = ", ".join(f"{n} {what}" for what, n in dispositions.items() if n)
            text = f"{number} {status}: {done}" if done else f"{number} {status}"
            if status == "inspected" and counts.received < counts.authorized:
                more = counts.authorized - counts.received
                text += f"; {more} more unit{'s' if more != 1 else ''} expected"
            if refund_left is not None and refund_left > 0:
                text += f"; {format(refund_left.normalize(), 'f')} {currency or ''} still to refund".replace("  ", " ")
            return text
        case _:
            return f"{number} {status}"


def repair_promise(status: str, waiting: Sequence[tuple[str, int, Promise]], repair_days: int,
                   today: date) -> Promise:
    """When a repair will be done: once its last part is there, plus the repair time. `waiting` holds
    (sku, units, promise) for each part still waiting for stock."""
    match status:
        case "completed":
            return Promise(None, "in_stock", "repaired")
        case "shipped":
            return Promise(None, "in_stock", "repaired and shipped")
        case "unrepairable":
            return Promise(None, "cannot_promise", "cannot be repaired")
    takes = f"repair takes {repair_days} day{'s' if repair_days != 1 else ''}"
    if not waiting:
        return Promise(days_after(today, repair_days), "in_stock", f"parts in stock; {takes}")
    if any(p.date is None for _, _, p in waiting):
        sku, units, promise = next(w for w in waiting if w[2].date is None)
        return Promise(None, "cannot_promise", f"waiting for {units} x {sku}: {promise.reason}")
    sku, units, last = max(waiting, key=lambda w: (w[2].date, BASIS_RANK[w[2].basis]))
    basis = max((p.basis for _, _, p in waiting), key=BASIS_RANK.__getitem__)
    source = (f" on {last.reason.removeprefix('waiting for ')}" if last.basis == "incoming_supply"
              else f" ({last.reason})")
    return Promise(days_after(last.date, repair_days), basis, f"waiting for {units} x {sku}{source}; {takes}",
                   estimated=last.estimated, supply_reference=last.supply_reference)
