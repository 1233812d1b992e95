"""Bulk SQL for the push path, on the request's own psycopg connection and transaction.

A batch is written with one statement per table: the rows travel as a single JSON document
expanded by ``json_to_recordset`` (one parameter, parsed in C on both sides), which is much cheaper
than per-row parameter binding for 500 rows of 40 columns.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from functools import cache
from typing import Any

import sqlalchemy as sa
from psycopg.types.json import Json, set_json_loads
from sqlalchemy.dialects import postgresql
from sqlmodel import Session

from server.db.tables import ChangeLog
from server.sync.values import ENTITY_ORDER, TABLES, table_of
from sync_protocol.merge import FieldWrite

_DIALECT = postgresql.dialect()


_RAW = "ruhu_raw"  # session.info key: (transaction, psycopg connection) of ``raw``


def raw(session: Session) -> Any:
    """The psycopg connection under the session's current transaction (remembered for that
    transaction: a push asks for it once per statement, and finding it through the session's
    transaction and pool wrappers cost about as much as sending a small statement)."""
    tx = session.get_transaction()
    if tx is not None:
        known = session.info.get(_RAW)
        if known is not None and known[0] is tx:
            return known[1]
    conn: Any = session.connection().connection.driver_connection
    if _orjson_loads is not None and not getattr(conn, "_ruhu_orjson", False):
        set_json_loads(_orjson_loads, conn)  # jsonb columns parsed by orjson on this connection
        conn._ruhu_orjson = True
    session.info[_RAW] = (session.get_transaction(), conn)
    return conn


def _default(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


try:  # orjson serialises UUIDs and datetimes natively and is ~10x faster
    import orjson

    _orjson_loads: Any = orjson.loads

    def dump_bytes(rows: Any) -> bytes:
        return orjson.dumps(rows, default=_default)

    def dumps(rows: Any) -> str:
        return dump_bytes(rows).decode()
except ImportError:  # pragma: no cover
    _orjson_loads = None

    def dumps(rows: Any) -> str:
        return json.dumps(rows, default=_default, separators=(",", ":"))

    def dump_bytes(rows: Any) -> bytes:
        return dumps(rows).encode()


def json_param(rows: Any) -> Json:
    """``rows`` as a ``json`` parameter: the serialiser's UTF-8 bytes go to the server as they
    are. A push sends about 400 kB of JSON; decoding it to ``str`` and psycopg encoding it back
    cost 1-2 ms per push."""
    return Json(rows, dumps=dump_bytes)


@cache
def _column_types(table: sa.Table) -> dict[str, str]:
    return {c.name: c.type.compile(dialect=_DIALECT) for c in table.c}


@cache
def _not_null_jsonb(table: sa.Table, name: str) -> bool:
    column = table.c[name]
    return not column.nullable and isinstance(column.type, postgresql.JSONB)


def uuid_array(ids: Any) -> str:
    """A ``uuid[]`` literal: much cheaper to send than psycopg's per-element array dumping."""
    return "{" + ",".join(sorted({str(i) for i in ids})) + "}"


def select_for_update(session: Session, table: sa.Table, floors: dict[str, int],
                      columns: list[str]) -> list[tuple[Any, ...]]:
    """``columns`` of the rows whose ids are the keys of ``floors``, locked in id order (no
    deadlocks between batches), plus their stored per-field version and clock maps: tuples, in
    the order of ``columns`` and then the two maps.

    A row whose version is not above its floor (the base version of the changes made to it)
    cannot hold anyone else's change: every field's version is at most the floor, so the maps
    are not needed and come back as NULL. Tombstones always come whole. The stored maps are
    those of the record's creation: ``select_field_writes`` gives the writes since. The id
    comes back as text, the form the push path keys records by.
    """
    ids = sorted(floors)
    cols = ", ".join('t."id"::text' if c == "id" else f't."{c}"' for c in columns)
    whole = "t.version > x.floor OR t.deleted"
    query = (
        f"SELECT {cols}, CASE WHEN {whole} THEN t.field_versions END, "
        f"CASE WHEN {whole} THEN t.field_hlcs END "
        f'FROM "{table.name}" t JOIN unnest(%s::uuid[], %s::bigint[]) AS x(id, floor) '
        "ON t.id = x.id ORDER BY t.id FOR UPDATE OF t"
    )
    with raw(session).cursor() as cur:
        # both arrays in id order (``uuid_array`` sorts too)
        cur.execute(query, [uuid_array(ids), "{" + ",".join(str(floors[i]) for i in ids) + "}"])
        rows: list[tuple[Any, ...]] = cur.fetchall()
        return rows


def select_field_writes(session: Session, records: list[tuple[str, str]]
                        ) -> dict[tuple[str, str], list[FieldWrite]]:
    """The field writes the change log has for these (entity, id) records beyond their stored
    maps (a write of a field at a version above the field's stored one): its version, clock and
    whether the change sent the stored value again (old = new). One query, by the log's
    ``record_id`` index; only for the few records a merge needs whole."""
    if not records:
        return {}
    by_entity: dict[str, list[str]] = {}
    for entity, rid in records:
        by_entity.setdefault(entity, []).append(rid)
    # entity names and table names are the code's own (ENTITY_ORDER), never the client's
    query = " UNION ALL ".join(
        f"SELECT '{entity}', c.record_id::text, c.version, c.hlc, k.key, "
        "(k.value -> 0) IS NOT DISTINCT FROM (k.value -> 1) "
        f'FROM change_log c JOIN "{TABLES[entity].name}" t ON t.id = c.record_id '
        "CROSS JOIN LATERAL jsonb_each(c.changes) AS k "
        f"WHERE c.record_id = ANY(%s::uuid[]) AND c.entity = '{entity}' "
        "AND c.version > COALESCE((t.field_versions ->> k.key)::int, 0)"
        for entity in by_entity)
    out: dict[tuple[str, str], list[FieldWrite]] = {key: [] for key in records}
    with raw(session).cursor() as cur:
        cur.execute(query, [uuid_array(ids) for ids in by_entity.values()])
        for entity, rid, version, hlc, name, agreed in cur.fetchall():
            out[(entity, rid)].append(FieldWrite(version, hlc, name, bool(agreed)))
    return out


def insert_json(session: Session, table: sa.Table, rows: list[dict[str, Any]], *,
                conflict: str = "", same: dict[str, Any] | None = None) -> None:
    """``INSERT INTO table (cols of rows[0]) SELECT ... FROM json_to_recordset(...)``.

    ``same``: columns whose value is the same for every row, sent once as parameters.
    """
    if not rows:
        return
    same = same or {}
    types = _column_types(table)
    names = list(rows[0])
    cols = ", ".join(f'"{n}"' for n in [*names, *same])
    defs = ", ".join(f'"{n}" {types[n]}' for n in names)
    # JSON null must stay a JSON value in NOT NULL jsonb columns (a conflict's side may be null)
    exprs = ", ".join(
        [f"""COALESCE("{n}", 'null'::jsonb)""" if _not_null_jsonb(table, n) else f'"{n}"'
         for n in names] + [f"%s::{types[n]}" for n in same]
    )
    sql = (f'INSERT INTO "{table.name}" ({cols}) SELECT {exprs} FROM '
           f"json_to_recordset(%s::json) AS x({defs}) {conflict}")
    with raw(session).cursor() as cur:
        cur.execute(sql, [*same.values(), json_param(rows)])


def upsert_records(session: Session, table: sa.Table, rows: list[dict[str, Any]], *,
                   same: dict[str, Any] | None = None) -> None:
    """Insert new records and overwrite existing ones. ``same``: columns with one value for every
    row (see ``insert_json``)."""
    if not rows:
        return
    keep = {"id", "created_at", "created_by"}
    sets = ", ".join(f'"{n}" = EXCLUDED."{n}"' for n in [*rows[0], *(same or {})]
                     if n not in keep)
    insert_json(session, table, rows, same=same,
                conflict=f'ON CONFLICT (id) DO UPDATE SET {sets}')


def update_records(session: Session, table: sa.Table, rows: list[dict[str, Any]], *,
                   same: dict[str, Any] | None = None) -> None:
    """Update existing (locked) records with the columns of ``rows``. Cheaper than an upsert of
    whole rows: much less JSON to parse and to write. ``same``: columns set to one value on
    every row, sent once as parameters."""
    if not rows:
        return
    same = same or {}
    types = _column_types(table)
    names = list(rows[0])
    defs = ", ".join(f'"{n}" {types[n]}' for n in names)
    sets = ", ".join(
        [f""""{n}" = COALESCE(x."{n}", 'null'::jsonb)""" if _not_null_jsonb(table, n)
         else f'"{n}" = x."{n}"'
         for n in names if n != "id"]
        + [f'"{n}" = %s::{types[n]}' for n in same]
    )
    query = (f'UPDATE "{table.name}" AS t SET {sets} '
             f"FROM json_to_recordset(%s::json) AS x({defs}) WHERE t.id = x.id")
    with raw(session).cursor() as cur:
        cur.execute(query, [*same.values(), json_param(rows)])


# --- the push path's statements (``records.process``): one per step and table, never per row ---


def touch_device(session: Session, user_id: Any, device_id: str, now: dt.datetime, seq: int,
                 skew_ms: int, floor_seq: int | None = None) -> int | None:
    """Note the device's push (last seen, sequence, clock skew); also locks the device row, so
    one device's pushes run one after the other. ``floor_seq`` (the lowest seq of a push from
    the tablet itself) raises the device's outbox floor. Returns the seq below which the
    device's receipts may have been pruned (None: none were)."""
    with raw(session).cursor() as cur:
        cur.execute("UPDATE device SET last_seen = %s, last_sync_at = %s, "
                    "last_seq = greatest(coalesce(last_seq, 0), %s), "
                    "max_clock_skew_ms = greatest(max_clock_skew_ms, %s), "
                    "outbox_floor_seq = greatest(outbox_floor_seq, %s) "
                    "WHERE user_id = %s AND device_id = %s RETURNING receipts_pruned_below",
                    [now, now, seq, skew_ms, floor_seq, user_id, device_id])
        row = cur.fetchone()
    return None if row is None else row[0]


def select_receipts(session: Session, change_ids: list[str]) -> dict[str, tuple[Any, ...]]:
    """change id -> (change_id, user_id, device_id, status, record_id, version, result) of the
    receipts of ``change_ids``."""
    if not change_ids:
        return {}
    with raw(session).cursor() as cur:
        cur.execute("SELECT change_id::text, user_id, device_id, status, record_id, version, "
                    "result FROM sync_receipt WHERE change_id = ANY(%s::uuid[])",
                    [uuid_array(change_ids)])
        return {r[0]: r for r in cur.fetchall()}


def select_duplicate_candidates(session: Session, wanted: dict[str, set[Any]]
                                ) -> list[dict[str, Any]]:
    """Active households whose head ID number or household number is one of ``wanted``'s
    (``sync_protocol.duplicates.lookup_values``): id, village code and both keys."""
    ids = wanted.get("head_id_number") or set()
    nums = wanted.get("household_number") or set()
    if not ids and not nums:
        return []
    t = TABLES["household"]
    rows = session.execute(
        sa.select(t.c.id, t.c.village_code, t.c.head_id_number, t.c.household_number)
        .where(~t.c.deleted, sa.or_(t.c.head_id_number.in_(ids or {""}),
                                    t.c.household_number.in_(nums or {""})))
    ).mappings().all()
    return [dict(r) for r in rows]


def select_change_log(session: Session, household_ids: set[uuid.UUID],
                      record_ids: set[uuid.UUID]) -> list[dict[str, Any]]:
    """The change-log entries (entity, record id as text, version, user, device, changes) of
    ``record_ids`` in ``household_ids``, by version."""
    t = table_of(ChangeLog)
    return [{**r, "record_id": str(r["record_id"])} for r in session.execute(
        sa.select(t.c.entity, t.c.record_id, t.c.version, t.c.user_id, t.c.device_id,
                  t.c.changes)
        .where(t.c.household_id.in_(household_ids), t.c.record_id.in_(record_ids))
        .order_by(t.c.version)
    ).mappings()]


def cascade_moves(session: Session, moved: dict[str, str], same: dict[str, Any]) -> None:
    """Households moved to another village (id -> new village code): their children follow
    (their village code is a copy), each with a change-log row in the new village so that its
    devices pull it (``op`` ``follow``, no household: the household's own row is its history).
    ``same``: the batch's user, device, source and time. One statement per child table."""
    if not moved:
        return
    pairs = json_param([{"hid": hid, "vc": vc} for hid, vc in moved.items()])
    cols = ", ".join(same)
    params = ", ".join(f"%s::{_column_types(table_of(ChangeLog))[n]}" for n in same)
    with raw(session).cursor() as cur:
        for entity in ENTITY_ORDER[1:]:
            cur.execute(
                f'WITH m AS (UPDATE "{TABLES[entity].name}" t SET village_code = x.vc '
                "FROM json_to_recordset(%s::json) AS x(hid uuid, vc text) "
                "WHERE t.household_id = x.hid AND t.village_code <> x.vc "
                "RETURNING t.id, t.village_code, t.version) "
                f"INSERT INTO change_log (entity, record_id, village_code, op, version, changes, "
                f"{cols}) SELECT '{entity}', m.id, m.village_code, 'follow', m.version, "
                f"'{{}}'::jsonb, {params} FROM m",
                [pairs, *same.values()])


def select_children(session: Session, household_id: uuid.UUID) -> list[tuple[str, str]]:
    """(entity, id) of every child record of a household, deleted or not (one query)."""
    parts = [sa.select(sa.literal(entity).label("entity"), sa.cast(TABLES[entity].c.id, sa.Text))
             .where(TABLES[entity].c.household_id == household_id)
             for entity in ENTITY_ORDER[1:]]
    return [(r[0], r[1]) for r in session.execute(sa.union_all(*parts)).all()]


def reassign_history(session: Session, loser: uuid.UUID, survivor: uuid.UUID) -> None:
    """The change-log entries of a merged household's children follow them to the survivor."""
    cl = table_of(ChangeLog)
    session.execute(sa.update(cl).where(cl.c.household_id == loser, cl.c.entity != "household")
                    .values(household_id=survivor))
