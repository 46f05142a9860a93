"""Find orders by phone, name and external reference; list open pick lists; the service figures: each line's
backorder at placement and latest shipment, and indexes to read them by period

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-25
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('order_line', sa.Column('backordered_at_placement', sa.BigInteger(), server_default=sa.text('0'),
                                          nullable=False))
    # Lines placed before this revision: what is backordered now is the best record there is (a backorder
    # filled since then is not known as one).
    op.execute('UPDATE order_line SET backordered_at_placement = backordered WHERE backordered > 0')
    op.create_index('ix_sales_order_phone_digits', 'sales_order',
                    [sa.text("regexp_replace(customer_phone, '[^0-9]', '', 'g')")])
    op.create_index('ix_sales_order_name_words', 'sales_order',
                    [sa.text("to_tsvector('simple'::regconfig, customer_name)")], postgresql_using='gin')
    op.create_index('ix_sales_order_external_ref', 'sales_order', [sa.text('lower(external_ref)')])
    op.create_index('ix_sales_order_created_at', 'sales_order', ['created_at'])
    op.create_index('ix_pick_list_status', 'pick_list', ['status', 'id'])
    op.create_index('ix_event_pack_checks', 'event', ['order_id', 'type'],
                    postgresql_where=sa.text("type IN ('order.packed', 'order.pack_mismatch')"))
    op.add_column('order_line', sa.Column('shipped_at', sa.DateTime(timezone=True), nullable=True))
    # Lines shipped before this revision: their latest shipment, from the shipments' lines.
    op.execute("""
        UPDATE order_line l SET shipped_at = x.at
          FROM (SELECT s.order_id, e->>'sku' AS sku, max(s.created_at) AS at
                  FROM shipment s CROSS JOIN LATERAL jsonb_array_elements(s.lines) e GROUP BY 1, 2) x
          JOIN product p ON p.sku = x.sku
         WHERE l.order_id = x.order_id AND l.product_id = p.id AND l.shipped > 0
    """)
    op.create_index('ix_order_line_shipped_at', 'order_line', ['shipped_at'],
                    postgresql_where=sa.text('shipped_at IS NOT NULL'))


def downgrade() -> None:
    op.drop_index('ix_order_line_shipped_at', table_name='order_line')
    op.drop_column('order_line', 'shipped_at')
    op.drop_index('ix_event_pack_checks', table_name='event')
    op.drop_index('ix_pick_list_status', table_name='pick_list')
    op.drop_index('ix_sales_order_created_at', table_name='sales_order')
    op.drop_index('ix_sales_order_external_ref', table_name='sales_order')
    op.drop_index('ix_sales_order_name_words', table_name='sales_order')
    op.drop_index('ix_sales_order_phone_digits', table_name='sales_order')
    op.drop_column('order_line', 'backordered_at_placement')
