"""Apply a batch of changes: validate each, lock the touched rows, merge in Python, write in bulk.

Used by the push endpoint (source ``sync``) and by server-originated writes
(``apply_server_changes``: clerk resolutions, console imports). The number of SQL round trips is
constant per batch: one lock query per touched entity, one query for receipts, one for duplicate
households, one bulk statement per written table — never one per change. Rows are locked in a
fixed order (household first, then the child tables, each by id) so two concurrent batches cannot
deadlock.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
import uuid6
from pydantic import ValidationError
from sqlmodel import Session

from server.db.tables import ChangeLog, Conflict, ScopeExit, SyncReceipt, SyncRejection
from server.scope import Principal
from server.sync import procedures, sql
from server.sync.references import reject_unusable_attachments
from server.sync.values import (
    ENTITY_ORDER,
    FIELDS,
    LIST_FIELDS,
    NOT_NULL_FIELDS,
    TABLES,
    TXID_NOW,
    jsonable,
    table_of,
)
from sync_protocol import visits
from sync_protocol.entities import ENTITIES, validate_fields
from sync_protocol.errors import ErrorCode, FieldError
from sync_protocol.hlc import HLC_RE, Hlc, clamp_parts, now_ms
from sync_protocol.input_rules import strip_control_chars
from sync_protocol.merge import DELETE, OPS, Incoming, Outcome, Stored, hlc_device, merge
from sync_protocol.validation import check_id_number


@dataclass(slots=True)
class Prepared:
    """One change after its own checks; ``result`` is set as soon as its fate is known."""

    index: int
    change_id: str
    change_uuid: str | None = None  # ids are canonical UUID text here: cheap to hash and dump
    entity: str = ""
    record_id: str | None = None
    op: str = "upsert"
    base_version: int | None = None
    fields: dict[str, Any] = field(default_factory=dict)  # Python values
    hlc: str = ""
    seq: int | None = None
    force: bool = False
    warnings: list[FieldError] = field(default_factory=list)
    result: dict[str, Any] | None = None

    def reject(self, code: ErrorCode, fld: str | None = None, message: str = "") -> None:
        err = FieldError(code, fld, message)
        self.result = {"change_id": self.change_id, "status": "rejected",
                       "record_id": str(self.record_id) if self.record_id else None,
                       "version": None, "error": err.to_dict()}


@dataclass(slots=True)
class RecState:
    """A touched record during the batch: its current state and bookkeeping."""

    entity: str
    id: str
    stored: Stored | None
    village_code: str | None
    household_id: str | None
    in_db: bool = False
    dirty: bool = False
    changed: set[str] = field(default_factory=set)  # fields written by this batch


@dataclass(slots=True)
class Batch:
    """The outputs of one batch, written in bulk at the end."""

    logs: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    receipts: list[dict[str, Any]] = field(default_factory=list)
    moved: dict[str, str] = field(default_factory=dict)
    exits: list[dict[str, Any]] = field(default_factory=list)
    base_lookups: list[tuple[dict[str, Any], int]] = field(default_factory=list)
    user_id: uuid.UUID | None = None
    device_id: str = ""
    source: str = "sync"


# --- step 1: per-change checks that need no database -----------------------------------------


CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _parse_uuid(value: Any) -> str | None:
    """The canonical text of a UUID (any form ``uuid.UUID`` accepts), or None."""
    if isinstance(value, str) and CANONICAL_UUID.fullmatch(value):
        return value  # what clients send: skips building a UUID object
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def prepare(index: int, raw: Any, server_ms: int, *, force: bool = False,
            device_id: str | None = None) -> tuple[Prepared, int]:
    """Check one raw change on its own. Returns it and the clock skew (ms) that was clamped."""
    if not isinstance(raw, dict):
        p = Prepared(index, "")
        p.reject(ErrorCode.request_malformed)
        return p, 0
    p = Prepared(index, str(raw.get("change_id", "")), force=force)
    p.change_uuid = _parse_uuid(raw.get("change_id"))
    p.record_id = _parse_uuid(raw.get("record_id"))
    if p.change_uuid is None:
        p.reject(ErrorCode.validation_uuid_invalid, "change_id")
        return p, 0
    p.change_id = p.change_uuid
    seq = raw.get("seq")
    valid_seq = isinstance(seq, int) and not isinstance(seq, bool) and 0 <= seq < 2**62
    p.seq = seq if valid_seq else None  # informational only: out of range is ignored
    entity = raw.get("entity")
    p.entity = entity if isinstance(entity, str) else ""
    if p.entity not in ENTITIES:
        p.reject(ErrorCode.sync_entity_unknown, "entity")
        return p, 0
    if p.record_id is None:
        p.reject(ErrorCode.validation_uuid_invalid, "record_id")
        return p, 0
    p.op = raw.get("op", "upsert")
    if p.op not in OPS:
        p.reject(ErrorCode.sync_op_invalid, "op")
        return p, 0
    base = raw.get("base_version")
    if base is not None and (not isinstance(base, int) or isinstance(base, bool) or base < 1):
        p.reject(ErrorCode.sync_base_version_invalid, "base_version")
        return p, 0
    p.base_version = base
    hlc = raw.get("hlc")
    clock = HLC_RE.match(hlc) if isinstance(hlc, str) else None
    if clock is None:
        p.reject(ErrorCode.sync_hlc_invalid, "hlc")
        return p, 0
    millis, counter, device = clock.groups()
    # the clock's device part is the authenticated device, always
    p.hlc, skew = clamp_parts(millis, counter, device_id or device, server_ms)
    if p.op == DELETE:
        return p, skew
    fields = raw.get("fields", {})
    if fields is None:
        fields = {}
    try:
        model = ENTITIES[p.entity].model.model_validate(fields)
    except ValidationError:
        first = validate_fields(p.entity, fields, creating=False).errors[0]
        p.reject(first.code, first.field, first.message)
        return p, skew
    # the sent fields' validated values, in the client's order (cheaper than ``model_dump``;
    # ``extra="forbid"`` has made sure each name is a field)
    python = {name: getattr(model, name) for name in fields}
    lists = LIST_FIELDS[p.entity]
    for name, value in python.items():
        if value is None and name in lists:
            python[name] = []
        elif value is None and name in NOT_NULL_FIELDS[p.entity]:
            p.reject(ErrorCode.validation_field_required, name)
            return p, skew
    for name in ("head_id_number", "id_number"):
        if python.get(name):
            p.warnings += [w for w in check_id_number(python[name], name) if w.warning]
    p.fields = python
    return p, skew


# --- step 2: load and lock -------------------------------------------------------------------


LOCK_COLUMNS = ("id", "village_code", "version", "deleted")
# a row only read as a new child's parent: no change of its own, so no version map needed
NO_CHANGE = 2**62


def _columns_read(entity: str, changes: list[Prepared], judged: bool = False) -> list[str]:
    """The columns the merge of ``changes`` reads: the sync columns, the household link and
    the fields the changes set (all fields when one deletes: a delete-edit conflict keeps the
    edited values). Reading 40 columns for a change of two was most of the lock query's cost.
    Procedures are read whole, and with them (``judged``) their households' monitoring fields:
    the state machine judges them."""
    if any(p.op == DELETE for p in changes) or entity == "procedure":
        names = set(FIELDS[entity])
    else:
        names = set(ENTITIES[entity].immutable).union(*(p.fields for p in changes))
        if entity == "household" and changes:
            names |= DUPLICATE_KEYS
        if entity == "household" and judged:
            names |= procedures.HOUSEHOLD_FACT_COLUMNS
    link = () if entity == "household" else ("household_id",)
    return list(dict.fromkeys([*LOCK_COLUMNS, *link, *sorted(names)]))


def _lock_rows(session: Session, entity: str, floors: dict[str, int], columns: list[str],
               changes: list[Prepared]) -> list[dict[str, Any]]:
    if not floors:
        return []
    clock_fields = sorted(set().union(*(p.fields for p in changes)))
    return sql.select_for_update(session, TABLES[entity], floors, columns, clock_fields)


def _floors(changes: list[Prepared]) -> dict[str, int]:
    """Per record, the lowest base version its changes were made on (-1 for a delete, which
    reads every field's clock). A record still at that version reads no version map: nobody
    else changed any of its fields since (see ``sql.select_for_update``)."""
    floors: dict[str, int] = {}
    for p in changes:
        base = -1 if p.op == DELETE else (p.base_version or 0)
        rid: str = p.record_id  # type: ignore[assignment]
        floors[rid] = min(base, floors.get(rid, NO_CHANGE))
    return floors


def _state_from_row(entity: str, row: dict[str, Any]) -> RecState:
    values = {f: row[f] for f in FIELDS[entity] if f in row}
    stored = Stored(values, row["version"], row["deleted"], row["field_versions"] or {},
                    row["field_hlcs"] or {})
    household_id = row["id"] if entity == "household" else str(row["household_id"])
    return RecState(entity, row["id"], stored, row["village_code"], household_id, in_db=True)


# --- the batch ---------------------------------------------------------------------------------


def process(
    session: Session,
    principal: Principal,
    device_id: str,
    raw_changes: list[Any],
    *,
    source: str = "sync",
    force: bool = False,
) -> list[dict[str, Any]]:
    """Apply ``raw_changes`` in order; return one result per change (see the protocol)."""
    server_ms = now_ms()
    now = dt.datetime.now(dt.UTC)
    prepared: list[Prepared] = []
    max_skew = 0
    for i, raw in enumerate(raw_changes):
        p, skew = prepare(i, raw, server_ms, force=force,
                          device_id=device_id if source == "sync" else None)
        prepared.append(p)
        max_skew = max(max_skew, skew)

    if source == "sync":
        # also locks the device row: one device's pushes run one after the other
        seq = max((p.seq for p in prepared if p.seq is not None), default=0)
        with sql.raw(session).cursor() as cur:
            cur.execute("UPDATE device SET last_seen = %s, last_sync_at = %s, "
                        "last_seq = greatest(coalesce(last_seq, 0), %s), "
                        "max_clock_skew_ms = greatest(max_clock_skew_ms, %s) "
                        "WHERE user_id = %s AND device_id = %s",
                        [now, now, seq, max_skew, principal.user_id, device_id])

    _apply_receipts(session, principal, device_id, prepared)
    reject_unusable_attachments(session, principal, [p for p in prepared if p.result is None])
    live = [p for p in prepared if p.result is None]
    states, ctx = _load(session, live)
    batch = Batch(user_id=principal.user_id, device_id=device_id, source=source)
    dupes = _duplicate_candidates(session, live)
    first_seen: dict[str, Prepared] = {}
    for p in prepared:
        if p.result is not None:
            continue
        if p.change_uuid in first_seen:
            continue  # a change repeated inside the batch: answered below
        first_seen[p.change_uuid] = p  # type: ignore[index]
        _merge_one(p, principal, device_id, states, batch, dupes, now, ctx)
    for p in prepared:
        if p.result is None and p.change_uuid in first_seen:
            orig = first_seen[p.change_uuid]  # type: ignore[index]
            p.result = _duplicate_result(orig.result or {})
    _fill_base_values(session, batch)
    _write(session, states, batch, now)
    if source == "sync":
        _log_rejections(session, prepared, batch, now)
    return [p.result or {} for p in prepared]


def _text(value: Any, length: int) -> str | None:
    """Client-sent text fit for a text column: no NUL or surrogate, cut to length."""
    return (strip_control_chars(str(value))[:length] or None) if value is not None else None


def _log_rejections(session: Session, prepared: list[Prepared], batch: Batch,
                    now: dt.datetime) -> None:
    """Rejected changes, for the quality dashboard (few: one statement when there are any)."""
    rows = []
    for p in prepared:
        result = p.result or {}
        if result.get("status") != "rejected":
            continue
        error = result.get("error") or {}
        rows.append({"id": uuid.uuid4(), "change_id": _text(p.change_id, 100),
                     "entity": _text(p.entity, 30), "record_id": p.record_id,
                     "code": _text(error.get("code"), 60) or "",
                     "field": _text(error.get("field"), 60),
                     "message": _text(error.get("message"), 500) or ""})
    sql.insert_json(session, table_of(SyncRejection), rows,
                    same={"user_id": batch.user_id, "device_id": batch.device_id, "at": now})


def _duplicate_result(original: dict[str, Any]) -> dict[str, Any]:
    if original.get("status") == "rejected":
        return dict(original)
    return {**original, "status": "duplicate", "original_status": original.get("status")}


def _apply_receipts(session: Session, principal: Principal, device_id: str,
                    prepared: list[Prepared]) -> None:
    ids = [p.change_uuid for p in prepared if p.result is None and p.change_uuid]
    if not ids:
        return
    with sql.raw(session).cursor() as cur:
        cur.execute("SELECT change_id::text, user_id, device_id, status, record_id, version, "
                    "result FROM sync_receipt WHERE change_id = ANY(%s::uuid[])",
                    [sql.uuid_array(ids)])
        rows = cur.fetchall()
    found = {r[0]: r for r in rows}
    for p in prepared:
        r = found.get(p.change_uuid) if p.result is None else None
        if r is None:
            continue
        if r[1] != principal.user_id or r[2] != device_id:
            p.reject(ErrorCode.sync_change_id_reused, "change_id")
        else:
            p.result = _duplicate_result(receipt_result(r[0], r[3], r[4], r[5], r[6]))


PLAIN_RESULT = ("change_id", "status", "record_id", "version")


def receipt_result(change_id: str | uuid.UUID, status: str, record_id: uuid.UUID | None,
                   version: int | None, extra: dict[str, Any] | None) -> dict[str, Any]:
    """A change's original result from its receipt (columns plus the JSON of what they lack)."""
    if extra and "change_id" in extra:  # written before receipts were slimmed (migration 0004)
        return dict(extra)
    return {"change_id": str(change_id), "status": status,
            "record_id": str(record_id) if record_id else None, "version": version,
            **(extra or {})}


def _load(session: Session, live: list[Prepared]
          ) -> tuple[dict[tuple[str, str], RecState], procedures.Context | None]:
    changes: dict[str, list[Prepared]] = {e: [] for e in ENTITY_ORDER}
    for p in live:
        changes[p.entity].append(p)
    floors = {entity: _floors(changes[entity]) for entity in ENTITY_ORDER}
    for p in live:
        parent = p.fields.get("household_id") if p.entity != "household" else None
        if isinstance(parent, uuid.UUID):
            floors["household"].setdefault(str(parent), NO_CHANGE)
    judged = procedures.lock_households(session, changes["procedure"], floors, NO_CHANGE)
    states: dict[tuple[str, str], RecState] = {}
    for entity in ENTITY_ORDER:  # fixed order: no deadlocks between concurrent batches
        columns = _columns_read(entity, changes[entity], judged is not None)
        for row in _lock_rows(session, entity, floors[entity], columns, changes[entity]):
            states[(entity, row["id"])] = _state_from_row(entity, row)
    return states, procedures.load_context(session, judged, states)


def _county(village_code: str | None) -> str:
    return (village_code or "")[:6]


def _duplicate_candidates(session: Session, live: list[Prepared]) -> list[dict[str, Any]]:
    """Active households sharing a head ID number or household number that a household change in
    the batch sets (creates, and edits of those two fields)."""
    keyed = [p for p in live if p.entity == "household" and p.op != DELETE]
    ids = {p.fields.get("head_id_number") for p in keyed} - {None, ""}
    nums = {p.fields.get("household_number") for p in keyed} - {None, ""}
    if not ids and not nums:
        return []
    t = TABLES["household"]
    rows = session.execute(
        sa.select(t.c.id, t.c.village_code, t.c.head_id_number, t.c.household_number)
        .where(~t.c.deleted, sa.or_(t.c.head_id_number.in_(ids or {""}),
                                    t.c.household_number.in_(nums or {""})))
    ).mappings().all()
    return [dict(r) for r in rows]


def _scope_ok(principal: Principal | None, village_code: str | None) -> bool:
    return principal is None or principal.covers(village_code)


def _merge_one(p: Prepared, principal: Principal, device_id: str,
               states: dict[tuple[str, str], RecState], batch: Batch,
               dupes: list[dict[str, Any]], now: dt.datetime,
               ctx: procedures.Context | None = None) -> None:
    spec = ENTITIES[p.entity]
    key = (p.entity, p.record_id)
    st = states.get(key)  # type: ignore[arg-type]
    if st is None or st.stored is None:
        if p.op == DELETE or p.base_version is not None:
            p.reject(ErrorCode.scope_out_of_scope)  # same answer as for a record of another scope
            return
        for name in spec.required:
            if p.fields.get(name) in (None, ""):
                p.reject(ErrorCode.validation_field_required, name)
                return
        if p.entity == "visit" and (bad := visits.change_refusal(p.fields, p.op, None)):
            p.reject(bad.code, bad.field)
            return
        if p.entity == "household":
            village = p.fields["village_code"]
            if not _scope_ok(principal, village):
                p.reject(ErrorCode.scope_out_of_scope, "village_code")
                return
            household_id = p.record_id
        else:
            parent = states.get(("household", str(p.fields["household_id"])))
            if parent is None or parent.stored is None or not _scope_ok(principal,
                                                                        parent.village_code):
                p.reject(ErrorCode.sync_parent_missing, "household_id")
                return
            village = parent.village_code
            household_id = parent.id
        st = RecState(p.entity, p.record_id, None, village, household_id)  # type: ignore[arg-type]
        states[key] = st  # type: ignore[index]
    else:
        if not _scope_ok(principal, st.village_code):
            p.reject(ErrorCode.scope_out_of_scope)
            return
        if p.base_version is not None and p.base_version > st.stored.version:
            p.reject(ErrorCode.sync_base_version_invalid, "base_version")
            return
        for name in spec.immutable:
            if name in p.fields and p.fields[name] != st.stored.values.get(name):
                p.reject(ErrorCode.validation_field_readonly, name)
                return
        if p.entity == "visit" and (bad := visits.change_refusal(
                p.fields, p.op, st.stored.values, principal.user_id, Hlc.parse(p.hlc), p.force)):
            p.reject(bad.code, bad.field)
            return
        new_village = p.fields.get("village_code") if p.entity == "household" else None
        if new_village and not _scope_ok(principal, new_village):
            p.reject(ErrorCode.scope_out_of_scope, "village_code")
            return

    if not procedures.gate(p, st if st.stored is not None else None, principal.role,
                           principal.user_id, device_id, batch.source, states, ctx, now):
        return
    stored_before = st.stored
    outcome = merge(stored_before, Incoming(p.op, p.base_version, p.fields, p.hlc, p.force))
    result: dict[str, Any] = {"change_id": p.change_id, "status": outcome.status,
                              "record_id": p.record_id, "version": outcome.version}
    if p.warnings:
        result["warnings"] = [w.to_dict() for w in p.warnings]
    if outcome.written:
        st.stored = outcome.state()
        st.dirty = True
        st.changed.update(outcome.changed)
        if p.entity == "household" and "village_code" in outcome.changed:
            left = st.village_code
            st.village_code = outcome.values["village_code"]
            if not outcome.created:  # children (in the database or this batch) follow
                batch.moved[st.id] = st.village_code  # type: ignore[assignment]
                batch.exits.append({"id": uuid.uuid4(), "entity": "household",
                                    "record_id": st.id, "village_code": left, "at": now})
        batch.logs.append(_log_row(p, st, outcome))
        procedures.apply_approval(p, st, outcome, states, ctx, RecState,
                                  lambda e, s, o, h: batch.logs.append(_log_row(
                                      Prepared(-1, "", entity=e, hlc=h), s, o)))
    conflict_ids = _conflict_rows(p, st, stored_before, outcome, principal, device_id, batch, now)
    keys = DUPLICATE_KEYS if outcome.created else DUPLICATE_KEYS & outcome.changed.keys()
    if p.entity == "household" and p.op != DELETE and keys:
        conflict_ids += _check_duplicate(p, st, keys, principal, device_id, states, dupes, batch,
                                         now)
        if conflict_ids:
            result["status"] = "conflict"
    if conflict_ids:
        result["conflict_id"] = conflict_ids[0]
        if len(conflict_ids) > 1:
            result["conflict_ids"] = conflict_ids
    p.result = result
    extra = {k: v for k, v in result.items() if k not in PLAIN_RESULT}
    batch.receipts.append({
        "change_id": p.change_uuid, "seq": p.seq, "entity": p.entity, "record_id": p.record_id,
        "status": result["status"], "version": outcome.version, "result": extra or None,
    })


PLAIN = frozenset({str, int, float, bool, type(None)})  # already JSON: no ``jsonable`` call


def _log_row(p: Prepared, st: RecState, outcome: Outcome) -> dict[str, Any]:
    """The change-log row of one change (who, from which device, when: the same for the whole
    batch, added by ``_write``)."""
    if outcome.created:
        op = "create"
    elif outcome.deleted and outcome.tombstone_changed:
        op = "delete"
    elif outcome.tombstone_changed:
        op = "undelete"
    elif outcome.has_conflict and not outcome.changed:
        op = "conflict"
    else:
        op = "update"
    return {
        "entity": p.entity, "record_id": st.id, "household_id": st.household_id,
        "village_code": st.village_code, "op": op, "version": outcome.version,
        "change_id": p.change_uuid, "hlc": p.hlc,
        "changes": {k: [a if type(a) in PLAIN else jsonable(a),
                        b if type(b) in PLAIN else jsonable(b)]
                    for k, (a, b) in outcome.changed.items()},
    }


def _conflict_base(p: Prepared, st: RecState, now: dt.datetime, principal: Principal,
                   device_id: str, version: int) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(), "entity": p.entity, "record_id": st.id, "other_record_id": None,
        "household_id": st.household_id, "village_code": st.village_code, "field": None,
        "base_version": p.base_version, "base_value": None, "server_value": None,
        "server_user_id": None, "server_device_id": None, "server_hlc": None,
        "server_version": version, "client_value": None, "client_user_id": principal.user_id,
        "client_device_id": device_id, "client_hlc": p.hlc, "client_change_id": p.change_uuid,
        "detected_at": now, "status": "open", "resolution": None, "resolved_value": None,
        "resolved_by": None, "resolved_at": None, "note": None,
    }


def _conflict_rows(p: Prepared, st: RecState, before: Stored | None, outcome: Outcome,
                   principal: Principal, device_id: str, batch: Batch,
                   now: dt.datetime) -> list[str]:
    ids: list[str] = []
    version = before.version if before else 0
    for c in outcome.conflicts:
        row = _conflict_base(p, st, now, principal, device_id, version)
        row.update(kind="field", field=c.field, server_value=jsonable(c.server_value),
                   client_value=jsonable(c.client_value), server_hlc=c.server_hlc,
                   server_device_id=hlc_device(c.server_hlc))
        batch.conflicts.append(row)
        batch.base_lookups.append((row, p.base_version or 0))
        ids.append(str(row["id"]))
    de = outcome.delete_edit
    if de is not None:
        row = _conflict_base(p, st, now, principal, device_id, version)
        row.update(kind="delete_edit", server_hlc=de.server_hlc,
                   server_device_id=hlc_device(de.server_hlc))
        if de.client_deleted:
            row["server_value"] = jsonable(de.server_fields)
            row["client_value"] = {"deleted": True}
        else:
            row["server_value"] = {"deleted": True}
            row["client_value"] = jsonable(p.fields)
        batch.conflicts.append(row)
        ids.append(str(row["id"]))
    return ids


DUPLICATE_KEYS = frozenset({"head_id_number", "household_number"})


def _check_duplicate(p: Prepared, st: RecState, keys: frozenset[str] | set[str],
                     principal: Principal, device_id: str,
                     states: dict[tuple[str, str], RecState], dupes: list[dict[str, Any]],
                     batch: Batch, now: dt.datetime) -> list[str]:
    """A household created, or given a new head ID number or household number (``keys``), that
    matches an active household of the county: both are kept, and the pair becomes a
    ``duplicate_record`` conflict."""
    assert st.stored is not None
    mine = {k: st.stored.values.get(k) for k in DUPLICATE_KEYS}
    if not any(mine[k] for k in keys):
        return []
    county = _county(st.village_code)
    candidates: dict[str, dict[str, Any]] = {str(d["id"]): d for d in dupes}
    for (entity, rid), other in states.items():  # this batch's state wins over the database's
        if entity == "household" and other.stored is not None:
            candidates[rid] = {"id": rid, "village_code": other.village_code,
                               **{k: other.stored.values.get(k) for k in DUPLICATE_KEYS}}
    for rid, d in candidates.items():
        current = states.get(("household", rid))
        if rid == st.id or (current and current.stored and current.stored.deleted):
            continue
        if _county(d["village_code"]) != county:
            continue
        same = [k for k in sorted(keys) if mine[k] and d[k] == mine[k]]
        if not same:
            continue
        row = _conflict_base(p, st, now, principal, device_id, 0)
        row.update(kind="duplicate_record", other_record_id=rid, field=same[0],
                   server_value=jsonable({"record_id": rid, **{k: d[k] for k in DUPLICATE_KEYS},
                                          "village_code": d["village_code"]}),
                   client_value=jsonable({"record_id": st.id, **mine,
                                          "village_code": st.village_code}))
        batch.conflicts.append(row)
        return [str(row["id"])]
    return []


def _fill_base_values(session: Session, batch: Batch) -> None:
    """Base value and server author of field conflicts, from the change log (one query)."""
    if not batch.base_lookups:
        return
    t = table_of(ChangeLog)
    entries = [{**r, "record_id": str(r["record_id"])} for r in session.execute(
        sa.select(t.c.entity, t.c.record_id, t.c.version, t.c.user_id, t.c.device_id,
                  t.c.changes)
        .where(t.c.household_id.in_({uuid.UUID(row["household_id"])
                                     for row, _ in batch.base_lookups}),
               t.c.record_id.in_({uuid.UUID(row["record_id"]) for row, _ in batch.base_lookups}))
        .order_by(t.c.version)
    ).mappings()]
    entries += [{**e, "user_id": batch.user_id, "device_id": batch.device_id} for e in batch.logs]
    for row, base in batch.base_lookups:
        touching = sorted(
            (e for e in entries
             if e["entity"] == row["entity"] and e["record_id"] == row["record_id"]
             and row["field"] in (e["changes"] or {}) and e["version"] <= row["server_version"]),
            key=lambda e: e["version"],
        )
        after = [e for e in touching if e["version"] > base]
        if after and base > 0:
            row["base_value"] = after[0]["changes"][row["field"]][0]
        if after:
            row["server_user_id"] = after[-1]["user_id"]
            row["server_device_id"] = after[-1]["device_id"]


# --- step 4: bulk writes ----------------------------------------------------------------------


def _record_row(st: RecState) -> dict[str, Any]:
    """A new record's row (who and when are the same for the batch: ``_write`` adds them)."""
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
    changed in this batch (its own current value where it did not change that one), and only
    the changed entries of its per-field versions and clocks."""
    assert st.stored is not None
    stored = st.stored
    lists = LIST_FIELDS[st.entity]
    row: dict[str, Any] = {"id": st.id, "version": stored.version, "deleted": stored.deleted}
    for name in names:
        value = stored.values.get(name)
        row[name] = [] if value is None and name in lists else value
    row["field_versions"] = {k: stored.field_versions[k] for k in st.changed
                             if k in stored.field_versions}
    row["field_hlcs"] = {k: stored.field_hlcs[k] for k in st.changed if k in stored.field_hlcs}
    return row


def _write(session: Session, states: dict[tuple[str, str], RecState], batch: Batch,
           now: dt.datetime) -> None:
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
        sql.update_records(session, TABLES[entity], [_update_row(st, names) for st in existing],
                           same=updated)
    if batch.moved:
        _cascade_moves(session, batch.moved)
    sql.insert_json(session, table_of(ChangeLog), batch.logs,
                    same={"user_id": batch.user_id, "device_id": batch.device_id,
                          "source": batch.source, "at": now})
    sql.insert_json(session, table_of(Conflict), batch.conflicts)
    sql.insert_json(session, table_of(ScopeExit), batch.exits)
    # a plain insert: pushes of one device are serialised by the device row's lock, so a
    # change id can only collide when another device reuses it at the same moment, and then
    # the unique violation fails this transaction and the device retries (503)
    sql.insert_json(session, table_of(SyncReceipt), batch.receipts,
                    same={"user_id": batch.user_id, "device_id": batch.device_id, "at": now})


def _cascade_moves(session: Session, moved: dict[str, str]) -> None:
    """A household moved to another village: its children follow (their village code is a copy)."""
    params = [{"hid": hid, "vc": vc} for hid, vc in moved.items()]
    for entity in ENTITY_ORDER[1:]:
        t = TABLES[entity]
        session.execute(
            sa.update(t).where(t.c.household_id == sa.bindparam("hid"))
            .values(village_code=sa.bindparam("vc"), txid=TXID_NOW),
            params,
        )


# --- server-originated writes ---------------------------------------------------------------


def server_hlc() -> str:
    return str(Hlc(now_ms(), 0, "server"))


def apply_server_changes(session: Session, principal: Principal, changes: list[dict[str, Any]],
                         source: str) -> list[dict[str, Any]]:
    """Audited server-side writes (console imports, resolutions) through the same merge path.

    Each change is ``{"entity", "record_id", "op"?, "fields", "change_id"?, "base_version"?}``.
    Without ``base_version`` the change overrides the current values (no conflict); with one it
    merges like a device's change. Results are those of a push.
    """
    hlc = server_hlc()
    raw = []
    forced = []
    for c in changes:
        item = {"op": "upsert", "hlc": hlc, "change_id": str(uuid6.uuid7()), **c}
        item["record_id"] = str(item["record_id"])
        item["change_id"] = str(item["change_id"])
        forced.append("base_version" not in c)
        raw.append(item)
    if all(forced) or not any(forced):
        return process(session, principal, f"server-{source}", raw, source=source,
                       force=all(forced))
    out = []
    for item, f in zip(raw, forced, strict=True):
        out += process(session, principal, f"server-{source}", [item], source=source, force=f)
    return out
