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
import sqlalchemy as sa
from alembic import op


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

# a record table per synced entity (entity name = table name)
RECORDS = ('household', 'member', 'income_item', 'measure', 'helper_assignment', 'visit',
           'checklist_item', 'status_event', 'procedure')


def upgrade() -> None:
    # IF NOT EXISTS: on a large log an admin builds it beforehand with CREATE INDEX CONCURRENTLY
    # (docs/operations.md), which does not block pushes
    op.execute('CREATE INDEX IF NOT EXISTS ix_change_log_record_id ON change_log (record_id)')


def downgrade() -> None:
    """The stored maps stopped moving at 0016: write the replayed ones (the same rule the push
    uses, ``sync_protocol.merge.replay``) into every record the log has later writes for, before
    code that patches the stored maps runs again."""
    import json

    from sync_protocol.merge import FieldWrite, replay

    conn = op.get_bind()
    for table in RECORDS:
        rows = conn.execute(sa.text(
            f"SELECT t.id, t.field_versions, t.field_hlcs, c.version, c.hlc, k.key, "
            f"(k.value -> 0) IS NOT DISTINCT FROM (k.value -> 1) "
            f"FROM change_log c JOIN {table} t ON t.id = c.record_id "
            f"CROSS JOIN LATERAL jsonb_each(c.changes) AS k "
            f"WHERE c.entity = '{table}' "
            f"AND c.version > COALESCE((t.field_versions ->> k.key)::int, 0) "
            f"ORDER BY t.id")).all()
        records: dict[object, tuple[dict, dict, list[FieldWrite]]] = {}
        for rid, versions, clocks, version, hlc, name, agreed in rows:
            records.setdefault(rid, (versions, clocks, []))[2].append(
                FieldWrite(version, hlc, name, bool(agreed)))
        updates = []
        for rid, (versions, clocks, writes) in records.items():
            fv, fh = replay(versions, clocks, writes)
            updates.append({"id": str(rid), "fv": json.dumps(fv), "fh": json.dumps(fh)})
        if updates:
            conn.execute(sa.text(
                f"UPDATE {table} t SET field_versions = CAST(x ->> 'fv' AS jsonb), "
                f"field_hlcs = CAST(x ->> 'fh' AS jsonb) "
                f"FROM json_array_elements(CAST(:rows AS json)) AS x "
                f"WHERE t.id = CAST(x ->> 'id' AS uuid)"), {"rows": json.dumps(updates)})
    op.drop_index('ix_change_log_record_id', table_name='change_log')
