"""Inspections of purchase-order receipts remember the API key that received the goods, so that a second
person inspects them (as packing and return inspection already insist). Rows from before have none.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('inspection', sa.Column('received_by_key_id', sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column('inspection', 'received_by_key_id')
