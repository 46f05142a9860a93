"""Which warehouse ships what: pure decisions, tested without a database (DOMAIN.md section 2)."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from erp.inventory.availability import WarehouseStock, by_priority


@dataclass(frozen=True, slots=True)
class LineRequest:
    line_no: int
    product_id: int
    quantity: int


@dataclass(slots=True)
class LineAllocation:
    line_no: int
    product_id: int
    quantity: int
    takes: list[tuple[WarehouseStock, int]] = field(default_factory=list)
    backordered: int = 0

    @property
    def reserved(self) -> int:
        return sum(quantity for _, quantity in self.takes)


def allocate(lines: Sequence[LineRequest], stock: Mapping[int, Sequence[WarehouseStock]]) -> list[LineAllocation]:
    """Prefer one warehouse that can ship the whole order; else split each line by warehouse priority.

    Whatever stock cannot cover is backordered.
    """
    warehouses = by_priority({s.warehouse_id: s for ss in stock.values() for s in ss}.values())
    at = {(p, s.warehouse_id): s for p, ss in stock.items() for s in ss}
    for warehouse in warehouses:
        if all(
            (s := at.get((line.product_id, warehouse.warehouse_id))) is not None and s.available >= line.quantity
            for line in lines
        ):
            return [
                LineAllocation(line.line_no, line.product_id, line.quantity,
                               [(at[line.product_id, warehouse.warehouse_id], line.quantity)])
                for line in lines
            ]
    allocations = []
    for line in lines:
        allocation = LineAllocation(line.line_no, line.product_id, line.quantity)
        remaining = line.quantity
        for s in by_priority(stock.get(line.product_id, ())):
            take = min(remaining, max(s.available, 0))
            if take:
                allocation.takes.append((s, take))
                remaining -= take
        allocation.backordered = remaining
        allocations.append(allocation)
    return allocations


def first_choice(stock: Sequence[WarehouseStock]) -> WarehouseStock | None:
    """Where backordered units of a product wait for supply: its highest-priority warehouse."""
    ordered = by_priority(stock)
    return ordered[0] if ordered else None
