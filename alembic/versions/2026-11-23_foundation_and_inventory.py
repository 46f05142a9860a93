"""foundation and inventory

Revision ID: 0001
Revises: 
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op
from sqlalchemy.dialects import postgresql

PHYSICAL = "('receiving', 'quarantine', 'storage', 'packing', 'scrap')"

# The ledger is the truth: every inserted move updates its projections in the same statement, and the
# CHECK constraints on the projections refuse negative stock and reserved > on_hand.
APPLY_STOCK_MOVE = f"""
CREATE FUNCTION apply_stock_move() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    src location%ROWTYPE;
    dst location%ROWTYPE;
BEGIN
    SELECT * INTO STRICT src FROM location WHERE id = NEW.from_location_id;
    SELECT * INTO STRICT dst FROM location WHERE id = NEW.to_location_id;

    IF src.type IN {PHYSICAL} THEN
        UPDATE location_balance SET quantity = quantity - NEW.quantity
         WHERE location_id = src.id AND product_id = NEW.product_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'location % holds none of product %', src.id, NEW.product_id
                USING ERRCODE = 'check_violation', CONSTRAINT = 'ck_location_balance_nonnegative',
                      TABLE = 'location_balance';
        END IF;
    END IF;
    IF dst.type IN {PHYSICAL} THEN
        INSERT INTO location_balance AS b (location_id, product_id, quantity)
        VALUES (dst.id, NEW.product_id, NEW.quantity)
        ON CONFLICT (location_id, product_id) DO UPDATE SET quantity = b.quantity + NEW.quantity;
    END IF;

    -- Into the target's level first, then out of the source's: a move between two bins of one warehouse
    -- never passes through a state where reserved > on_hand.
    IF dst.type IN ('storage', 'quarantine') THEN
        INSERT INTO stock_level AS l (product_id, warehouse_id, on_hand, quarantined)
        VALUES (NEW.product_id, dst.warehouse_id,
                CASE WHEN dst.type = 'storage' THEN NEW.quantity ELSE 0 END,
                CASE WHEN dst.type = 'quarantine' THEN NEW.quantity ELSE 0 END)
        ON CONFLICT (product_id, warehouse_id) DO UPDATE
           SET on_hand = l.on_hand + excluded.on_hand, quarantined = l.quarantined + excluded.quarantined;
    END IF;
    IF src.type IN ('storage', 'quarantine') THEN
        UPDATE stock_level
           SET on_hand = on_hand - CASE WHEN src.type = 'storage' THEN NEW.quantity ELSE 0 END,
               quarantined = quarantined - CASE WHEN src.type = 'quarantine' THEN NEW.quantity ELSE 0 END
         WHERE product_id = NEW.product_id AND warehouse_id = src.warehouse_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'no stock level for product % at warehouse %', NEW.product_id, src.warehouse_id
                USING ERRCODE = 'check_violation', CONSTRAINT = 'ck_stock_level_on_hand_nonnegative',
                      TABLE = 'stock_level';
        END IF;
    END IF;
    RETURN NULL;
END
$$;
---
CREATE TRIGGER stock_move_apply AFTER INSERT ON stock_move
    FOR EACH ROW EXECUTE FUNCTION apply_stock_move();
"""

# What GET /stock reads. Later modules redefine it to add supply (`incoming`) and demand (`backordered`).
STOCK_POSITION = """
CREATE VIEW stock_position AS
SELECT product_id, warehouse_id, on_hand, reserved, on_hand - reserved AS available, quarantined,
       0::bigint AS incoming, 0::bigint AS backordered
  FROM stock_level
"""

APPEND_ONLY = """
CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END
$$;
---
CREATE TRIGGER stock_move_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON stock_move
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
---
CREATE TRIGGER event_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON event
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
"""
revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('api_key',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('key_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('prefix', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("role IN ('admin', 'service', 'warehouse', 'purchasing', 'integration')", name=op.f('ck_api_key_role')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_key')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_api_key_key_hash'))
    )
    op.create_table('event',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('type', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('subject', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('data', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event'))
    )
    op.create_index('ix_event_order_id', 'event', ['order_id', 'id'], unique=False)
    op.create_table('idempotency_key',
    sa.Column('scope', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('fingerprint', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('content_type', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('body', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('scope', 'key', name=op.f('pk_idempotency_key'))
    )
    op.create_table('product',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sku', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('barcode', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('reorder_point', sa.Integer(), nullable=False),
    sa.Column('reorder_max', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('reorder_point >= 0 AND reorder_max >= reorder_point', name=op.f('ck_product_reorder')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product')),
    sa.UniqueConstraint('barcode', name=op.f('uq_product_barcode')),
    sa.UniqueConstraint('sku', name=op.f('uq_product_sku'))
    )
    op.create_table('warehouse',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('handling_days', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('handling_days >= 0', name=op.f('ck_warehouse_handling_days')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_warehouse')),
    sa.UniqueConstraint('code', name=op.f('uq_warehouse_code'))
    )
    op.create_table('location',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('warehouse_id', sa.Integer(), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('type', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("type IN ('receiving', 'quarantine', 'storage', 'packing', 'scrap', 'supplier', 'customer', 'adjustment')", name=op.f('ck_location_type')),
    sa.ForeignKeyConstraint(['warehouse_id'], ['warehouse.id'], name=op.f('fk_location_warehouse_id_warehouse')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_location')),
    sa.UniqueConstraint('warehouse_id', 'code', name=op.f('uq_location_warehouse_id_code'))
    )
    op.create_table('reservation',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('warehouse_id', sa.Integer(), nullable=False),
    sa.Column('owner_type', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("owner_type IN ('order_line', 'repair_part')", name=op.f('ck_reservation_owner_type')),
    sa.CheckConstraint('quantity >= 0', name=op.f('ck_reservation_nonnegative')),
    sa.ForeignKeyConstraint(['product_id'], ['product.id'], name=op.f('fk_reservation_product_id_product')),
    sa.ForeignKeyConstraint(['warehouse_id'], ['warehouse.id'], name=op.f('fk_reservation_warehouse_id_warehouse')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reservation'))
    )
    op.create_index('ix_reservation_owner', 'reservation', ['owner_type', 'owner_id'], unique=False)
    op.create_index('ix_reservation_product_id_warehouse_id', 'reservation', ['product_id', 'warehouse_id'], unique=False)
    op.create_table('stock_level',
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('warehouse_id', sa.Integer(), nullable=False),
    sa.Column('on_hand', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('reserved', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('quarantined', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.CheckConstraint('on_hand >= 0', name=op.f('ck_stock_level_on_hand_nonnegative')),
    sa.CheckConstraint('quarantined >= 0', name=op.f('ck_stock_level_quarantined_nonnegative')),
    sa.CheckConstraint('reserved >= 0 AND reserved <= on_hand', name=op.f('ck_stock_level_reserved_within_on_hand')),
    sa.ForeignKeyConstraint(['product_id'], ['product.id'], name=op.f('fk_stock_level_product_id_product')),
    sa.ForeignKeyConstraint(['warehouse_id'], ['warehouse.id'], name=op.f('fk_stock_level_warehouse_id_warehouse')),
    sa.PrimaryKeyConstraint('product_id', 'warehouse_id', name=op.f('pk_stock_level'))
    )
    op.create_table('location_balance',
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.CheckConstraint('quantity >= 0', name=op.f('ck_location_balance_nonnegative')),
    sa.ForeignKeyConstraint(['location_id'], ['location.id'], name=op.f('fk_location_balance_location_id_location')),
    sa.ForeignKeyConstraint(['product_id'], ['product.id'], name=op.f('fk_location_balance_product_id_product')),
    sa.PrimaryKeyConstraint('location_id', 'product_id', name=op.f('pk_location_balance'))
    )
    op.create_table('stock_move',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('from_location_id', sa.Integer(), nullable=False),
    sa.Column('to_location_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('reference', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('from_location_id <> to_location_id', name=op.f('ck_stock_move_distinct_locations')),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_stock_move_positive')),
    sa.ForeignKeyConstraint(['from_location_id'], ['location.id'], name=op.f('fk_stock_move_from_location_id_location')),
    sa.ForeignKeyConstraint(['product_id'], ['product.id'], name=op.f('fk_stock_move_product_id_product')),
    sa.ForeignKeyConstraint(['to_location_id'], ['location.id'], name=op.f('fk_stock_move_to_location_id_location')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_move'))
    )
    op.create_index('ix_stock_move_product_id', 'stock_move', ['product_id', 'id'], unique=False)
    op.create_index('ix_stock_move_reference', 'stock_move', ['reference'], unique=False)
    for statement in (APPLY_STOCK_MOVE + "---" + STOCK_POSITION + "---" + APPEND_ONLY).split("---"):
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP VIEW stock_position")
    op.execute("DROP TRIGGER event_append_only ON event")
    op.execute("DROP TRIGGER stock_move_append_only ON stock_move")
    op.execute("DROP TRIGGER stock_move_apply ON stock_move")
    op.execute("DROP FUNCTION refuse_change()")
    op.execute("DROP FUNCTION apply_stock_move()")
    op.drop_index('ix_stock_move_reference', table_name='stock_move')
    op.drop_index('ix_stock_move_product_id', table_name='stock_move')
    op.drop_table('stock_move')
    op.drop_table('location_balance')
    op.drop_table('stock_level')
    op.drop_index('ix_reservation_product_id_warehouse_id', table_name='reservation')
    op.drop_index('ix_reservation_owner', table_name='reservation')
    op.drop_table('reservation')
    op.drop_table('location')
    op.drop_table('warehouse')
    op.drop_table('product')
    op.drop_table('idempotency_key')
    op.drop_index('ix_event_order_id', table_name='event')
    op.drop_table('event')
    op.drop_table('api_key')
