"""A lighter write path: incremental pulls read the change log, record updates can be HOT

* ``change_log.txid`` (the writing transaction, like the record tables had) with an index
  ``(village_code, txid, id)``: incremental pull rounds page through it instead of the record
  tables (server/sync/pull.py).
* The record tables lose ``txid`` and their ``(village_code, txid, id)`` indexes (replaced by
  ``(village_code, id)``, which a normal update does not change; initial downloads page
  households by it), and get ``fillfactor = 85``, so an update that changes no indexed column
  finds room on its page and is heap-only (HOT). The fill factor only applies to pages written
  from now on: the existing pages of a large table get their room as they are vacuumed and
  rewritten (a ``VACUUM FULL`` or ``pg_repack`` in a quiet hour gives it to all of them at once).
* Cursors already on tablets keep working: ``lo``/``hi`` are transaction ids in both designs.
  The backfill makes every record visible to a cursor that saw its last write: the record's
  latest change-log row gets the record's ``txid`` (when it is in the record's current village),
  and every other record gets a feed row (``op`` ``follow``, no household, ``txid`` = the
  record's) in its current village. Older change-log rows get ``txid`` 0: below every cursor,
  their records are covered by the latest row. One pass over each table; on a province, run it
  in a quiet hour (docs/operations.md).

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 18:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

TXID = '(pg_current_xact_id()::text)::bigint'
# parents first, as ENTITY_ORDER (a record table per synced entity)
RECORDS = ('household', 'member', 'income_item', 'measure', 'helper_assignment', 'visit',
           'checklist_item', 'status_event', 'procedure')  # entity name = table name
FILLFACTOR = 85


def upgrade() -> None:
    # a constant default adds the column without rewriting the table; new rows get their txid
    op.add_column('change_log', sa.Column('txid', sa.BigInteger(), nullable=False,
                                          server_default='0'))
    op.alter_column('change_log', 'txid', server_default=sa.text(TXID))
    for table in RECORDS:
        entity = table
        op.execute(
            f"UPDATE change_log c SET txid = r.txid FROM ("
            f"  SELECT DISTINCT ON (record_id) id, record_id, village_code FROM change_log"
            f"  WHERE entity = '{entity}' ORDER BY record_id, id DESC) l "
            f"JOIN {table} r ON r.id = l.record_id AND r.village_code = l.village_code "
            f"WHERE c.id = l.id")
        op.execute(
            "INSERT INTO change_log (entity, record_id, household_id, village_code, op, version,"
            " source, changes, at, txid) "
            f"SELECT '{entity}', r.id, NULL, r.village_code, 'follow', r.version, 'migration',"
            f" '{{}}'::jsonb, now(), r.txid FROM {table} r WHERE NOT EXISTS ("
            f"  SELECT 1 FROM change_log c WHERE c.entity = '{entity}' AND c.record_id = r.id"
            f"  AND c.txid <> 0)")
    op.create_index('ix_change_log_scope_txid', 'change_log', ['village_code', 'txid', 'id'],
                    unique=False)
    for table in RECORDS:
        op.drop_index(f'ix_{table}_scope_txid', table_name=table)
        op.create_index(f'ix_{table}_scope', table, ['village_code', 'id'], unique=False)
        op.drop_column(table, 'txid')
        op.execute(f'ALTER TABLE {table} SET (fillfactor = {FILLFACTOR})')


def downgrade() -> None:
    for table in RECORDS:
        op.execute(f'ALTER TABLE {table} RESET (fillfactor)')
        # every record gets this transaction's id: above every cursor, so each is pulled again
        op.add_column(table, sa.Column('txid', sa.BigInteger(), nullable=False,
                                       server_default=sa.text(TXID)))
        op.drop_index(f'ix_{table}_scope', table_name=table)
        op.create_index(f'ix_{table}_scope_txid', table, ['village_code', 'txid', 'id'],
                        unique=False)
    op.drop_index('ix_change_log_scope_txid', table_name='change_log')
    op.execute("DELETE FROM change_log WHERE op = 'follow' AND household_id IS NULL")
    op.drop_column('change_log', 'txid')
