"""Migration 0015 with data: a cursor a tablet got before the upgrade still receives every change
made after it (the change log's ``txid`` backfill), including changes the old design left no
change-log row for (children that followed a moved household, records written without a log)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from typing import Any

import sqlalchemy as sa

from server.db import migrate
from server.scope import Principal
from server.sync.pull import pull
from tests.conftest import VILLAGE_A1, VILLAGE_A2

TXID = "(pg_current_xact_id()::text)::bigint"


def _insert(conn: Any, table: str, values: dict[str, Any]) -> None:
    """A row as the old write path left it: every NOT NULL column without default filled."""
    cols = conn.execute(sa.text(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = :t "
        "AND is_nullable = 'NO' AND column_default IS NULL"), {"t": table}).all()
    row = dict(values)
    for name, kind in cols:
        if name in row:
            continue
        row[name] = ({} if name in ("field_versions", "field_hlcs") else []) \
            if kind == "jsonb" else {"boolean": False, "integer": 1,
                                     "timestamp with time zone": dt.datetime.now(dt.UTC)
                                     }.get(kind, "x")
    params = {k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in row.items()}
    jsonb = {name for name, kind in cols if kind == "jsonb"}
    names = ", ".join(row)
    marks = ", ".join(f"CAST(:{k} AS jsonb)" if k in jsonb else f":{k}" for k in row)
    conn.execute(sa.text(f"INSERT INTO {table} ({names}) VALUES ({marks})"), params)


def _household(conn: Any, village: str, log: bool = True) -> str:
    hid = str(uuid.uuid4())
    _insert(conn, "household", {"id": hid, "village_code": village, "head_name": "张三",
                                "version": 1, "deleted": False})
    if log:
        _log(conn, "household", hid, hid, village, 1)
    return hid


def _member(conn: Any, hid: str, village: str, log: bool = True) -> str:
    mid = str(uuid.uuid4())
    _insert(conn, "member", {"id": mid, "household_id": hid, "village_code": village,
                             "name": "李四", "version": 1, "deleted": False})
    if log:
        _log(conn, "member", mid, hid, village, 1)
    return mid


def _log(conn: Any, entity: str, rid: str, hid: str, village: str, version: int) -> None:
    conn.execute(sa.text(
        "INSERT INTO change_log (entity, record_id, household_id, village_code, op, version, "
        "source, changes, at) VALUES (:e, :r, :h, :v, 'update', :n, 'sync', '{}', now())"),
        {"e": entity, "r": rid, "h": hid, "v": village, "n": version})


def _cursor(user: str, lo: int, hi: int | None, pos: list[Any] | None) -> str:
    raw = json.dumps({"v": 1, "u": user, "sv": 1, "lo": lo, "hi": hi, "p": pos}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _pull_ids(engine: Any, principal: Principal, cursor: str) -> set[str]:
    ids: set[str] = set()
    for _ in range(100):
        page = pull(engine, principal, cursor, 2)
        ids |= {c["record_id"] for c in page["changes"]}
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return ids
    raise AssertionError("never drained")


def test_cursors_taken_before_the_upgrade_miss_nothing(fresh_database):
    url = fresh_database("ruhu_0015")
    migrate.upgrade(url, "0014")
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            h1 = _household(conn, VILLAGE_A1)
            m1 = _member(conn, h1, VILLAGE_A1)
            h2 = _household(conn, VILLAGE_A2)
            m2 = _member(conn, h2, VILLAGE_A2)
            h3 = _household(conn, VILLAGE_A1)
            _member(conn, h3, VILLAGE_A1)
        with engine.begin() as conn:  # a tablet of A1 drained its round here
            hi = conn.execute(sa.text(
                "SELECT (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint")).scalar_one()
        with engine.begin() as conn:  # an edit, as the old push wrote it
            conn.execute(sa.text(f"UPDATE household SET phone = '13800000000', version = 2, "
                                 f"txid = {TXID} WHERE id = :h"), {"h": h1})
            _log(conn, "household", h1, h1, VILLAGE_A1, 2)
        for version in (2, 3):  # two edits of a member: its latest row carries the txid
            with engine.begin() as conn:
                conn.execute(sa.text(f"UPDATE member SET name = 'x{version}', version = "
                                     f"{version}, txid = {TXID} WHERE id = :m"), {"m": m1})
                _log(conn, "member", m1, h1, VILLAGE_A1, version)
        with engine.begin() as conn:  # a move: the old cascade left the children no log row
            conn.execute(sa.text(f"UPDATE household SET village_code = :v, version = 2, "
                                 f"txid = {TXID} WHERE id = :h"), {"h": h2, "v": VILLAGE_A1})
            _log(conn, "household", h2, h2, VILLAGE_A1, 2)
            conn.execute(sa.text(f"UPDATE member SET village_code = :v, txid = {TXID} "
                                 "WHERE household_id = :h"), {"h": h2, "v": VILLAGE_A1})
        with engine.begin() as conn:  # a record written with no change log at all
            m4 = _member(conn, h3, VILLAGE_A1, log=False)

        migrate.upgrade(url)

        user = str(uuid.uuid4())
        principal = Principal(user, "cadre", "村干部", "village_cadre", (VILLAGE_A1,), "tab-1", 1)
        changed = {h1, m1, h2, m2, m4}
        assert _pull_ids(engine, principal, _cursor(user, hi, None, None)) == changed
        # in the middle of an incremental round: the round restarts (re-sends are harmless)
        mid_round = _cursor(user, hi, hi + 5, [hi + 1, 0, str(uuid.uuid4())])
        assert _pull_ids(engine, principal, mid_round) >= changed
        # in the middle of an initial download: it starts over, everything of A1 comes
        restart = pull(engine, principal, _cursor(user, 0, hi, [hi - 1, 1, str(uuid.uuid4())]),
                       100)
        with engine.connect() as conn:
            live = {r[0] for r in conn.execute(sa.text(
                "SELECT id::text FROM household WHERE village_code = :v UNION ALL "
                "SELECT id::text FROM member WHERE village_code = :v"), {"v": VILLAGE_A1})}
        assert {c["record_id"] for c in restart["changes"]} == live
        assert "reference" in restart
        # every record has a change-log row carrying its last write's txid
        with engine.connect() as conn:
            assert conn.execute(sa.text(
                "SELECT count(*) FROM change_log WHERE op = 'follow'")).scalar_one() == 2
    finally:
        engine.dispose()
