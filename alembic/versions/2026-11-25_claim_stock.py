"""claim_stock(): reserve a batch or raise, for placement in one autocommitted statement

Revision ID: 0008
Revises: 0007
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# reserve_stock()'s conditional updates, but a shortfall raises (ER001) instead of answering false: the
# statement that calls it, and everything it inserted, is undone by PostgreSQL itself. No exception
# block, so no subtransaction per call. Placement sends it in autocommit, one statement and no
# BEGIN/COMMIT round trips: the hot row's lock lasts from the update to the statement's own commit.
CLAIM_STOCK = """
CREATE FUNCTION claim_stock(owner_type text, products int[], warehouses int[], quantities bigint[], owners int[])
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
END
$$
"""


def upgrade() -> None:
    op.execute(CLAIM_STOCK)


def downgrade() -> None:
    op.execute("DROP FUNCTION claim_stock(text, int[], int[], bigint[], int[])")
