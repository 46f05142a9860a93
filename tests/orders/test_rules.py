"""The orders' pure rules, tested as such: which bins to pick from, an order's status, and the promises
waiting backorders get. No database; milliseconds each."""

from datetime import date

from erp.inventory.availability import Availability, Supply, WarehouseStock, queue_promises
from erp.orders.picking import choose_bins
from erp.orders.status import LineState, order_status, status_text
from erp.returns.status import ReturnCounts, return_text

TODAY = date(2026, 11, 25)
MAD = dict(warehouse_id=1, code="MAD-1", priority=10, handling_days=1)


# --- choose_bins --------------------------------------------------------------------------------------


def test_takes_from_bins_in_walking_order_and_stops_when_enough():
    assert choose_bins(5, [(10, 3), (11, 4), (12, 9)]) == [(10, 3), (11, 2)]


def test_never_asks_a_bin_for_more_than_it_has_free():
    assert choose_bins(6, [(10, 2), (11, 2)]) == [(10, 2), (11, 2)]


def test_skips_bins_with_nothing_free_including_overclaimed_ones():
    assert choose_bins(3, [(10, 0), (11, -2), (12, 5)]) == [(12, 3)]


def test_chooses_nothing_when_nothing_is_needed():
    assert choose_bins(0, [(10, 5)]) == []


# --- order_status -------------------------------------------------------------------------------------


def line(quantity=2, cancelled=0, backordered=0, reserved=0, picked=0, packed=0, shipped=0, listed=0):
    return LineState(quantity, cancelled, backordered, reserved, picked, packed, shipped, listed)


def test_an_order_whose_lines_are_all_reserved_is_confirmed():
    assert order_status([line(reserved=2), line(reserved=2)], delivered=False) == "confirmed"


def test_one_line_waiting_for_supply_makes_the_order_backordered():
    assert order_status([line(reserved=2), line(backordered=2)], delivered=False) == "backordered"


def test_units_on_a_pick_list_or_picked_make_it_picking():
    assert order_status([line(reserved=2, listed=2)], delivered=False) == "picking"
    assert order_status([line(reserved=1, picked=1)], delivered=False) == "picking"


def test_everything_packed_is_packed_and_anything_shipped_is_at_least_partially_shipped():
    assert order_status([line(picked=2, packed=2)], delivered=False) == "packed"
    assert order_status([line(picked=2, packed=2, shipped=1)], delivered=False) == "partially_shipped"


def test_shipped_is_judged_against_what_was_not_cancelled():
    assert order_status([line(quantity=3, cancelled=1, picked=2, packed=2, shipped=2)], delivered=False) == "shipped"
    assert order_status([line(quantity=3, cancelled=1, picked=2, packed=2, shipped=2)], delivered=True) == "delivered"


def test_an_order_with_nothing_left_active_is_cancelled():
    assert order_status([line(cancelled=2), line(cancelled=2)], delivered=False) == "cancelled"


def test_a_partial_shipment_outranks_a_backorder_on_another_line():
    lines = [line(picked=2, packed=2, shipped=2), line(backordered=2)]
    assert order_status(lines, delivered=False) == "partially_shipped"


# --- queue_promises -------------------------------------------------------------------------------------


def waiting_for(available, *lots, lead_time_days=None):
    return Availability("FAN-12", 1, [WarehouseStock(**MAD, available=available)],
                        lead_time_days=lead_time_days,
                        all_supply=[Supply(due, quantity, ref, 1, "MAD-1", 1) for due, quantity, ref in lots])


def test_backorders_are_promised_first_come_first_served_from_stock_then_each_purchase_order():
    availability = waiting_for(3, (date(2026, 12, 5), 4, "PO-000001"), (date(2026, 12, 20), 10, "PO-000002"))
    promises = queue_promises(availability, [2, 2, 3, 5], TODAY)
    assert [(p.basis, p.supply_reference) for p in promises] == [
        ("in_stock", None), ("incoming_supply", "PO-000001"), ("incoming_supply", "PO-000001"),
        ("incoming_supply", "PO-000002")]
    assert [p.date for p in promises] == [date(2026, 11, 26), date(2026, 12, 6), date(2026, 12, 6),
                                          date(2026, 12, 21)]


def test_a_lot_due_in_the_past_is_promised_from_today():
    (promised,) = queue_promises(waiting_for(0, (date(2026, 11, 1), 5, "PO-000007")), [1], TODAY)
    assert (promised.date, promised.reason) == (date(2026, 11, 26), "waiting for PO-000007, due 2026-11-01")


def test_demand_beyond_all_supply_falls_back_to_the_lead_time_or_cannot_be_promised():
    supplied = waiting_for(0, (date(2026, 12, 5), 2, "PO-000001"), lead_time_days=20)
    first, second = queue_promises(supplied, [2, 1], TODAY)
    assert (first.basis, second.basis, second.estimated) == ("incoming_supply", "supplier_lead_time", True)
    assert second.date == date(2026, 12, 16)
    (nothing,) = queue_promises(waiting_for(0), [1], TODAY)
    assert (nothing.date, nothing.basis) == (None, "cannot_promise")


# --- the status in words ------------------------------------------------------------------------------


def test_the_status_in_words_counts_items_as_a_rep_says_them():
    one = [LineState(quantity=1, cancelled=0, backordered=0, reserved=1, picked=0, packed=0, shipped=0)]
    three = [LineState(quantity=3, cancelled=0, backordered=0, reserved=3, picked=0, packed=0, shipped=0)]
    promised = date(2026, 11, 26)
    assert status_text("confirmed", promised, "in stock at MAD-1", one).startswith("Confirmed: the item is reserved;")
    assert status_text("confirmed", promised, "x", three).startswith("Confirmed: all 3 items are reserved;")
    assert status_text("shipped", None, "", one) == "Shipped: the item is with the carrier."
    assert status_text("delivered", None, "", three) == "Delivered: all 3 items reached the customer."
    waiting = [LineState(quantity=1, cancelled=0, backordered=1, reserved=0, picked=0, packed=0, shipped=0)]
    assert status_text("backordered", promised, "PO-1", waiting).startswith("Backordered: the item is waiting")
    partly = [*waiting, *three]
    assert status_text("backordered", promised, "PO-1", partly).startswith("Backordered: 1 of 4 items is waiting")
    shipped_one = [LineState(quantity=3, cancelled=0, backordered=0, reserved=2, picked=1, packed=1, shipped=1)]
    assert status_text("partially_shipped", promised, "x", shipped_one).startswith(
        "Partially shipped: 1 of 3 items is with the carrier;")


def test_a_returns_words_count_units_as_a_rep_says_them():
    one = ReturnCounts(authorized=1, received=0, inspected=0)
    assert return_text("RMA-1", "authorized", one, {}, None, None) == "RMA-1 authorized for 1 unit, waiting for the goods"
    two = ReturnCounts(authorized=2, received=1, inspected=1)
    assert return_text("RMA-1", "inspected", two, {"restocked": 1}, None, None) == (
        "RMA-1 inspected: 1 restocked; 1 more unit expected")
