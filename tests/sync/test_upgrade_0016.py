"""Migration 0016 with data: its downgrade writes the replayed per-field maps into the records
(the code before 0016 patched the stored maps and never read the change log for them)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import sqlalchemy as sa

from server.db import migrate
from tests.conftest import VILLAGE_A1
from tests.sync.test_upgrade_0015 import _insert


def _write(conn: Any, rid: str, version: int, hlc: str, changes: dict[str, list[Any]]) -> None:
    conn.execute(sa.text(
        "INSERT INTO change_log (entity, record_id, household_id, village_code, op, version, "
        "hlc, source, changes, at) VALUES ('household', :r, :r, :v, 'update', :n, :h, 'sync', "
        "CAST(:c AS jsonb), now())"),
        {"r": rid, "v": VILLAGE_A1, "n": version, "h": hlc, "c": json.dumps(changes)})


def test_downgrade_writes_the_replayed_maps_into_the_records(fresh_database):
    url = fresh_database("ruhu_m16")
    migrate.upgrade(url)
    engine = sa.create_engine(url)
    edited, untouched = str(uuid.uuid4()), str(uuid.uuid4())
    created = {"head_name": 1, "phone": 1}
    clocks = {"head_name": "0000000001000-0000-tab-a", "phone": "0000000001000-0000-tab-a"}
    with engine.begin() as conn:
        for rid in (edited, untouched):
            _insert(conn, "household", {
                "id": rid, "village_code": VILLAGE_A1, "head_name": "张三", "phone": "1",
                "version": 1 if rid == untouched else 4, "deleted": False,
                "field_versions": created, "field_hlcs": clocks})
            _write(conn, rid, 1, clocks["phone"],
                   {"head_name": [None, "张三"], "phone": [None, "1"]})
        # v2: tab-b (later clock) sets the phone; v3: tab-a agrees with an earlier clock;
        # v4: tab-a writes the address
        _write(conn, edited, 2, "0000000003000-0000-tab-b", {"phone": ["1", "2"]})
        _write(conn, edited, 3, "0000000002000-0000-tab-a", {"phone": ["2", "2"]})
        _write(conn, edited, 4, "0000000002500-0001-tab-a", {"address": [None, "二组"]})
    migrate.downgrade(url, "0015")
    with engine.connect() as conn:
        rows = {str(r[0]): (r[1], r[2]) for r in conn.execute(sa.text(
            "SELECT id, field_versions, field_hlcs FROM household"))}
        indexes = {r[0] for r in conn.execute(sa.text(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'change_log'"))}
    assert rows[untouched] == (created, clocks)
    assert rows[edited] == (
        {"head_name": 1, "phone": 3, "address": 4},
        {"head_name": clocks["head_name"], "phone": "0000000003000-0000-tab-b",
         "address": "0000000002500-0001-tab-a"})
    assert "ix_change_log_record_id" not in indexes
    migrate.upgrade(url)
    engine.dispose()
