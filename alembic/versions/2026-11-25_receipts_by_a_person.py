"""A return's goods may be received and inspected by a signed-in person with no API key (the warehouse's
pages): the key of a return receipt and of a return inspection becomes optional, as it already is for picks
and purchase-order receipts; the person is recorded instead (four-eyes compares people first).

A person's name is unique whatever its case (unique lower(name)), so signing in ignores case: `Lucia` is
`lucia`. Refused, naming them, if two people's names differ only in case.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-25
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column('return_receipt', 'received_by_key_id', existing_type=sa.Integer(), nullable=True)
    op.alter_column('return_inspection', 'inspected_by_key_id', existing_type=sa.Integer(), nullable=True)
    op.add_column('return_inspection', sa.Column('inspected_by_person_id', sa.Integer(), nullable=True))
    clashes = op.get_bind().execute(sa.text(
        "SELECT string_agg(name, ', ' ORDER BY id) FROM person GROUP BY lower(name) HAVING count(*) > 1")).scalars().all()
    if clashes:
        raise RuntimeError("People whose names differ only in case must be renamed first: " + "; ".join(clashes))
    op.drop_constraint('uq_person_name', 'person', type_='unique')
    op.create_index('uq_person_lower_name', 'person', [sa.text('lower(name)')], unique=True)


def downgrade() -> None:
    op.drop_index('uq_person_lower_name', table_name='person')
    op.create_unique_constraint('uq_person_name', 'person', ['name'])
    op.drop_column('return_inspection', 'inspected_by_person_id')
    op.execute("DELETE FROM return_inspection WHERE inspected_by_key_id IS NULL")
    op.execute("DELETE FROM return_receipt WHERE received_by_key_id IS NULL")
    op.alter_column('return_inspection', 'inspected_by_key_id', existing_type=sa.Integer(), nullable=False)
    op.alter_column('return_receipt', 'received_by_key_id', existing_type=sa.Integer(), nullable=False)
