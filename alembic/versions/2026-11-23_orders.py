"""orders

Revision ID: 0002
Revises: 0001
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op
from sqlalchemy.dialects import postgresql
revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Backordered demand per product and warehouse is summed from the order lines waiting for supply.
STOCK_POSITION = """
CREATE OR REPLACE VIEW stock_position AS
SELECT s.product_id, s.warehouse_id, s.on_hand, s.reserved, s.on_hand - s.reserved AS available, s.quarantined,
       0::bigint AS incoming,
       (SELECT coalesce(sum(l.backordered), 0) FROM order_line l
         WHERE l.product_id = s.product_id AND l.backorder_warehouse_id = s.warehouse_id
           AND l.backordered > 0)::bigint AS backordered
  FROM stock_level s
"""

# Reserving for a whole order in one round trip: one conditional update per product and warehouse, in
# the order given (the caller sorts by the global lock order), each with its reservation row. All or
# nothing: if stock cannot cover one of them (a racing order came first), everything it did is rolled
# back, its row locks released, and it answers false, so the caller can lock and re-plan.
RESERVE_STOCK = """
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

STOCK_POSITION_BEFORE = """
CREATE OR REPLACE VIEW stock_position AS
SELECT product_id, warehouse_id, on_hand, reserved, on_hand - reserved AS available, quarantined,
       0::bigint AS incoming, 0::bigint AS backordered
  FROM stock_level
"""


def upgrade() -> None:
    op.execute("CREATE SEQUENCE sales_order_number_seq")
    op.create_table('sales_order',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sqlmodel.sql.sqltypes.AutoString(length=20), server_default=sa.text("'SO-' || lpad(nextval('sales_order_number_seq')::text, 6, '0')"), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('customer_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('customer_email', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
    sa.Column('customer_phone', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('ship_to', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('external_ref', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('allow_backorder', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('version', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("channel IN ('web', 'phone', 'email', 'chat', 'social', 'store', 'api')", name=op.f('ck_sales_order_channel')),
    sa.CheckConstraint("status IN ('confirmed', 'backordered', 'picking', 'packed', 'partially_shipped', 'shipped', 'delivered', 'cancelled')", name=op.f('ck_sales_order_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sales_order')),
    sa.UniqueConstraint('number', name=op.f('uq_sales_order_number'))
    )
    op.create_index('ix_sales_order_customer_email', 'sales_order', ['customer_email'], unique=False)
    op.create_index('ix_sales_order_status', 'sales_order', ['status', 'id'], unique=False)
    op.create_index('uq_sales_order_channel_external_ref', 'sales_order', ['channel', 'external_ref'], unique=True, postgresql_where=sa.text('external_ref IS NOT NULL'))
    op.create_table('order_contact',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('direction', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('summary', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('rep', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("channel IN ('web', 'phone', 'email', 'chat', 'social', 'store', 'api')", name=op.f('ck_order_contact_channel')),
    sa.CheckConstraint("direction IN ('inbound', 'outbound')", name=op.f('ck_order_contact_direction')),
    sa.ForeignKeyConstraint(['order_id'], ['sales_order.id'], name=op.f('fk_order_contact_order_id_sales_order')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_contact'))
    )
    op.create_index(op.f('ix_order_contact_order_id'), 'order_contact', ['order_id'], unique=False)
    op.create_table('order_line',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('cancelled', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('backordered', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('backorder_warehouse_id', sa.Integer(), nullable=True),
    sa.Column('picked', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('packed', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('shipped', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('returned', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('promised_date', sa.Date(), nullable=True),
    sa.Column('promise_basis', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('promise_reason', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.CheckConstraint("promise_basis IN ('in_stock', 'incoming_supply', 'supplier_lead_time', 'cannot_promise')", name=op.f('ck_order_line_promise_basis')),
    sa.CheckConstraint('quantity > 0 AND cancelled >= 0 AND backordered >= 0 AND picked >= 0 AND cancelled + backordered + picked <= quantity', name=op.f('ck_order_line_quantities')),
    sa.CheckConstraint('returned >= 0 AND returned <= shipped', name=op.f('ck_order_line_returned')),
    sa.CheckConstraint('shipped >= 0 AND packed >= shipped AND picked >= packed', name=op.f('ck_order_line_fulfilment')),
    sa.ForeignKeyConstraint(['backorder_warehouse_id'], ['warehouse.id'], name=op.f('fk_order_line_backorder_warehouse_id_warehouse')),
    sa.ForeignKeyConstraint(['order_id'], ['sales_order.id'], name=op.f('fk_order_line_order_id_sales_order')),
    sa.ForeignKeyConstraint(['product_id'], ['product.id'], name=op.f('fk_order_line_product_id_product')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_line')),
    sa.UniqueConstraint('order_id', 'line_no', name=op.f('uq_order_line_order_id_line_no'))
    )
    op.create_index('ix_order_line_backordered', 'order_line', ['product_id', 'backorder_warehouse_id'], unique=False, postgresql_where=sa.text('backordered > 0'))
    op.create_index('ix_order_line_product_id', 'order_line', ['product_id'], unique=False)
    op.create_table('pick_list',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('warehouse_id', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), server_default='open', nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('open', 'completed')", name=op.f('ck_pick_list_status')),
    sa.ForeignKeyConstraint(['warehouse_id'], ['warehouse.id'], name=op.f('fk_pick_list_warehouse_id_warehouse')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pick_list'))
    )
    op.create_table('shipment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('carrier', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('tracking_number', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('lines', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['sales_order.id'], name=op.f('fk_shipment_order_id_sales_order')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shipment'))
    )
    op.create_index(op.f('ix_shipment_order_id'), 'shipment', ['order_id'], unique=False)
    op.create_table('pick_list_line',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pick_list_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('order_line_id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('picked', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('short', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('picked_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('picked_by_key_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('quantity >= 0 AND picked >= 0 AND short >= 0 AND picked + short <= quantity', name=op.f('ck_pick_list_line_quantities')),
    sa.ForeignKeyConstraint(['location_id'], ['location.id'], name=op.f('fk_pick_list_line_location_id_location')),
    sa.ForeignKeyConstraint(['order_line_id'], ['order_line.id'], name=op.f('fk_pick_list_line_order_line_id_order_line')),
    sa.ForeignKeyConstraint(['pick_list_id'], ['pick_list.id'], name=op.f('fk_pick_list_line_pick_list_id_pick_list')),
    sa.ForeignKeyConstraint(['product_id'], ['product.id'], name=op.f('fk_pick_list_line_product_id_product')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pick_list_line'))
    )
    op.create_index('ix_pick_list_line_open_bin', 'pick_list_line', ['location_id', 'product_id'], unique=False, postgresql_where=sa.text('picked + short < quantity'))
    op.create_index('ix_pick_list_line_order_line_id', 'pick_list_line', ['order_line_id'], unique=False)
    op.create_index('ix_pick_list_line_pick_list_id', 'pick_list_line', ['pick_list_id', 'position'], unique=False)
    op.execute(STOCK_POSITION)
    op.execute(RESERVE_STOCK)


def downgrade() -> None:
    op.execute("DROP FUNCTION reserve_stock(int[], int[], bigint[], int[])")
    op.execute(STOCK_POSITION_BEFORE)
    op.drop_index('ix_pick_list_line_pick_list_id', table_name='pick_list_line')
    op.drop_index('ix_pick_list_line_order_line_id', table_name='pick_list_line')
    op.drop_index('ix_pick_list_line_open_bin', table_name='pick_list_line', postgresql_where=sa.text('picked + short < quantity'))
    op.drop_table('pick_list_line')
    op.drop_index(op.f('ix_shipment_order_id'), table_name='shipment')
    op.drop_table('shipment')
    op.drop_table('pick_list')
    op.drop_index('ix_order_line_product_id', table_name='order_line')
    op.drop_index('ix_order_line_backordered', table_name='order_line', postgresql_where=sa.text('backordered > 0'))
    op.drop_table('order_line')
    op.drop_index(op.f('ix_order_contact_order_id'), table_name='order_contact')
    op.drop_table('order_contact')
    op.drop_index('uq_sales_order_channel_external_ref', table_name='sales_order', postgresql_where=sa.text('external_ref IS NOT NULL'))
    op.drop_index('ix_sales_order_status', table_name='sales_order')
    op.drop_index('ix_sales_order_customer_email', table_name='sales_order')
    op.drop_table('sales_order')
    op.execute("DROP SEQUENCE sales_order_number_seq")
