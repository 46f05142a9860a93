"""Replenishment's pure rule: how much to order. No database."""

from erp.suppliers.replenishment import order_quantity


def test_orders_up_to_the_maximum():
    assert order_quantity(projected=3, reorder_max=20, minimum=1) == 17


def test_rounds_up_to_whole_minimum_order_multiples():
    assert order_quantity(projected=3, reorder_max=20, minimum=5) == 20
    assert order_quantity(projected=4, reorder_max=20, minimum=5) == 20
    assert order_quantity(projected=0, reorder_max=21, minimum=10) == 30


def test_backorders_that_make_projection_negative_raise_the_order():
    assert order_quantity(projected=-7, reorder_max=10, minimum=1) == 17


def test_orders_at_least_one_minimum_even_when_the_projection_reaches_the_maximum():
    assert order_quantity(projected=10, reorder_max=10, minimum=6) == 6
