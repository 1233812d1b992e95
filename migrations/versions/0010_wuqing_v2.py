"""五清 v2: each checklist verdict has a check level, an unclear item a rectification (整改)

Adds ``check_level`` (self / township / cross / inspection), ``rectify_by``, ``rectified_at`` and
``rectify_note`` to ``checklist_item`` (all nullable: existing verdicts have none). The downgrade drops them.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 13:00:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('checklist_item', sa.Column('check_level', sqlmodel.sql.sqltypes.AutoString(
        length=20), nullable=True))
    op.add_column('checklist_item', sa.Column('rectify_by', sa.Date(), nullable=True))
    op.add_column('checklist_item', sa.Column('rectified_at', sa.Date(), nullable=True))
    op.add_column('checklist_item', sa.Column('rectify_note', sqlmodel.sql.sqltypes.AutoString(
        length=2000), nullable=True))


def downgrade() -> None:
    op.drop_column('checklist_item', 'rectify_note')
    op.drop_column('checklist_item', 'rectified_at')
    op.drop_column('checklist_item', 'rectify_by')
    op.drop_column('checklist_item', 'check_level')
