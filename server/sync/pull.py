"""``GET /api/v1/sync/pull``: current state of in-scope records changed after the cursor.

A round covers the transaction ids ``lo <= txid < hi``, where ``hi`` is the xmin of the snapshot
of the round's first page: every transaction below it had committed or aborted by then, and every
transaction that commits later has a txid ``>= hi``. The next round starts at ``lo = hi``.

* An **initial download** (``lo == 0``) pages the scope's households in ``(village_code, id)``
  order, each with all its live children (a household is never split: a page closes once it holds
  ``limit`` records or more), then the open conflicts by ``(txid, id)``.
* An **incremental round** (``lo > 0``) pages the append-only change log, the conflicts and the
  scope exits by ``(txid, stream, id)`` and sends the current state of the distinct records the
  change-log rows name (those still in scope).

Why nothing is skipped (docs/protocol.md has the long form). Every change a device must see
leaves a change-log row, in the same transaction, in the village where the record now is (pushes
and server-side operations per change; children that follow a moved household get ``follow``
rows, ``sql.cascade_moves``). Incremental: change-log rows are never updated, so the keyset walks
the fixed set ``lo <= txid < hi`` once and sends states at least as new as each change; a later
change has its own row. Initial: a record live at the first page's snapshot S1 that nothing
changes afterwards keeps its household's position, so the household keyset reaches it; anything
that changes it or its household after S1 (edits, moves that shift a household behind the keyset,
merges, new records) committed after S1, so its change-log row has ``txid >= hi`` and the next
round sends the current state. Re-sends are harmless: the client keeps the higher version.

Opening a round makes every id below its ``hi`` durable before answering, so that no server after
a crash or a failover reuses one of them (tests/sync/test_standby.py).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from server.db.tables import ChangeLog, Conflict, ScopeExit
from server.queries.conflicts import conflict_rows_to_wire
from server.reference import reference_payload
from server.scope import Principal
from server.sync.cursor import CONFLICTS, EXITS, HOUSEHOLDS, LOG, Cursor, decode
from server.sync.pull_columns import column_blocks
from server.sync.sql import dumps, uuid_array
from server.sync.values import ENTITY_ORDER, FIELDS, TABLES, table_of
from sync_protocol.columns import FORM_COLUMNS, FORM_ROWS, PullForm, in_rows
from sync_protocol.errors import ErrorCode, RuhuError
from sync_protocol.wire import DEFAULT_PULL_LIMIT, MAX_COLUMN_PULL_LIMIT, MAX_PULL_LIMIT


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


def _after(txid: Any, key: Any, stream: int, pos: tuple[int, int, str] | None,
           key_value: Any) -> Any:
    """The keyset condition ``(txid, stream, key) > pos`` for one stream."""
    if pos is None:
        return sa.true()
    ptx, pstream, _ = pos
    if stream < pstream:
        return txid > ptx
    if stream > pstream:
        return txid >= ptx
    # the plain bound lets the (village_code, txid, id) index start at the position
    return sa.and_(txid >= ptx, sa.tuple_(txid, key) > sa.tuple_(
        sa.literal(ptx, sa.BigInteger), key_value))


def _incremental_keys(conn: Connection, principal: Principal, cursor: Cursor, hi: int,
                      limit: int) -> list[tuple[int, int, str]]:
    """The next ``limit + 1`` keys ``(txid, stream, key)`` of an incremental round: change-log
    rows, conflicts and scope exits with ``lo <= txid < hi`` in scope, merged by Postgres (each
    branch an index range scan on ``(village_code, txid, id)`` with its own limit); only keys
    leave the database."""
    pkey = cursor.pos[2] if cursor.pos else None
    log = table_of(ChangeLog)
    branches = [
        sa.select(log.c.txid, sa.literal(LOG).label("stream"), log.c.id.label("num"),
                  sa.null().cast(PG_UUID(as_uuid=True)).label("uid"))
        .where(log.c.txid >= cursor.lo, log.c.txid < hi,
               _after(log.c.txid, log.c.id, LOG, cursor.pos,
                      sa.literal(int(pkey) if pkey and cursor.pos and cursor.pos[1] == LOG
                                 else 0, sa.BigInteger)),
               principal.scope_clause(log.c.village_code))
        .order_by(log.c.txid, log.c.id).limit(limit + 1)
    ]
    for stream, model in ((CONFLICTS, Conflict), (EXITS, ScopeExit)):
        t = table_of(model)
        position = uuid.UUID(pkey) if pkey and cursor.pos and cursor.pos[1] == stream \
            else uuid.UUID(int=0)
        branches.append(
            sa.select(t.c.txid, sa.literal(stream).label("stream"),
                      sa.null().cast(sa.BigInteger).label("num"), t.c.id.label("uid"))
            .where(t.c.txid >= cursor.lo, t.c.txid < hi,
                   _after(t.c.txid, t.c.id, stream, cursor.pos, sa.literal(position, t.c.id.type)),
                   principal.scope_clause(t.c.village_code))
            .order_by(t.c.txid, t.c.id).limit(limit + 1))
    union = sa.union_all(*(b.subquery().select() for b in branches)).subquery()
    stmt = (sa.select(union.c.txid, union.c.stream, union.c.num, union.c.uid)
            .order_by(union.c.txid, union.c.stream, union.c.num, union.c.uid).limit(limit + 1))
    return [(txid, stream, str(num if stream == LOG else uid))
            for txid, stream, num, uid in conn.execute(stmt).all()]


def _any_since(conn: Connection, principal: Principal, cursor: Cursor, hi: int, xmin: int
               ) -> bool:
    """Whether a transaction that finished after the round opened (``hi <= txid < xmin``) left
    a change-log row, a conflict or a scope exit in scope: what the next round would send.

    Every transaction below this snapshot's ``xmin`` has ended, so its rows are visible here and
    the answer is final; rows of later ones (``txid >= xmin``) are for a later round anyway. A
    drained multi-page round whose village saw nothing new meanwhile then says ``has_more:
    false`` instead of sending the tablet back for an empty page (docs/protocol.md, Pull)."""
    nxt = Cursor(cursor.user_id, cursor.scope_version, hi, None, None)
    return bool(_incremental_keys(conn, principal, nxt, xmin, 0))


@cache
def _logged_records_sql() -> Any:
    """(entity, id, village) of the distinct records the chosen change-log rows name (one
    statement: the rows are read once, then each table by primary key)."""
    parts = " UNION ALL ".join(
        f"SELECT '{entity}', t.id::text, t.village_code FROM named n "
        f'JOIN "{TABLES[entity].name}" t ON t.id = n.record_id WHERE n.entity = \'{entity}\''
        for entity in ENTITY_ORDER)
    return sa.text("WITH named AS MATERIALIZED (SELECT DISTINCT entity, record_id FROM change_log "
                   f"WHERE id = ANY(CAST(:ids AS bigint[]))) {parts}")


def _records_of_log(conn: Connection, principal: Principal, ids: list[str]
                    ) -> dict[str, list[str]]:
    """entity -> ids of the records named by change-log rows ``ids`` that are in the user's
    scope now (one that left it is announced by its scope exit)."""
    wanted: dict[str, list[str]] = {}
    rows = conn.execute(_logged_records_sql(), {"ids": "{" + ",".join(ids) + "}"}).all()
    for entity, rid, village in rows:
        if principal.covers(village):
            wanted.setdefault(entity, []).append(rid)
    return wanted


def _uuid_array_param(name: str, value: str | None = None) -> Any:
    """``CAST(:name AS uuid[])`` of a ``uuid_array`` literal, the parameter left untyped:
    Postgres then reads it as a ``uuid[]`` once, when the statement is bound. Typed as text
    (``CAST(:name::VARCHAR AS uuid[])``), the cast is an expression a sequential scan evaluates
    for every row — parsing the whole array again each time: a first download of a village
    that is most of its table, in pages of 20,000, took 11 s instead of 2 s."""
    return sa.cast(sa.bindparam(name, value, type_=sa.types.NullType()),
                   ARRAY(PG_UUID(as_uuid=True)))


def _any_uuid(ids: list[str]) -> Any:
    """``= ANY(array)``: one parameter instead of thousands in an expanded ``IN``."""
    return sa.any_(_uuid_array_param("ids", uuid_array(ids)))


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


def _documents(conn: Connection, wanted: dict[str, list[str]]) -> list[str]:
    """Each table's chosen records as one comma-joined JSON text built by Postgres, households
    first; the order inside a page does not matter (a page is applied atomically, each record
    at most once)."""
    docs = []
    for entity in ENTITY_ORDER:
        ids = wanted.get(entity)
        if ids:
            text = conn.execute(_documents_sql(entity), {"ids": uuid_array(ids)}).scalar()
            if text:
                docs.append(text)
    return docs


def _conflict_rows(conn: Connection, ids: list[str]) -> list[Any]:
    if not ids:
        return []
    table = table_of(Conflict)
    return list(conn.execute(sa.select(table).where(table.c.id == _any_uuid(ids))).mappings())


@dataclass
class _Page:
    wanted: dict[str, list[str]]  # entity -> ids of the records the page sends
    conflicts: list[Any]
    removed: list[dict[str, str]]
    last: tuple[int, int, str] | None  # the page's last key; None: the round is drained


def _incremental_page(conn: Connection, principal: Principal, cursor: Cursor, hi: int,
                      limit: int) -> _Page:
    keys = _incremental_keys(conn, principal, cursor, hi, limit)
    more = len(keys) > limit
    keys = keys[:limit]
    of = {s: [k for _, stream, k in keys if stream == s] for s in (LOG, CONFLICTS, EXITS)}
    wanted = _records_of_log(conn, principal, of[LOG]) if of[LOG] else {}
    removed = _removed(conn, principal, of[EXITS]) if of[EXITS] else []
    return _Page(wanted, _conflict_rows(conn, of[CONFLICTS]), removed,
                 keys[-1] if more else None)


def _next_households(conn: Connection, principal: Principal, after: tuple[str, str] | None,
                     count: int) -> list[tuple[str, str, bool]]:
    """(id, village code, deleted) of the next ``count`` households of the scope after
    ``after`` in ``(village_code, id)`` order (the ``ix_household_scope`` index)."""
    t = TABLES["household"]
    stmt = (sa.select(sa.cast(t.c.id, sa.Text), t.c.village_code, t.c.deleted)
            .where(principal.scope_clause(t.c.village_code))
            .order_by(t.c.village_code, t.c.id).limit(count))
    if after is not None:
        stmt = stmt.where(sa.tuple_(t.c.village_code, t.c.id) > sa.tuple_(
            sa.literal(after[0], t.c.village_code.type), sa.literal(after[1], t.c.id.type)))
    return [(hid, village, deleted) for hid, village, deleted in conn.execute(stmt).all()]


@cache
def _children_sql() -> Any:
    """(entity, household id, id) of the live children of the chosen households (one statement,
    each branch on the child table's ``household_id`` index)."""
    ids = _uuid_array_param("hids")
    return sa.union_all(*(
        sa.select(sa.literal(entity).label("entity"), sa.cast(t.c.household_id, sa.Text),
                  sa.cast(t.c.id, sa.Text), t.c.village_code)
        .where(t.c.household_id == sa.any_(ids), ~t.c.deleted)
        for entity, t in ((e, TABLES[e]) for e in ENTITY_ORDER[1:])))


def _initial_page(conn: Connection, principal: Principal, cursor: Cursor, hi: int,
                  limit: int) -> _Page:
    """A page of an initial download: the next households of the scope in ``(village_code,
    id)`` order, each with all its live children (a household is never split: the page closes
    once it holds ``limit`` records or more), then the open conflicts by ``(txid, id)``."""
    wanted: dict[str, list[str]] = {}
    total = 0
    pos = cursor.pos
    if pos is None or pos[1] == HOUSEHOLDS:
        after = (str(pos[0]).zfill(12), pos[2]) if pos else None
        chunk, seen = max(1, limit // 64), 0  # households of a page are fetched in chunks
        while True:
            households = _next_households(conn, principal, after, chunk)
            kids: dict[str, list[tuple[str, str]]] = {}
            if households:
                for entity, hid, cid, village in conn.execute(
                        _children_sql(), {"hids": uuid_array(h for h, _, _ in households)}):
                    if principal.covers(village):
                        kids.setdefault(hid, []).append((entity, cid))
            for hid, village, deleted in households:
                if not deleted:  # its live children come all the same
                    wanted.setdefault("household", []).append(hid)
                    total += 1
                for entity, cid in kids.get(hid, ()):
                    wanted.setdefault(entity, []).append(cid)
                    total += 1
                after, seen = (village, hid), seen + 1
                if total >= limit:
                    return _Page(wanted, [], [], (int(village), HOUSEHOLDS, hid))
            if len(households) < chunk:
                break  # every household is sent: on to the conflicts
            chunk = max(1, -(-(limit - total) * seen // max(total, 1)))
        pos = None
    t = table_of(Conflict)
    room = limit - total
    position = uuid.UUID(pos[2]) if pos else uuid.UUID(int=0)
    keys = conn.execute(
        sa.select(t.c.txid, sa.cast(t.c.id, sa.Text))
        .where(t.c.txid < hi, t.c.status == "open", principal.scope_clause(t.c.village_code),
               _after(t.c.txid, t.c.id, CONFLICTS, pos, sa.literal(position, t.c.id.type)))
        .order_by(t.c.txid, t.c.id).limit(room + 1)).all()
    last = (keys[room - 1][0], CONFLICTS, keys[room - 1][1]) if len(keys) > room else None
    return _Page(wanted, _conflict_rows(conn, [k for _, k in keys[:room]]), [], last)


def pull_json(engine: Engine, principal: Principal | Callable[[Connection], Principal],
              cursor_text: str | None, limit: int | None, form: PullForm = FORM_ROWS,
              reference_tag: str | None = None) -> bytes:
    """One pull page as JSON bytes (records come pre-serialised from Postgres), its records in
    ``form``: ``changes`` (rows) or ``columns`` (``sync_protocol.columns``).

    ``reference_tag``: the tag of the reference data the client holds ("" for none); the first
    page of every round then carries ``reference`` when the current data's tag differs. None
    (a client that sends no tag): on the first page of an initial download only.

    ``principal``: the user, or how to look them up on the page's connection (the route's
    ``deps.bearer_principal``), then the transaction's first statement: a pull holds one
    connection, not a second for the request's own session (docs/protocol.md, Pull)."""
    cap = MAX_COLUMN_PULL_LIMIT if form == FORM_COLUMNS else MAX_PULL_LIMIT
    limit = DEFAULT_PULL_LIMIT if limit is None else max(1, min(int(limit), cap))
    with engine.connect() as raw_conn:
        # REPEATABLE READ: every statement below reads the snapshot of the transaction's first
        # one, whose xmin is the round's hi (the module docstring: why nothing is skipped)
        conn = raw_conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            user = principal(conn) if callable(principal) else principal
            cursor, reset = _cursor(user, cursor_text)
            conn.execute(sa.text("SET LOCAL TimeZone = 'UTC'"))
            xmin, horizon = conn.execute(sa.text(
                "SELECT (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint, "
                "(SELECT scope_exit_horizon FROM sync_retention WHERE id = 1)")).one()
            if not cursor.initial and cursor.lo < (horizon or 0):
                # scope exits this round needs may have been pruned: a full download instead
                # (docs/protocol.md, Retention)
                cursor, reset = Cursor(str(user.user_id), user.scope_version), True
            hi = cursor.hi if cursor.hi is not None else xmin
            if cursor.hi is None:
                # A new round's hi goes to the device, so every id below it must stay used after a
                # crash or a failover. Aborts reach the WAL asynchronously and can be lost with the
                # primary; a lost one lets the next server hand its id out again, below this hi.
                # A (transactional) WAL record makes this commit wait until the WAL up to here,
                # with every abort before it, is flushed and on the synchronous standby
                # (docs/standby.md).
                conn.execute(sa.text("SELECT pg_logical_emit_message(true, 'ruhu.pull', '')"))
            if cursor.initial:
                page = _initial_page(conn, user, cursor, hi, limit)
            else:
                page = _incremental_page(conn, user, cursor, hi, limit)
            reference = None
            if reference_tag is None:
                if cursor.initial and cursor.pos is None:
                    reference = _reference(conn, user)
            elif cursor.hi is None:  # a round's first page: built once per round at most
                reference = _reference(conn, user)
                if reference["tag"] == reference_tag:
                    reference = None  # the device holds this very data
            conflicts = conflict_rows_to_wire(conn, user, page.conflicts)
            if form == FORM_COLUMNS:
                head, docs = '{"columns":[', column_blocks(conn, page.wanted)
            else:
                head, docs = '{"changes":[', _documents(conn, page.wanted)
            later = page.last is None and hi < xmin and _any_since(conn, user, cursor, hi, xmin)
    if page.last is not None:
        has_more = True
        nxt = Cursor(cursor.user_id, cursor.scope_version, cursor.lo, hi, page.last)
    else:
        # The round is drained. If it was opened by an earlier request, transactions may have
        # finished since (txid >= hi): if one of them left a row in scope, say so, and the next
        # request opens a fresh round.
        has_more = later
        nxt = Cursor(cursor.user_id, cursor.scope_version, hi, None, None)
    meta: dict[str, Any] = {"conflicts": conflicts, "removed": page.removed,
                            "next_cursor": nxt.encode(), "has_more": has_more, "reset": reset}
    if reference is not None:
        meta["reference"] = reference
    tail = dumps(meta)  # '{"conflicts":...}'
    return (head + ",".join(docs) + "]," + tail[1:]).encode()


def _cursor(principal: Principal, cursor_text: str | None) -> tuple[Cursor, bool]:
    """The request's cursor for ``principal`` and whether the device must start over (its
    scope changed): a fresh one without a cursor."""
    fresh = Cursor(str(principal.user_id), principal.scope_version)
    if not cursor_text:
        return fresh, False
    cursor = decode(cursor_text)
    if cursor.user_id != str(principal.user_id):
        raise RuhuError(ErrorCode.request_cursor_invalid, status_code=400)
    if cursor.scope_version != principal.scope_version:
        return fresh, True
    return cursor, False


def pull(engine: Engine, principal: Principal, cursor_text: str | None,
         limit: int | None, form: PullForm = FORM_ROWS,
         reference_tag: str | None = None) -> dict[str, Any]:
    """One pull page as a dict (tests, in-process callers); a page in column form comes back
    in rows (``changes``), as a client reads it."""
    return in_rows(json.loads(pull_json(engine, principal, cursor_text, limit, form,
                                        reference_tag)))


def _reference(conn: Connection, principal: Principal) -> dict[str, Any]:
    """Reference data (regions, templates, policy...) and its ``tag``, read in the page's
    snapshot."""
    with Session(bind=conn) as session:
        return reference_payload(session, principal)
