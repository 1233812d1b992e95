"""Per-field versions and clocks come from the change log: record updates stop rewriting them

A record's ``field_versions`` and ``field_hlcs`` now hold the maps as of its creation (or as of
this migration: every existing row is current), and record updates no longer patch them: the
change log already keeps every field write (version, clock, old and new value), and a merge that
needs the maps replays the record's writes over the stored ones
(``sync_protocol.merge.replay``). Rewriting two 30-40-key ``jsonb`` maps was about half of a
record update's cost. The log gets an index on ``record_id`` for that replay (a few records a
batch: those someone else changed since the device's base, tombstones, and records a batch
changes more than once). No data changes.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 11:00:00
"""
from alembic import op


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_change_log_record_id', 'change_log', ['record_id'], unique=False)


def downgrade() -> None:
    # the stored maps stopped moving at 0016: bring them up to date before the code that patches
    # them runs again (every field write since is in the log, in version order)
    for table in ('household', 'member', 'income_item', 'measure', 'helper_assignment', 'visit',
                  'checklist_item', 'status_event', 'procedure'):
        op.execute(
            f"UPDATE {table} r SET field_versions = r.field_versions || w.fv, "
            f"field_hlcs = r.field_hlcs || w.fh FROM ("
            f"  SELECT record_id, jsonb_object_agg(key, version) AS fv,"
            f"         jsonb_object_agg(key, hlc) AS fh FROM ("
            f"    SELECT DISTINCT ON (c.record_id, k.key) c.record_id, k.key, c.version, c.hlc"
            f"    FROM change_log c CROSS JOIN LATERAL jsonb_each(c.changes) AS k"
            f"    WHERE c.entity = '{table}' ORDER BY c.record_id, k.key, c.version DESC) l"
            f"  GROUP BY record_id) w "
            f"WHERE r.id = w.record_id")
    op.drop_index('ix_change_log_record_id', table_name='change_log')
