"""slim receipts: the version in its own column, the result JSON only when it says more

A receipt is written for every accepted change. Its ``result`` repeated the change id, status and
record id, which have their own columns: about 400 bytes of JSON per change for nothing. Now
``version`` has a column too and ``result`` holds only conflict ids and warnings (NULL otherwise).
Old receipts keep their full result, which still reads the same.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 15:30:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('sync_receipt', sa.Column('version', sa.Integer(), nullable=True))
    op.alter_column('sync_receipt', 'result', existing_type=postgresql.JSONB(),
                    nullable=True)


def downgrade() -> None:
    op.execute("UPDATE sync_receipt SET result = jsonb_build_object("
               "'change_id', change_id::text, 'status', status, 'record_id', record_id::text, "
               "'version', version) || coalesce(result, '{}'::jsonb) WHERE result IS NULL "
               "OR NOT result ? 'change_id'")
    op.alter_column('sync_receipt', 'result', existing_type=postgresql.JSONB(),
                    nullable=False)
    op.drop_column('sync_receipt', 'version')
