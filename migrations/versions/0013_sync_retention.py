"""Retention of receipts and scope exits (docs/protocol.md, "Retention")

Adds ``device.outbox_floor_seq`` (the lowest ``seq`` of the device's latest push: every change of
that device with a lower seq has left its outbox), ``device.receipts_pruned_below`` (receipts of
the device below this seq may have been pruned) and the one-row ``sync_retention`` table whose
``scope_exit_horizon`` is one above the largest txid of a pruned scope exit (incremental cursors
from before it restart with a full download). The downgrade drops both.

Revision ID: 0013
Revises: 0011
Create Date: 2026-11-30 15:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('device', sa.Column('outbox_floor_seq', sa.BigInteger(), nullable=True))
    op.add_column('device', sa.Column('receipts_pruned_below', sa.BigInteger(), nullable=True))
    op.create_table(
        'sync_retention',
        sa.Column('id', sa.SmallInteger(), nullable=False),
        sa.Column('scope_exit_horizon', sa.BigInteger(), nullable=False, server_default='0'),
        sa.Column('pruned_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint('id = 1', name=op.f('ck_sync_retention_one_row')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_retention')),
    )
    op.execute("INSERT INTO sync_retention (id, scope_exit_horizon) VALUES (1, 0)")


def downgrade() -> None:
    op.drop_table('sync_retention')
    op.drop_column('device', 'receipts_pruned_below')
    op.drop_column('device', 'outbox_floor_seq')
