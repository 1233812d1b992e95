"""Push step 3: each change merged against its record's locked state (``sync_protocol.merge``),
in Python: scope and shape checks, the procedure gate, conflicts, duplicate households. What it
decides is collected in the ``Batch`` that ``write`` writes in bulk."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from sqlmodel import Session

from server.scope import Principal
from server.sync import procedures, sql
from server.sync.batch import Batch, Origin, Prepared, RecState, receipt_extra
from server.sync.values import jsonable
from sync_protocol import duplicates, visits
from sync_protocol.entities import ENTITIES
from sync_protocol.errors import ErrorCode
from sync_protocol.hlc import Hlc
from sync_protocol.merge import DELETE, Incoming, Outcome, Stored, hlc_device, merge
from sync_protocol.templates import ChecklistTemplateDef, template_or_default
from sync_protocol.wire import ChangeResult, ErrorBody
from sync_protocol.wuqing import checklist_change_error, checklist_item_error


def duplicate_candidates(session: Session, live: list[Prepared]) -> list[dict[str, Any]]:
    """Active households sharing a head ID number or household number that a household change in
    the batch sets (creates, and edits of those two fields): one query."""
    keyed = [p.fields for p in live if p.entity == "household" and p.op != DELETE]
    return sql.select_duplicate_candidates(session, duplicates.lookup_values(keyed))


def _scope_ok(principal: Principal | None, village_code: str | None) -> bool:
    return principal is None or principal.covers(village_code)


def merge_one(p: Prepared, principal: Principal, device_id: str,
              states: dict[tuple[str, str], RecState], batch: Batch,
              dupes: list[dict[str, Any]], now: dt.datetime,
              ctx: procedures.Context | None = None,
              recordable_of: Callable[[str], Mapping[str, ChecklistTemplateDef]] | None = None,
              template_named: Callable[[str], ChecklistTemplateDef] = template_or_default,
              ) -> None:
    """Merge one change into its record's state (created here when new); sets ``p.result``
    and adds the change's rows (log, conflicts, receipt) to ``batch``. ``recordable_of``: the
    templates a new 五清 item of a village's county may be recorded against, by code (its
    current one, its own earlier versions, the built-in ones it used before:
    ``templates.recordable_templates``; the item must be one of its template's items);
    ``template_named``: a template by code as the county keeps it (whose items only the 村书记
    judges)."""
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
            if p.entity == "checklist_item" and recordable_of is not None and (
                    bad_item := checklist_item_error(recordable_of(village or ""), p.fields)):
                p.reject(*bad_item)
                return
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

    if p.entity == "checklist_item" and (refused := checklist_change_error(  # 五清 role rule
            principal.role, template_named, p.fields, st.stored, deleting=p.op == DELETE)):
        p.reject(refused, "verdict")
        return
    if not procedures.gate(p, st if st.stored is not None else None, principal.role,
                           principal.user_id, batch.origin, states, ctx, now):
        return
    stored_before = st.stored
    outcome = merge(stored_before, Incoming(p.op, p.base_version, p.fields, p.hlc, p.force))
    result = ChangeResult(change_id=p.change_id, status=outcome.status,  # type: ignore[arg-type]
                          record_id=p.record_id, version=outcome.version)
    if p.warnings:
        result.warnings = [ErrorBody(**w.to_dict()) for w in p.warnings]
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
        batch.logs.append(log_row(p, st, outcome))
        procedures.apply_approval(p, st, outcome, states, ctx, RecState,
                                  lambda e, s, o, h: batch.logs.append(log_row(
                                      Prepared(-1, "", entity=e, hlc=h), s, o)))
    conflict_ids = _conflict_rows(p, st, stored_before, outcome, principal, device_id, batch, now)
    keys = duplicates.keys_to_check(outcome.created, outcome.changed)
    if p.entity == "household" and p.op != DELETE and keys:
        conflict_ids += _check_duplicate(p, st, keys, principal, device_id, states, dupes, batch,
                                         now)
        if conflict_ids:
            result.status = "conflict"
    if conflict_ids:
        result.conflict_id = conflict_ids[0]
        if len(conflict_ids) > 1:
            result.conflict_ids = conflict_ids
    p.result = result
    if batch.origin is Origin.DEVICE:  # a receipt answers a device's replay
        batch.receipts.append({
            "change_id": p.change_uuid, "seq": p.seq, "entity": p.entity,
            "record_id": p.record_id, "status": result.status, "version": outcome.version,
            "result": receipt_extra(result)})


PLAIN = frozenset({str, int, float, bool, type(None)})  # already JSON: no ``jsonable`` call


def log_row(p: Prepared, st: RecState, outcome: Outcome) -> dict[str, Any]:
    """The change-log row of one change (who, from which device, when: the same for the whole
    batch, added by ``write``)."""
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


def _check_duplicate(p: Prepared, st: RecState, keys: frozenset[str] | set[str],
                     principal: Principal, device_id: str,
                     states: dict[tuple[str, str], RecState], dupes: list[dict[str, Any]],
                     batch: Batch, now: dt.datetime) -> list[str]:
    """A household created, or given a new head ID number or household number (``keys``), that
    matches an active household of the county (``duplicates.find_duplicate``): both are kept,
    and the pair becomes a ``duplicate_record`` conflict."""
    assert st.stored is not None
    keys_all = duplicates.DUPLICATE_KEYS
    mine = {k: st.stored.values.get(k) for k in keys_all}
    if not any(mine[k] for k in keys):
        return []  # nothing to match on: skip building the candidates (a batch of 500 creates)
    candidates: dict[str, dict[str, Any]] = {str(d["id"]): d for d in dupes}
    for (entity, rid), other in states.items():  # this batch's state wins over the database's
        if entity == "household" and other.stored is not None:
            candidates[rid] = {"id": rid, "village_code": other.village_code,
                               "deleted": other.stored.deleted,
                               **{k: other.stored.values.get(k) for k in keys_all}}
    match = duplicates.find_duplicate(st.id, st.village_code, mine, keys,
                                      candidates.values())
    if match is None:
        return []
    d = match.candidate
    rid = str(d["id"])
    row = _conflict_base(p, st, now, principal, device_id, 0)
    row.update(kind="duplicate_record", other_record_id=rid, field=match.field,
               server_value=jsonable({"record_id": rid, **{k: d[k] for k in keys_all},
                                      "village_code": d["village_code"]}),
               client_value=jsonable({"record_id": st.id, **mine,
                                      "village_code": st.village_code}))
    batch.conflicts.append(row)
    return [str(row["id"])]


def fill_base_values(session: Session, batch: Batch) -> None:
    """Base value and server author of field conflicts, from the change log (one query)."""
    if not batch.base_lookups:
        return
    entries = sql.select_change_log(
        session, {uuid.UUID(row["household_id"]) for row, _ in batch.base_lookups},
        {uuid.UUID(row["record_id"]) for row, _ in batch.base_lookups})
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
