"""Where each caller's latest write left the primary's WAL, for reads from a standby (read-your-writes)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'write_position',
        sa.Column('key_id', sa.Integer(), nullable=False),
        sa.Column('backend', sa.Integer(), nullable=False),
        sa.Column('lsn', sa.BigInteger(), nullable=False),
        sa.Column('written_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('key_id', 'backend', name=op.f('pk_write_position')),
        prefixes=['UNLOGGED'],
    )


def downgrade() -> None:
    op.drop_table('write_position')
