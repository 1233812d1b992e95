"""``GET /api/v1/sync/pull``: current state of in-scope records changed after the cursor.

Never skipping a change under concurrent pushes: every write stamps its row with its transaction id
(``txid``). A round of pulling covers ``lo <= txid < hi`` where ``hi`` is the xmin of the snapshot
taken when the round began — every transaction below it had committed or aborted, so no row with a
smaller txid can appear later. Rows with ``txid >= hi`` wait for the next round (``lo = hi``).
Inside a round, pages follow the keyset ``(txid, entity, id)``. A row rewritten during a round
gets a new, larger txid and is pulled again in a later round, with its then current state.
Opening a round makes every id below its ``hi`` durable before answering, so that no server after a
crash or a failover reuses one of them (tests/sync/test_standby.py).
"""

from __future__ import annotations

import json
import uuid
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from server.db.tables import Conflict, ScopeExit
from server.queries.conflicts import conflict_rows_to_wire
from server.reference import reference_payload
from server.scope import Principal
from server.sync.cursor import Cursor, decode
from server.sync.sql import dumps, uuid_array
from server.sync.values import ENTITY_ORDER, FIELDS, TABLES, table_of
from sync_protocol.errors import ErrorCode, RuhuError
from sync_protocol.wire import DEFAULT_PULL_LIMIT, MAX_PULL_LIMIT

CONFLICT_STREAM = len(ENTITY_ORDER)
EXIT_STREAM = CONFLICT_STREAM + 1  # records that left a village in scope (``removed``)


def _after(table: sa.Table, stream: int, cursor: Cursor) -> Any:
    if cursor.pos is None:
        return sa.true()
    ptx, pstream, pid = cursor.pos
    if stream < pstream:
        return table.c.txid > ptx
    if stream > pstream:
        return table.c.txid >= ptx
    # the plain bound lets the (village_code, txid) index start at the position
    return sa.and_(table.c.txid >= ptx,
                   sa.tuple_(table.c.txid, table.c.id) > sa.tuple_(
                       sa.literal(ptx, sa.BigInteger), sa.literal(pid, table.c.id.type)))


@cache
def _documents_sql(entity: str) -> Any:
    """SQL joining the chosen records of ``entity`` into one JSON text, built by Postgres.

    The envelope of each record is concatenated text around ``row_to_json`` of its fields (a
    lateral subquery, so no sub-plan per row): about 15 % cheaper than a second ``row_to_json``
    around it, and byte for byte the same text (``id``, ``version`` and ``deleted`` are NOT NULL
    in every record table, so no record can turn the concatenation NULL).
    """
    table = TABLES[entity].name
    fields = ", ".join(f't."{name}"' for name in FIELDS[entity])
    head = '{"entity":"' + entity + '","record_id":"'
    return sa.text(
        f"SELECT string_agg('{head}' || t.id || '\",\"version\":' || t.version"
        " || ',\"deleted\":' || t.deleted || ',\"fields\":' || row_to_json(f)::text || '}', ',')"
        f' FROM "{table}" t CROSS JOIN LATERAL (SELECT {fields}) f'
        " WHERE t.id = ANY(CAST(:ids AS uuid[]))"
    )


def _keys(conn: Connection, principal: Principal, cursor: Cursor, hi: int, limit: int
          ) -> list[tuple[int, int, str]]:
    """The next ``limit + 1`` keys ``(txid, stream, id)`` of the round, merged across the tables
    by Postgres (each branch an index range scan with its own limit); only keys leave the
    database, ids as text (they only go back into the next query and the cursor)."""
    branches = []
    tables = [(i, TABLES[e]) for i, e in enumerate(ENTITY_ORDER)]
    tables.append((CONFLICT_STREAM, table_of(Conflict)))
    if not cursor.initial:  # a first download holds nothing that could be removed
        tables.append((EXIT_STREAM, table_of(ScopeExit)))
    for stream, table in tables:
        stmt = (
            sa.select(table.c.txid, sa.literal_column(str(stream)).label("stream"),
                      table.c.id.label("id"))
            .where(table.c.txid >= cursor.lo, table.c.txid < hi,
                   _after(table, stream, cursor),
                   principal.scope_clause(table.c.village_code))
            .order_by(table.c.txid, table.c.id)
            .limit(limit + 1)
        )
        if cursor.initial and stream < CONFLICT_STREAM:
            stmt = stmt.where(~table.c.deleted)
        if cursor.initial and stream == CONFLICT_STREAM:
            stmt = stmt.where(table.c.status == "open")
        sub = stmt.subquery()
        branches.append(sa.select(sub.c.txid, sub.c.stream, sub.c.id))
    union = sa.union_all(*branches).subquery()
    stmt = (sa.select(union.c.txid, union.c.stream, sa.cast(union.c.id, sa.Text))
            .order_by(union.c.txid, union.c.stream, union.c.id).limit(limit + 1))
    return [tuple(row) for row in conn.execute(stmt).all()]  # type: ignore[misc]


def _any_uuid(ids: list[str]) -> Any:
    """``= ANY(array)``: one parameter instead of thousands in an expanded ``IN``."""
    return sa.any_(sa.cast(sa.bindparam("ids", uuid_array(ids), type_=sa.Text),
                           ARRAY(PG_UUID(as_uuid=True))))


def _removed(conn: Connection, principal: Principal, ids: list[str]) -> list[dict[str, str]]:
    """Records that left a village in scope and are not back in scope now (a record that moved
    back comes with the changes instead)."""
    t = table_of(ScopeExit)
    exits = conn.execute(sa.select(t.c.entity, t.c.record_id).where(t.c.id == _any_uuid(ids))
                         ).all()
    by_entity: dict[str, set[uuid.UUID]] = {}
    for entity, rid in exits:
        by_entity.setdefault(entity, set()).add(rid)
    removed = []
    for entity, rids in by_entity.items():
        table = TABLES[entity]
        current = dict(conn.execute(sa.select(table.c.id, table.c.village_code)
                                    .where(table.c.id.in_(rids))).all())
        removed += [{"entity": entity, "record_id": str(rid)} for rid in sorted(rids)
                    if not principal.covers(current.get(rid))]
    return removed


def _bodies(conn: Connection, keys: list[tuple[int, int, str]]
            ) -> tuple[list[str], list[Any]]:
    """Record documents and conflict rows for the chosen keys.

    Each table's records come back as one comma-joined JSON text built by Postgres (one row per
    table, not per record). Within a page records are grouped by table, households first; the
    order inside a page does not matter (a page is applied atomically, each record at most once).
    """
    wanted: dict[int, list[str]] = {}
    for _, stream, rid in keys:
        wanted.setdefault(stream, []).append(rid)
    docs: list[str] = []
    conflicts: list[Any] = []
    for stream in sorted(wanted):
        ids = wanted[stream]
        if stream == EXIT_STREAM:
            continue  # see ``_removed``
        if stream == CONFLICT_STREAM:
            table = table_of(Conflict)
            stmt = sa.select(table).where(table.c.id == _any_uuid(ids))
            conflicts += list(conn.execute(stmt).mappings())
        else:
            text = conn.execute(_documents_sql(ENTITY_ORDER[stream]),
                                {"ids": uuid_array(ids)}).scalar()
            if text:
                docs.append(text)
    return docs, conflicts


def pull_json(engine: Engine, principal: Principal, cursor_text: str | None,
              limit: int | None) -> bytes:
    """One pull page as JSON bytes (records come pre-serialised from Postgres)."""
    limit = DEFAULT_PULL_LIMIT if limit is None else max(1, min(int(limit), MAX_PULL_LIMIT))
    fresh = Cursor(str(principal.user_id), principal.scope_version)
    reset = False
    if cursor_text:
        cursor = decode(cursor_text)
        if cursor.user_id != str(principal.user_id):
            raise RuhuError(ErrorCode.request_cursor_invalid, status_code=400)
        if cursor.scope_version != principal.scope_version:
            cursor, reset = fresh, True
    else:
        cursor = fresh
    with engine.connect() as raw_conn:
        conn = raw_conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            conn.execute(sa.text("SET LOCAL TimeZone = 'UTC'"))
            xmin, horizon = conn.execute(sa.text(
                "SELECT (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint, "
                "(SELECT scope_exit_horizon FROM sync_retention WHERE id = 1)")).one()
            if not cursor.initial and cursor.lo < (horizon or 0):
                # scope exits this round needs may have been pruned: a full download instead
                # (docs/protocol.md, Retention)
                cursor, reset = fresh, True
            hi = cursor.hi if cursor.hi is not None else xmin
            if cursor.hi is None:
                # A new round's hi goes to the device, so every id below it must stay used after a
                # crash or a failover. Aborts reach the WAL asynchronously and can be lost with the
                # primary; a lost one lets the next server hand its id out again, below this hi.
                # A (transactional) WAL record makes this commit wait until the WAL up to here,
                # with every abort before it, is flushed and on the synchronous standby
                # (docs/standby.md).
                conn.execute(sa.text("SELECT pg_logical_emit_message(true, 'ruhu.pull', '')"))
            keys = _keys(conn, principal, cursor, hi, limit)
            has_more = len(keys) > limit
            keys = keys[:limit]
            docs, conflict_rows = _bodies(conn, keys)
            exits = [rid for _, stream, rid in keys if stream == EXIT_STREAM]
            removed = _removed(conn, principal, exits) if exits else []
            reference = None
            if cursor.initial and cursor.pos is None:
                reference = _reference(conn, principal)
            conflicts = conflict_rows_to_wire(conn, principal, conflict_rows)
    if has_more:
        txid, stream, last_id = keys[-1]
        nxt = Cursor(cursor.user_id, cursor.scope_version, cursor.lo, hi,
                     (txid, stream, uuid.UUID(last_id)))
    else:
        # The round is drained. If it was opened by an earlier request, transactions may have
        # finished since (txid >= hi): say so, and the next request opens a fresh round.
        has_more = hi < xmin
        nxt = Cursor(cursor.user_id, cursor.scope_version, hi, None, None)
    meta: dict[str, Any] = {"conflicts": conflicts, "removed": removed, "next_cursor": nxt.encode(),
                            "has_more": has_more, "reset": reset}
    if reference is not None:
        meta["reference"] = reference
    tail = dumps(meta)  # '{"conflicts":...}'
    return ('{"changes":[' + ",".join(docs) + "]," + tail[1:]).encode()


def pull(engine: Engine, principal: Principal, cursor_text: str | None,
         limit: int | None) -> dict[str, Any]:
    """One pull page as a dict (tests, in-process callers)."""
    result: dict[str, Any] = json.loads(pull_json(engine, principal, cursor_text, limit))
    return result


def _reference(conn: Connection, principal: Principal) -> dict[str, Any] | None:
    """Reference data (regions, templates, policy...) on the first page of an initial download."""
    with Session(bind=conn) as session:
        return reference_payload(session, principal)
