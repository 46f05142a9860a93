"""What happens to stock and supply, said on the bus (`erp.bus`) for whoever waits on it.

Publishers hold the products' stock-level locks at every warehouse
(`ledger.lock_products_everywhere`) when they publish, so handlers may reserve and re-promise at once.
Who reacts is written down in `erp.reactions`.
"""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StockAdded:
    """Units became sellable outside any order's work (found, received, accepted, restocked)."""

    product_ids: tuple[int, ...]
    actor: str


@dataclass(frozen=True, slots=True)
class SupplyChanged:
    """Dated supply of these products changed: a purchase order sent, moved, received, closed or cancelled,
    or a preferred supplier's lead time."""

    product_ids: tuple[int, ...]
    actor: str


@dataclass(frozen=True, slots=True)
class Reclaimed:
    """A reservation that counted on stock which turned out not to be there was released."""

    owner_type: str
    owner_id: int
    product_id: int
    warehouse_id: int
    quantity: int


@dataclass(frozen=True, slots=True)
class ReservationsReclaimed:
    """Stock vanished under reservations (a short pick found a bin emptier than the ledger said); the
    newest reservations of the product at the warehouse were released to match what is really there.
    Their owners must find the units elsewhere or wait for supply."""

    reclaimed: tuple[Reclaimed, ...]
    actor: str
    why: str
