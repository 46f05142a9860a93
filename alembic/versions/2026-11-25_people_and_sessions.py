"""People: named staff accounts with one role and a password hash, their page sessions (only the token's hash
is stored) and failed sign-ins per name; an API key may belong to a person; picks, return receipts and
purchase-order receipts remember the person, so that "a second person" compares people, not keys.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-25
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('person',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('password_hash', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('version', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("role IN ('admin', 'service', 'warehouse', 'purchasing', 'integration')", name=op.f('ck_person_role')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_person')),
    sa.UniqueConstraint('name', name=op.f('uq_person_name'))
    )
    op.create_table('sign_in_throttle',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('failures', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('blocked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_failure_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_sign_in_throttle'))
    )
    op.create_table('person_session',
    sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('csrf_token', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_person_session_person_id_person')),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_person_session'))
    )
    op.create_index('ix_person_session_expires_at', 'person_session', ['expires_at'], unique=False)
    op.create_index(op.f('ix_person_session_person_id'), 'person_session', ['person_id'], unique=False)
    op.add_column('api_key', sa.Column('person_id', sa.Integer(), nullable=True))
    op.create_index(op.f('ix_api_key_person_id'), 'api_key', ['person_id'], unique=False)
    op.create_foreign_key(op.f('fk_api_key_person_id_person'), 'api_key', 'person', ['person_id'], ['id'])
    op.add_column('inspection', sa.Column('received_by_person_id', sa.Integer(), nullable=True))
    op.add_column('pick_list_line', sa.Column('picked_by_person_id', sa.Integer(), nullable=True))
    op.add_column('return_receipt', sa.Column('received_by_person_id', sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column('return_receipt', 'received_by_person_id')
    op.drop_column('pick_list_line', 'picked_by_person_id')
    op.drop_column('inspection', 'received_by_person_id')
    op.drop_constraint(op.f('fk_api_key_person_id_person'), 'api_key', type_='foreignkey')
    op.drop_index(op.f('ix_api_key_person_id'), table_name='api_key')
    op.drop_column('api_key', 'person_id')
    op.drop_index(op.f('ix_person_session_person_id'), table_name='person_session')
    op.drop_index('ix_person_session_expires_at', table_name='person_session')
    op.drop_table('person_session')
    op.drop_table('sign_in_throttle')
    op.drop_table('person')
