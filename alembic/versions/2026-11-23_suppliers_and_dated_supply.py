"""suppliers and dated supply

Revision ID: 0003
Revises: 0002
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Dated supply: open purchase-order quantity (rejected units are owed again) by its expected date, and
# received units still waiting for inspection, due today. `incoming` sums the open quantity.
OPEN_SUPPLY = """
CREATE VIEW open_supply AS
SELECT l.product_id, po.warehouse_id, l.expected_date AS due, l.quantity - l.received + l.rejected AS quantity,
       po.number AS reference, l.id AS line_id, false AS received
  FROM purchase_order_line l JOIN purchase_order po ON po.id = l.purchase_order_id
 WHERE po.status IN ('sent', 'partially_received') AND l.quantity - l.received + l.rejected > 0
UNION ALL
SELECT i.product_id, po.warehouse_id, current_date, i.quantity - i.accepted - i.rejected,
       po.number, l.id, true
  FROM inspection i JOIN purchase_order_line l ON l.id = i.purchase_order_line_id
  JOIN purchase_order po ON po.id = l.purchase_order_id
 WHERE i.status = 'pending'
"""

PREFERRED_LEAD_TIME = """
CREATE VIEW preferred_lead_time AS
SELECT sp.product_id, sp.lead_time_days, s.code AS supplier
  FROM supplier_product sp JOIN supplier s ON s.id = sp.supplier_id
 WHERE sp.preferred
"""

STOCK_POSITION = """
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

STOCK_POSITION_BEFORE = """
CREATE OR REPLACE VIEW stock_position AS
SELECT s.product_id, s.warehouse_id, s.on_hand, s.reserved, s.on_hand - s.reserved AS available, s.quarantined,
       0::bigint AS incoming,
       (SELECT coalesce(sum(l.backordered), 0) FROM order_line l
         WHERE l.product_id = s.product_id AND l.backorder_warehouse_id = s.warehouse_id
           AND l.backordered > 0)::bigint AS backordered
  FROM stock_level s
"""


def upgrade() -> None:
    op.execute("CREATE SEQUENCE purchase_order_number_seq")
    op.create_table('supplier',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True),
    sa.Column('lead_time_days', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('lead_time_days >= 0', name=op.f('ck_supplier_lead_time')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supplier')),
    sa.UniqueConstraint('code', name=op.f('uq_supplier_code'))
    )
    op.create_table('purchase_order',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sqlmodel.sql.sqltypes.AutoString(length=20), server_default=sa.text("'PO-' || lpad(nextval('purchase_order_number_seq')::text, 6, '0')"), nullable=False),
    sa.Column('supplier_id', sa.Integer(), nullable=False),
    sa.Column('warehouse_id', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), server_default='draft', nullable=False),
    sa.Column('inspection_required', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.CheckConstraint("status IN ('draft', 'sent', 'partially_received', 'received', 'closed', 'cancelled')", name=op.f('ck_purchase_order_status')),
    sa.ForeignKeyConstraint(['supplier_id'], ['supplier.id'], name=op.f('fk_purchase_order_supplier_id_supplier')),
    sa.ForeignKeyConstraint(['warehouse_id'], ['warehouse.id'], name=op.f('fk_purchase_order_warehouse_id_warehouse')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_purchase_order')),
    sa.UniqueConstraint('number', name=op.f('uq_purchase_order_number'))
    )
    op.create_index('ix_purchase_order_supplier_id', 'purchase_order', ['supplier_id', 'id'], unique=False)
    op.create_table('supplier_product',
    sa.Column('supplier_id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('supplier_sku', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('unit_cost', sa.Numeric(precision=14, scale=4), nullable=False),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('lead_time_days', sa.Integer(), nullable=False),
    sa.Column('min_order_quantity', sa.Integer(), nullable=False),
    sa.Column('preferred', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('unit_cost >= 0 AND lead_time_days >= 0 AND min_order_quantity >= 1', name=op.f('ck_supplier_product_terms')),
    sa.ForeignKeyConstraint(['product_id'], ['product.id'], name=op.f('fk_supplier_product_product_id_product')),
    sa.ForeignKeyConstraint(['supplier_id'], ['supplier.id'], name=op.f('fk_supplier_product_supplier_id_supplier')),
    sa.PrimaryKeyConstraint('supplier_id', 'product_id', name=op.f('pk_supplier_product'))
    )
    op.create_index('uq_supplier_product_preferred', 'supplier_product', ['product_id'], unique=True, postgresql_where=sa.text('preferred'))
    op.create_table('purchase_order_line',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('purchase_order_id', sa.Integer(), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('received', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('rejected', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('unit_cost', sa.Numeric(precision=14, scale=4), nullable=False),
    sa.Column('expected_date', sa.Date(), nullable=False),
    sa.Column('promised_date', sa.Date(), nullable=False),
    sa.Column('fully_received_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('quantity > 0 AND received >= 0 AND rejected >= 0 AND rejected <= received', name=op.f('ck_purchase_order_line_quantities')),
    sa.ForeignKeyConstraint(['product_id'], ['product.id'], name=op.f('fk_purchase_order_line_product_id_product')),
    sa.ForeignKeyConstraint(['purchase_order_id'], ['purchase_order.id'], name=op.f('fk_purchase_order_line_purchase_order_id_purchase_order')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_purchase_order_line')),
    sa.UniqueConstraint('purchase_order_id', 'line_no', name=op.f('uq_purchase_order_line_purchase_order_id_line_no'))
    )
    op.create_index('ix_purchase_order_line_product_id', 'purchase_order_line', ['product_id'], unique=False)
    op.create_table('inspection',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('purchase_order_line_id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('accepted', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('rejected', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=10), server_default='pending', nullable=False),
    sa.Column('notes', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.Column('received_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('inspected_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('inspected_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'done')", name=op.f('ck_inspection_status')),
    sa.CheckConstraint('quantity > 0 AND accepted >= 0 AND rejected >= 0 AND accepted + rejected <= quantity', name=op.f('ck_inspection_quantities')),
    sa.ForeignKeyConstraint(['location_id'], ['location.id'], name=op.f('fk_inspection_location_id_location')),
    sa.ForeignKeyConstraint(['product_id'], ['product.id'], name=op.f('fk_inspection_product_id_product')),
    sa.ForeignKeyConstraint(['purchase_order_line_id'], ['purchase_order_line.id'], name=op.f('fk_inspection_purchase_order_line_id_purchase_order_line')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inspection'))
    )
    op.create_index(op.f('ix_inspection_purchase_order_line_id'), 'inspection', ['purchase_order_line_id'], unique=False)
    op.create_index('ix_inspection_status', 'inspection', ['status', 'id'], unique=False)
    op.execute(OPEN_SUPPLY)
    op.execute(PREFERRED_LEAD_TIME)
    op.execute(STOCK_POSITION)


def downgrade() -> None:
    op.execute(STOCK_POSITION_BEFORE)
    op.execute("DROP VIEW preferred_lead_time")
    op.execute("DROP VIEW open_supply")
    op.drop_index('ix_inspection_status', table_name='inspection')
    op.drop_index(op.f('ix_inspection_purchase_order_line_id'), table_name='inspection')
    op.drop_table('inspection')
    op.drop_index('ix_purchase_order_line_product_id', table_name='purchase_order_line')
    op.drop_table('purchase_order_line')
    op.drop_index('uq_supplier_product_preferred', table_name='supplier_product', postgresql_where=sa.text('preferred'))
    op.drop_table('supplier_product')
    op.drop_index('ix_purchase_order_supplier_id', table_name='purchase_order')
    op.drop_table('purchase_order')
    op.drop_table('supplier')
    op.execute("DROP SEQUENCE purchase_order_number_seq")
