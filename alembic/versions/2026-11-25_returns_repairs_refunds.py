"""returns, repairs, replacements and refunds; prices on orders; one queue for waiting demand

Revision ID: 0005
Revises: 0004
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes

from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Demand waiting for stock and supply, first come first served across owners: backordered order lines
# (placed in their order's queue position) and repair parts that could not be reserved.
WAITING_DEMAND = """
CREATE VIEW waiting_demand AS
SELECT 'order_line'::text AS owner_type, l.id AS owner_id, l.product_id, l.backorder_warehouse_id AS warehouse_id,
       l.backordered AS quantity, o.queue_position
  FROM order_line l JOIN sales_order o ON o.id = l.order_id
 WHERE l.backordered > 0
UNION ALL
SELECT 'repair_part', p.id, p.product_id, p.warehouse_id, p.waiting, p.queue_position
  FROM repair_part p
 WHERE p.waiting > 0
"""

STOCK_POSITION = """
CREATE OR REPLACE VIEW stock_position AS
SELECT s.product_id, s.warehouse_id, s.on_hand, s.reserved, s.on_hand - s.reserved AS available, s.quarantined,
       (SELECT coalesce(sum(u.quantity), 0) FROM open_supply u
         WHERE u.product_id = s.product_id AND u.warehouse_id = s.warehouse_id AND NOT u.received)::bigint
         AS incoming,
       ((SELECT coalesce(sum(l.backordered), 0) FROM order_line l
          WHERE l.product_id = s.product_id AND l.backorder_warehouse_id = s.warehouse_id AND l.backordered > 0)
        + (SELECT coalesce(sum(p.waiting), 0) FROM repair_part p
            WHERE p.product_id = s.product_id AND p.warehouse_id = s.warehouse_id AND p.waiting > 0))::bigint
         AS backordered
  FROM stock_level s
"""

STOCK_POSITION_BEFORE = """
CREATE OR REPLACE VIEW stock_position AS
SELECT s.product_id, s.warehouse_id, s.on_hand, s.reserved, s.on_hand - s.reserved AS available, s.quarantined,
       (SELECT coalesce(sum(u.quantity), 0) FROM open_supply u
         WHERE u.product_id = s.product_id AND u.warehouse_id = s.warehouse_id AND NOT u.received)::bigint
         AS incoming,
       (SELECT coalesce(sum(l.backordered), 0) FROM order_line l
         WHERE l.product_id = s.product_id AND l.backorder_warehouse_id = s.warehouse_id
           AND l.backordered > 0)::bigint AS backordered
  FROM stock_level s
"""

LOCATION_TYPES = "('receiving', 'quarantine', 'storage', 'packing', 'scrap', 'supplier', 'customer', 'adjustment'{})"


def upgrade() -> None:
    op.execute("CREATE SEQUENCE return_number_seq")
    op.execute("CREATE SEQUENCE repair_number_seq")
    op.execute("CREATE SEQUENCE demand_queue_seq")
    op.create_table('return_authorization',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sqlmodel.sql.sqltypes.AutoString(length=20), server_default=sa.text("'RMA-' || lpad(nextval('return_number_seq')::text, 6, '0')"), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('warehouse_id', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), server_default='authorized', nullable=False),
    sa.Column('resolution', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('advance_replacement', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=True),
    sa.Column('refundable_amount', sa.Numeric(precision=14, scale=4), server_default=sa.text('0'), nullable=False),
    sa.Column('refunded_amount', sa.Numeric(precision=14, scale=4), server_default=sa.text('0'), nullable=False),
    sa.Column('notes', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('version', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("NOT advance_replacement OR resolution = 'replacement'", name=op.f('ck_return_authorization_advance')),
    sa.CheckConstraint("resolution IN ('refund', 'replacement', 'repair')", name=op.f('ck_return_authorization_resolution')),
    sa.CheckConstraint("status IN ('authorized', 'received', 'inspected', 'resolved', 'rejected', 'cancelled')", name=op.f('ck_return_authorization_status')),
    sa.CheckConstraint('refunded_amount >= 0 AND refunded_amount <= refundable_amount', name=op.f('ck_return_authorization_refunds')),
    sa.ForeignKeyConstraint(['order_id'], ['sales_order.id'], name=op.f('fk_return_authorization_order_id_sales_order')),
    sa.ForeignKeyConstraint(['warehouse_id'], ['warehouse.id'], name=op.f('fk_return_authorization_warehouse_id_warehouse')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_return_authorization')),
    sa.UniqueConstraint('number', name=op.f('uq_return_authorization_number'))
    )
    op.create_index('ix_return_authorization_order_id', 'return_authorization', ['order_id'], unique=False)
    op.create_index('ix_return_authorization_status', 'return_authorization', ['status', 'id'], unique=False)
    op.create_table('supplier_defect',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('supplier_id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('reference', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_supplier_defect_quantity')),
    sa.ForeignKeyConstraint(['product_id'], ['product.id'], name=op.f('fk_supplier_defect_product_id_product')),
    sa.ForeignKeyConstraint(['supplier_id'], ['supplier.id'], name=op.f('fk_supplier_defect_supplier_id_supplier')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supplier_defect'))
    )
    op.create_index('ix_supplier_defect_supplier_id', 'supplier_defect', ['supplier_id', 'created_at'], unique=False)
    op.create_table('refund',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('return_id', sa.Integer(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=14, scale=4), nullable=False),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('method', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('reference', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("method IN ('original_payment', 'store_credit', 'bank_transfer', 'cash', 'other')", name=op.f('ck_refund_method')),
    sa.CheckConstraint('amount > 0', name=op.f('ck_refund_amount')),
    sa.ForeignKeyConstraint(['return_id'], ['return_authorization.id'], name=op.f('fk_refund_return_id_return_authorization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refund'))
    )
    op.create_index(op.f('ix_refund_return_id'), 'refund', ['return_id'], unique=False)
    op.create_table('return_line',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('return_id', sa.Integer(), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('order_line_id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('cancelled', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('received', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('restocked', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('repaired', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('scrapped', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('returned_to_supplier', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('replaced', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('refundable', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('unit_price', sa.Numeric(precision=14, scale=4), nullable=True),
    sa.CheckConstraint("reason IN ('defective', 'damaged_in_transit', 'wrong_item', 'not_as_described', 'no_longer_needed')", name=op.f('ck_return_line_reason')),
    sa.CheckConstraint('quantity > 0 AND received >= 0 AND cancelled >= 0 AND received + cancelled <= quantity AND restocked >= 0 AND repaired >= 0 AND scrapped >= 0 AND returned_to_supplier >= 0 AND restocked + repaired + scrapped + returned_to_supplier <= received AND replaced >= 0 AND replaced <= quantity AND refundable >= 0 AND refundable <= received', name=op.f('ck_return_line_quantities')),
    sa.ForeignKeyConstraint(['order_line_id'], ['order_line.id'], name=op.f('fk_return_line_order_line_id_order_line')),
    sa.ForeignKeyConstraint(['product_id'], ['product.id'], name=op.f('fk_return_line_product_id_product')),
    sa.ForeignKeyConstraint(['return_id'], ['return_authorization.id'], name=op.f('fk_return_line_return_id_return_authorization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_return_line')),
    sa.UniqueConstraint('return_id', 'order_line_id', name=op.f('uq_return_line_return_id_order_line_id'))
    )
    op.create_index('ix_return_line_order_line_id', 'return_line', ['order_line_id'], unique=False)
    op.create_table('repair_order',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sqlmodel.sql.sqltypes.AutoString(length=20), server_default=sa.text("'RO-' || lpad(nextval('repair_number_seq')::text, 6, '0')"), nullable=False),
    sa.Column('return_line_id', sa.Integer(), nullable=True),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('warehouse_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('customer_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('customer_email', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
    sa.Column('customer_phone', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('problem', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), server_default='queued', nullable=False),
    sa.Column('ships_to_customer', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('repair_days', sa.Integer(), nullable=False),
    sa.Column('promised_date', sa.Date(), nullable=True),
    sa.Column('promise_basis', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('promise_reason', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('carrier', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True),
    sa.Column('tracking_number', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('version', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('shipped_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("outcome IS NULL OR outcome IN ('replacement', 'refund')", name=op.f('ck_repair_order_outcome')),
    sa.CheckConstraint("status IN ('queued', 'in_progress', 'waiting_parts', 'completed', 'shipped', 'unrepairable')", name=op.f('ck_repair_order_status')),
    sa.CheckConstraint('quantity > 0 AND repair_days >= 0', name=op.f('ck_repair_order_quantities')),
    sa.ForeignKeyConstraint(['order_id'], ['sales_order.id'], name=op.f('fk_repair_order_order_id_sales_order')),
    sa.ForeignKeyConstraint(['product_id'], ['product.id'], name=op.f('fk_repair_order_product_id_product')),
    sa.ForeignKeyConstraint(['return_line_id'], ['return_line.id'], name=op.f('fk_repair_order_return_line_id_return_line')),
    sa.ForeignKeyConstraint(['warehouse_id'], ['warehouse.id'], name=op.f('fk_repair_order_warehouse_id_warehouse')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_repair_order')),
    sa.UniqueConstraint('number', name=op.f('uq_repair_order_number')),
    sa.UniqueConstraint('return_line_id', name=op.f('uq_repair_order_return_line_id'))
    )
    op.create_index('ix_repair_order_order_id', 'repair_order', ['order_id'], unique=False)
    op.create_index('ix_repair_order_status', 'repair_order', ['status', 'id'], unique=False)
    op.create_table('return_inspection',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('return_line_id', sa.Integer(), nullable=False),
    sa.Column('restock', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('repair', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('scrap', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('return_to_supplier', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('notes', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.Column('inspected_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('inspected_by_key_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('restock >= 0 AND repair >= 0 AND scrap >= 0 AND return_to_supplier >= 0 AND restock + repair + scrap + return_to_supplier > 0', name=op.f('ck_return_inspection_quantities')),
    sa.ForeignKeyConstraint(['return_line_id'], ['return_line.id'], name=op.f('fk_return_inspection_return_line_id_return_line')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_return_inspection'))
    )
    op.create_index(op.f('ix_return_inspection_return_line_id'), 'return_inspection', ['return_line_id'], unique=False)
    op.create_table('return_receipt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('return_line_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('received_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('received_by_key_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_return_receipt_quantity')),
    sa.ForeignKeyConstraint(['return_line_id'], ['return_line.id'], name=op.f('fk_return_receipt_return_line_id_return_line')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_return_receipt'))
    )
    op.create_index(op.f('ix_return_receipt_return_line_id'), 'return_receipt', ['return_line_id'], unique=False)
    op.create_table('repair_part',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('repair_order_id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('warehouse_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('consumed', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('cancelled', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('waiting', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('queue_position', sa.BigInteger(), server_default=sa.text("nextval('demand_queue_seq')"), nullable=False),
    sa.Column('promised_date', sa.Date(), nullable=True),
    sa.Column('promise_basis', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('promise_reason', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('quantity > 0 AND consumed >= 0 AND cancelled >= 0 AND waiting >= 0 AND consumed + cancelled + waiting <= quantity', name=op.f('ck_repair_part_quantities')),
    sa.ForeignKeyConstraint(['product_id'], ['product.id'], name=op.f('fk_repair_part_product_id_product')),
    sa.ForeignKeyConstraint(['repair_order_id'], ['repair_order.id'], name=op.f('fk_repair_part_repair_order_id_repair_order')),
    sa.ForeignKeyConstraint(['warehouse_id'], ['warehouse.id'], name=op.f('fk_repair_part_warehouse_id_warehouse')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_repair_part'))
    )
    op.create_index(op.f('ix_repair_part_repair_order_id'), 'repair_part', ['repair_order_id'], unique=False)
    op.create_index('ix_repair_part_waiting', 'repair_part', ['product_id', 'warehouse_id'], unique=False, postgresql_where=sa.text('waiting > 0'))
    op.create_table('replacement',
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('return_id', sa.Integer(), nullable=True),
    sa.Column('repair_order_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('return_id IS NOT NULL OR repair_order_id IS NOT NULL', name=op.f('ck_replacement_cause')),
    sa.ForeignKeyConstraint(['order_id'], ['sales_order.id'], name=op.f('fk_replacement_order_id_sales_order')),
    sa.ForeignKeyConstraint(['repair_order_id'], ['repair_order.id'], name=op.f('fk_replacement_repair_order_id_repair_order')),
    sa.ForeignKeyConstraint(['return_id'], ['return_authorization.id'], name=op.f('fk_replacement_return_id_return_authorization')),
    sa.PrimaryKeyConstraint('order_id', name=op.f('pk_replacement'))
    )
    op.create_index('ix_replacement_repair_order_id', 'replacement', ['repair_order_id'], unique=False)
    op.create_index('ix_replacement_return_id', 'replacement', ['return_id'], unique=False)
    op.add_column('order_line', sa.Column('return_authorized', sa.BigInteger(), server_default=sa.text('0'), nullable=False))
    op.add_column('order_line', sa.Column('unit_price', sa.Numeric(precision=14, scale=4), nullable=True))
    op.add_column('order_line', sa.Column('first_promised_date', sa.Date(), nullable=True))
    op.add_column('sales_order', sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=True))
    # Existing orders queue in the order they were placed.
    op.add_column('sales_order', sa.Column('queue_position', sa.BigInteger(), nullable=True))
    op.execute("UPDATE sales_order o SET queue_position = q.position FROM"
               " (SELECT id, nextval('demand_queue_seq') AS position FROM (SELECT id FROM sales_order ORDER BY id) i) q"
               " WHERE q.id = o.id")
    op.alter_column('sales_order', 'queue_position', nullable=False,
                    server_default=sa.text("nextval('demand_queue_seq')"))
    op.execute("UPDATE order_line SET first_promised_date = promised_date")
    op.drop_constraint(op.f('ck_order_line_returned'), 'order_line', type_='check')
    op.create_check_constraint('returned', 'order_line',
                               'returned >= 0 AND returned <= return_authorized AND return_authorized <= shipped')
    op.create_check_constraint('unit_price', 'order_line', 'unit_price >= 0')
    op.drop_constraint(op.f('ck_location_type'), 'location', type_='check')
    op.create_check_constraint('type', 'location', "type IN " + LOCATION_TYPES.format(", 'consumption'"))
    op.execute("INSERT INTO location (warehouse_id, code, type) SELECT id, 'CONSUMPTION', 'consumption' FROM warehouse")
    op.execute(WAITING_DEMAND)
    op.execute(STOCK_POSITION)


def downgrade() -> None:
    op.execute(STOCK_POSITION_BEFORE)
    op.execute("DROP VIEW waiting_demand")
    op.execute("DELETE FROM location WHERE type = 'consumption'")
    op.drop_constraint(op.f('ck_location_type'), 'location', type_='check')
    op.create_check_constraint('type', 'location', "type IN " + LOCATION_TYPES.format(""))
    op.drop_constraint(op.f('ck_order_line_unit_price'), 'order_line', type_='check')
    op.drop_constraint(op.f('ck_order_line_returned'), 'order_line', type_='check')
    op.create_check_constraint('returned', 'order_line', 'returned >= 0 AND returned <= shipped')
    op.drop_column('sales_order', 'queue_position')
    op.drop_column('sales_order', 'currency')
    op.drop_column('order_line', 'first_promised_date')
    op.drop_column('order_line', 'unit_price')
    op.drop_column('order_line', 'return_authorized')
    op.drop_index('ix_replacement_return_id', table_name='replacement')
    op.drop_index('ix_replacement_repair_order_id', table_name='replacement')
    op.drop_table('replacement')
    op.drop_index('ix_repair_part_waiting', table_name='repair_part', postgresql_where=sa.text('waiting > 0'))
    op.drop_index(op.f('ix_repair_part_repair_order_id'), table_name='repair_part')
    op.drop_table('repair_part')
    op.drop_index(op.f('ix_return_receipt_return_line_id'), table_name='return_receipt')
    op.drop_table('return_receipt')
    op.drop_index(op.f('ix_return_inspection_return_line_id'), table_name='return_inspection')
    op.drop_table('return_inspection')
    op.drop_index('ix_repair_order_status', table_name='repair_order')
    op.drop_index('ix_repair_order_order_id', table_name='repair_order')
    op.drop_table('repair_order')
    op.drop_index('ix_return_line_order_line_id', table_name='return_line')
    op.drop_table('return_line')
    op.drop_index(op.f('ix_refund_return_id'), table_name='refund')
    op.drop_table('refund')
    op.drop_index('ix_supplier_defect_supplier_id', table_name='supplier_defect')
    op.drop_table('supplier_defect')
    op.drop_index('ix_return_authorization_status', table_name='return_authorization')
    op.drop_index('ix_return_authorization_order_id', table_name='return_authorization')
    op.drop_table('return_authorization')
    op.execute("DROP SEQUENCE demand_queue_seq")
    op.execute("DROP SEQUENCE repair_number_seq")
    op.execute("DROP SEQUENCE return_number_seq")
