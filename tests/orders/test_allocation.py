"""Allocation rules as pure functions: no database."""

from datetime import date

from erp.inventory.availability import Availability, Supply, WarehouseStock, projection, promise
from erp.orders.allocation import LineRequest, allocate

MAD = dict(warehouse_id=1, code="MAD-1", priority=10, handling_days=1)
BER = dict(warehouse_id=2, code="BER-1", priority=20, handling_days=2)
TODAY = date(2026, 11, 23)


def stock(**available):
    return {product: [WarehouseStock(**MAD, available=mad), WarehouseStock(**BER, available=ber)]
            for product, (mad, ber) in ((int(k[1:]), v) for k, v in available.items())}


def test_prefers_one_warehouse_that_can_ship_the_whole_order_even_if_not_first_priority():
    plan = allocate([LineRequest(1, 1, 2), LineRequest(2, 2, 3)], stock(p1=(5, 5), p2=(1, 9)))
    assert [[(s.code, q) for s, q in a.takes] for a in plan] == [[("BER-1", 2)], [("BER-1", 3)]]


def test_prefers_the_higher_priority_warehouse_when_both_could_ship_everything():
    plan = allocate([LineRequest(1, 1, 2)], stock(p1=(5, 5)))
    assert [(s.code, q) for s, q in plan[0].takes] == [("MAD-1", 2)]


def test_splits_by_priority_when_no_single_warehouse_can_ship_it_all():
    plan = allocate([LineRequest(1, 1, 8)], stock(p1=(5, 4)))
    assert [(s.code, q) for s, q in plan[0].takes] == [("MAD-1", 5), ("BER-1", 3)]
    assert plan[0].backordered == 0


def test_backorders_what_no_warehouse_has():
    plan = allocate([LineRequest(1, 1, 12), LineRequest(2, 2, 1)], stock(p1=(5, 4), p2=(0, 0)))
    assert (plan[0].reserved, plan[0].backordered) == (9, 3)
    assert (plan[1].reserved, plan[1].backordered) == (0, 1)


def test_promise_from_stock_adds_the_slowest_warehouse_handling_time():
    availability = Availability("X", 1, stock(p1=(5, 5))[1])
    assert promise(5, availability, TODAY).date == date(2026, 11, 24)
    split = promise(8, availability, TODAY)
    assert (split.date, split.basis, split.reason) == (date(2026, 11, 25), "in_stock", "in stock at MAD-1 and BER-1")


def test_earlier_backorders_claim_stock_before_a_new_promise():
    availability = Availability("X", 1, [WarehouseStock(**MAD, available=5, backordered=4)])
    assert availability.available_now == 1
    assert promise(2, availability, TODAY).basis == "cannot_promise"


def test_promise_from_dated_supply_names_the_purchase_order():
    availability = Availability("X", 1, stock(p1=(2, 0))[1], supply=[
        Supply(date(2026, 12, 3), 20, "PO-000123", 1, "MAD-1", 1),
        Supply(date(2026, 12, 20), 50, "PO-000124", 1, "MAD-1", 1)])
    near = promise(10, availability, TODAY)
    assert (near.date, near.basis, near.reason) == (date(2026, 12, 4), "incoming_supply",
                                                    "waiting for PO-000123, due 2026-12-03")
    assert promise(40, availability, TODAY).supply_reference == "PO-000124"
    assert [p.available for p in projection(availability, TODAY)] == [2, 22, 72]


def test_without_supply_the_lead_time_gives_an_estimate_and_without_it_no_promise():
    availability = Availability("X", 1, stock(p1=(0, 0))[1], lead_time_days=14)
    estimate = promise(1, availability, TODAY)
    assert (estimate.date, estimate.basis, estimate.estimated) == (date(2026, 12, 8), "supplier_lead_time", True)
    availability.lead_time_days = None
    assert promise(1, availability, TODAY).date is None
