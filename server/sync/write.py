"""Batch step 4, for a push and a server-side operation alike: the batch's bulk writes (records,
change log, conflicts, scope exits, receipts, rejections), one statement per table through
``sql``."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlmodel import Session

from server.db.tables import ChangeLog, Conflict, ScopeExit, SyncReceipt, SyncRejection
from server.sync import sql
from server.sync.batch import Batch, Prepared, RecState
from server.sync.values import ENTITY_ORDER, FIELDS, LIST_FIELDS, NOT_NULL_FIELDS, TABLES, table_of
from sync_protocol.input_rules import strip_control_chars


def _record_row(st: RecState) -> dict[str, Any]:
    """A new record's row (who and when are the same for the batch: ``write`` adds them)."""
    assert st.stored is not None
    values = st.stored.values
    row: dict[str, Any] = {
        "id": st.id, "village_code": st.village_code, "version": st.stored.version,
        "deleted": st.stored.deleted, "field_versions": st.stored.field_versions,
        "field_hlcs": st.stored.field_hlcs,
    }
    lists = LIST_FIELDS[st.entity]
    for f in FIELDS[st.entity]:
        value = values.get(f)
        row[f] = [] if value is None and f in lists else value
    if st.entity == "household":
        row["village_code"] = st.village_code
    return row


def _without_empty_fields(entity: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """New records' rows without the nullable fields no row sets (a new household sets 4 of its
    40): their columns are NULL anyway, and a third of the JSON is then not sent or parsed."""
    if not rows:
        return rows
    empty = [f for f in FIELDS[entity]
             if f not in NOT_NULL_FIELDS[entity] and f not in LIST_FIELDS[entity]
             and f != "village_code" and all(row[f] is None for row in rows)]
    if not empty:
        return rows
    for row in rows:
        for f in empty:
            del row[f]
    return rows


def _update_row(st: RecState, names: list[str]) -> dict[str, Any]:
    """An existing record's row for ``sql.update_records``: the columns any record of its table
    changed in this batch (its own current value where it did not change that one). Its
    per-field versions and clocks are not written: the change log has them
    (``sync_protocol.merge.replay``)."""
    assert st.stored is not None
    stored = st.stored
    lists = LIST_FIELDS[st.entity]
    row: dict[str, Any] = {"id": st.id, "version": stored.version, "deleted": stored.deleted}
    for name in names:
        value = stored.values.get(name)
        row[name] = [] if value is None and name in lists else value
    return row


def write(session: Session, states: dict[tuple[str, str], RecState], batch: Batch,
          now: dt.datetime) -> None:
    """Write the batch: records (new ones upserted, changed ones patched) in ``ENTITY_ORDER``,
    then children of moved households, change log, conflicts, scope exits and receipts."""
    by_entity: dict[str, list[RecState]] = {e: [] for e in ENTITY_ORDER}
    for st in states.values():
        if st.dirty:
            by_entity[st.entity].append(st)
    # every record this batch writes was written by its user and device, now: sent once
    updated = {"updated_at": now, "updated_by": batch.user_id, "updated_device": batch.device_id}
    created = {"created_at": now, "created_by": batch.user_id, **updated}
    for entity, dirty in by_entity.items():  # ENTITY_ORDER
        sql.upsert_records(session, TABLES[entity],
                           _without_empty_fields(entity, [_record_row(st) for st in dirty
                                                          if not st.in_db]), same=created)
        existing = [st for st in dirty if st.in_db]
        names = sorted(set().union(*(st.changed for st in existing)))
        rows = [_update_row(st, names) for st in existing]
        if any(st.moved for st in existing):  # every row, so every row has the column
            for st, row in zip(existing, rows, strict=True):
                row["village_code"] = st.village_code
        sql.update_records(session, TABLES[entity], rows, same=updated)
    who = {"user_id": batch.user_id, "device_id": batch.device_id,
           "source": batch.origin.value, "at": now}
    sql.cascade_moves(session, batch.moved, who)
    sql.insert_json(session, table_of(ChangeLog), batch.logs, same=who)
    sql.insert_json(session, table_of(Conflict), batch.conflicts)
    sql.insert_json(session, table_of(ScopeExit), batch.exits)
    # a plain insert: pushes of one device are serialised by the device row's lock, so a
    # change id can only collide when another device reuses it at the same moment, and then
    # the unique violation fails this transaction and the device retries (503)
    sql.insert_json(session, table_of(SyncReceipt), batch.receipts,
                    same={"user_id": batch.user_id, "device_id": batch.device_id, "at": now})


def _text(value: Any, length: int) -> str | None:
    """Client-sent text fit for a text column: no NUL or surrogate, cut to length."""
    return (strip_control_chars(str(value))[:length] or None) if value is not None else None


def log_rejections(session: Session, prepared: list[Prepared], batch: Batch,
                    now: dt.datetime) -> None:
    """Rejected changes, for the quality dashboard (few: one statement when there are any)."""
    rows = []
    for p in prepared:
        error = p.result.error if p.result is not None else None
        if error is None:
            continue
        rows.append({"id": uuid.uuid4(), "change_id": _text(p.change_id, 100),
                     "entity": _text(p.entity, 30), "record_id": p.record_id,
                     "code": _text(error.code, 60) or "", "field": _text(error.field, 60),
                     "message": _text(error.message, 500) or ""})
    sql.insert_json(session, table_of(SyncRejection), rows,
                    same={"user_id": batch.user_id, "device_id": batch.device_id, "at": now})
