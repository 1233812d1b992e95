"""sync rejections: what the quality dashboard lists, kept apart from the receipts

Rejected changes never got a receipt (a corrected change sent again must be judged afresh), so
the dashboard's "rejected uploads by device", which read rejected receipts, was always empty.
Rejections now go to their own table; the receipts' partial index for them is dropped.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 16:30:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sync_rejection',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('device_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('change_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('entity', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=True),
    sa.Column('record_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('field', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True),
    sa.Column('message', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_rejection'))
    )
    op.create_index('ix_sync_rejection_user_at', 'sync_rejection', ['user_id', 'at'],
                    unique=False)
    op.drop_index('ix_sync_receipt_rejected', table_name='sync_receipt',
                  postgresql_where=sa.text("status = 'rejected'"))


def downgrade() -> None:
    op.create_index('ix_sync_receipt_rejected', 'sync_receipt', ['user_id', 'at'], unique=False,
                    postgresql_where=sa.text("status = 'rejected'"))
    op.drop_index('ix_sync_rejection_user_at', table_name='sync_rejection')
    op.drop_table('sync_rejection')
