"""The tablet's SQLite schema and its upgrades (``PRAGMA user_version``).

Each migration runs in one transaction with the version bump, so an upgrade either completes or
leaves the database as it was. Migrations only ever add: outbox rows, records and attachments
that are waiting for upload survive every upgrade.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

# v1: the first shipped layout — records, outbox, meta.
_V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE records (
    entity TEXT NOT NULL,
    id TEXT NOT NULL,
    fields TEXT NOT NULL,
    server_fields TEXT,
    version INTEGER,
    deleted INTEGER NOT NULL DEFAULT 0,
    household_id TEXT,
    village_code TEXT,
    sync_state TEXT NOT NULL DEFAULT 'synced',
    updated_at TEXT NOT NULL,
    PRIMARY KEY (entity, id)
);
CREATE INDEX records_household ON records (household_id, entity);
CREATE INDEX records_village ON records (entity, village_code);
CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY,
    change_id TEXT NOT NULL UNIQUE,
    entity TEXT NOT NULL,
    record_id TEXT NOT NULL,
    op TEXT NOT NULL,
    base_version INTEGER,
    fields TEXT NOT NULL,
    hlc TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    created_at TEXT NOT NULL
);
CREATE INDEX outbox_record ON outbox (entity, record_id);
"""

# v2: severity rank for per-household worst state, issues (conflicts/rejections), the attachment
# queue, the roster index (search keys, last visit, 五清 complete) and the offline accounts.
_V2 = """
ALTER TABLE records ADD COLUMN state_rank INTEGER NOT NULL DEFAULT 0;
UPDATE records SET state_rank = CASE sync_state
    WHEN 'uploading' THEN 1 WHEN 'pending' THEN 2 WHEN 'conflict' THEN 3 WHEN 'rejected' THEN 4
    ELSE 0 END;
CREATE INDEX records_household_rank ON records (household_id, state_rank);
ALTER TABLE outbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
CREATE TABLE issues (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    entity TEXT NOT NULL,
    record_id TEXT NOT NULL,
    household_id TEXT,
    field TEXT,
    status TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX issues_record ON issues (entity, record_id);
CREATE INDEX issues_household ON issues (household_id, status);
CREATE TABLE attachments (
    sha256 TEXT PRIMARY KEY,
    path TEXT,
    data BLOB,
    mime TEXT NOT NULL,
    size INTEGER NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE household_index (
    household_id TEXT PRIMARY KEY,
    search_text TEXT NOT NULL DEFAULT '',
    initials TEXT NOT NULL DEFAULT '',
    sort_key TEXT NOT NULL DEFAULT '',
    id_numbers TEXT NOT NULL DEFAULT '',
    last_visit_at TEXT,
    wuqing_complete INTEGER NOT NULL DEFAULT 0,
    dirty INTEGER NOT NULL DEFAULT 1
);
INSERT INTO household_index (household_id)
    SELECT id FROM records WHERE entity = 'household';
CREATE TABLE accounts (
    username TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    scopes TEXT NOT NULL,
    verifier TEXT NOT NULL,
    pin_verifier TEXT,
    token TEXT,
    token_expires_at REAL,
    last_login_at TEXT NOT NULL
);
"""

# v3: the roster index keeps the last visit in China time (the "not visited this month" filter
# compares China's month); recompute every household's index on the next open.
_V3 = """
UPDATE household_index SET dirty = 1;
"""

# v4: the roster index keeps both 五清 figures: 已核查 (``wuqing_complete``: every item clear or
# unclear) and 全部为清 (``wuqing_all_clear``); recompute every household's index.
_V4 = """
ALTER TABLE household_index ADD COLUMN wuqing_all_clear INTEGER NOT NULL DEFAULT 0;
UPDATE household_index SET dirty = 1;
"""

MIGRATIONS: list[str | Callable[[sqlite3.Connection], None]] = [_V1, _V2, _V3, _V4]
LATEST = len(MIGRATIONS)


def version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, target: int = LATEST) -> int:
    """Bring the database to ``target`` (default: latest); returns the version reached.

    ``conn`` must be in autocommit mode (``isolation_level=None``); each step is its own
    transaction.
    """
    current = version(conn)
    if current > LATEST:
        raise RuntimeError(f"本地数据库版本（{current}）比应用新，请升级应用")
    while current < target:
        step = MIGRATIONS[current]
        conn.execute("BEGIN IMMEDIATE")
        try:
            if callable(step):
                step(conn)
            else:
                for statement in _statements(step):
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {current + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        current += 1
    return current


def _statements(script: str) -> list[str]:
    """Split a script of plain DDL/DML statements (no semicolons inside literals)."""
    return [s.strip() for s in script.split(";") if s.strip()]
