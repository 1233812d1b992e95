"""visits can be withdrawn by their author on the day (issue 16)

``visit.withdrawn``: a visit withdrawn by its author on the day of the visit (China time) stays
on record but no longer counts (sync_protocol.visits). Named with the tablet branch's assigned
revision (``0009_outbox_import``): outbox imports themselves need no schema change.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 12:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('visit', sa.Column('withdrawn', sa.Boolean(), nullable=True))


def downgrade() -> None:
    op.drop_column('visit', 'withdrawn')
