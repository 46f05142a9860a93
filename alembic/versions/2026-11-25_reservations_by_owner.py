"""reservations by owner: reserve_stock() takes the owner type; holds may own reservations

Revision ID: 0004
Revises: 0003
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As before (one conditional update per product and warehouse, in the order given, each with its
# reservation row; all or nothing, answering false when stock cannot cover one of them), for any owner:
# an order line, a repair part or a hold.
RESERVE_STOCK = """
CREATE FUNCTION reserve_stock(owner_type text, products int[], warehouses int[], quantities bigint[], owners int[])
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. coalesce(array_length(products, 1), 0) LOOP
        UPDATE stock_level SET reserved = reserved + quantities[i]
         WHERE product_id = products[i] AND warehouse_id = warehouses[i] AND on_hand - reserved >= quantities[i];
        IF NOT FOUND THEN
            RAISE EXCEPTION 'reservation lost to a concurrent claim' USING ERRCODE = 'ER001';
        END IF;
        INSERT INTO reservation (product_id, warehouse_id, owner_type, owner_id, quantity)
        VALUES (products[i], warehouses[i], owner_type, owners[i], quantities[i]);
    END LOOP;
    RETURN true;
EXCEPTION WHEN SQLSTATE 'ER001' THEN
    RETURN false;
END
$$
"""

RESERVE_STOCK_BEFORE = """
CREATE FUNCTION reserve_stock(products int[], warehouses int[], quantities bigint[], lines int[])
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. coalesce(array_length(products, 1), 0) LOOP
        UPDATE stock_level SET reserved = reserved + quantities[i]
         WHERE product_id = products[i] AND warehouse_id = warehouses[i] AND on_hand - reserved >= quantities[i];
        IF NOT FOUND THEN
            RAISE EXCEPTION 'reservation lost to a concurrent order' USING ERRCODE = 'ER001';
        END IF;
        INSERT INTO reservation (product_id, warehouse_id, owner_type, owner_id, quantity)
        VALUES (products[i], warehouses[i], 'order_line', lines[i], quantities[i]);
    END LOOP;
    RETURN true;
EXCEPTION WHEN SQLSTATE 'ER001' THEN
    RETURN false;
END
$$
"""


def upgrade() -> None:
    op.execute("DROP FUNCTION reserve_stock(int[], int[], bigint[], int[])")
    op.execute(RESERVE_STOCK)
    op.drop_constraint(op.f('ck_reservation_owner_type'), 'reservation', type_='check')
    op.create_check_constraint('owner_type', 'reservation', "owner_type IN ('order_line', 'repair_part', 'hold')")


def downgrade() -> None:
    op.drop_constraint(op.f('ck_reservation_owner_type'), 'reservation', type_='check')
    op.create_check_constraint('owner_type', 'reservation', "owner_type IN ('order_line', 'repair_part')")
    op.execute("DROP FUNCTION reserve_stock(text, int[], int[], bigint[], int[])")
    op.execute(RESERVE_STOCK_BEFORE)
