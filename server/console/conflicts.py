"""Conflict inbox and detail: where a clerk decides which value of a field is true."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import OrderedDict
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import Session, col, select

from server.api.deps import SessionDep
from server.console.common import parse_uuid, scope_villages, village_names
from server.console.web import ClerkDep, ConsoleRoute, CsrfChecked, redirect, render
from server.db.tables import SYNCED_TABLES, ChangeLog, Conflict, Household
from server.queries.conflicts import (
    conflict_row,
    conflict_rows_to_wire,
    select_conflicts,
    similarity_key,
    township_names,
    township_of,
)
from server.queries.names import user_names
from server.reference import county_checklist, stored_templates
from server.scope import Principal
from server.sync.conflicts import resolve_conflict
from sync_protocol.display import enum_options, field_kind
from sync_protocol.entities import ENTITIES, validate_fields
from sync_protocol.enums import LABELS, ConflictKind
from sync_protocol.errors import ErrorCode, RuhuError
from sync_protocol.validation import household_seen_from
from sync_protocol.wire import ResolveRequest

router = APIRouter(route_class=ConsoleRoute)
INBOX_LIMIT = 2000


def _open_conflicts(session: Session, principal: Principal, **filters: Any
                    ) -> list[dict[str, Any]]:
    """Open conflicts, oldest first, through the read layer the API lists with (same scope,
    same filters, same masking)."""
    return select_conflicts(session, principal, status="open", limit=INBOX_LIMIT,
                            oldest_first=True, **{k: v for k, v in filters.items() if v})


def _group(conflicts: list[dict[str, Any]]
           ) -> OrderedDict[str, OrderedDict[str, list[dict[str, Any]]]]:
    """village → household → conflicts, each level ordered by its oldest conflict."""
    tree: OrderedDict[str, OrderedDict[str, list[dict[str, Any]]]] = OrderedDict()
    for c in conflicts:  # already oldest first, so insertion order is the wanted order
        tree.setdefault(c["village_code"], OrderedDict()).setdefault(
            c["household_id"] or c["record_id"], []).append(c)
    return tree


def _authors(conflicts: list[dict[str, Any]]) -> dict[str, str]:
    """``{user id: name}`` of both sides' authors."""
    return {side["user_id"]: side["user_name"] or "未知" for c in conflicts
            for side in (c["server"], c["client"]) if side["user_id"]}


@router.get("/conflicts")
def inbox(request: Request, session: SessionDep, user: ClerkDep, village: str = "",
          kind: str = "", entity: str = "", author: str = "", resolved: int = 0,
          failed: int = 0) -> Response:
    conflicts = _open_conflicts(session, user, village=village, kind=kind, entity=entity,
                                author=author)
    everything = _open_conflicts(session, user) if (village or kind or entity or author) \
        else conflicts
    households = {str(h.id): h for h in session.exec(select(Household).where(
        col(Household.id).in_({uuid.UUID(c["household_id"] or c["record_id"])
                               for c in conflicts}))).all()}
    similar: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for c in conflicts:  # only field conflicts: their values are the record's own
        if c["kind"] == "field":
            similar.setdefault(similarity_key(c), []).append(c)
    groups = [g for g in similar.values() if len(g) > 1]
    groups.sort(key=len, reverse=True)
    return render(
        request, "inbox.html", active="conflicts", tree=_group(conflicts), households=households,
        names=village_names(session, user), villages=scope_villages(session, user),
        authors=_authors(everything), total=len(conflicts), total_all=len(everything),
        similar_count={c["id"]: len(similar.get(similarity_key(c), ())) for c in conflicts},
        kind_labels=LABELS[ConflictKind],
        similar_groups=groups[:10], kinds=enum_options(ConflictKind),
        entities=[(name, spec.label) for name, spec in ENTITIES.items()],
        filters={"village": village, "kind": kind, "entity": entity, "author": author},
        resolved=resolved, failed=failed,
    )


def conflict_in_scope(session: Session, user: Principal, conflict_id: str) -> Conflict:
    try:
        cid = uuid.UUID(conflict_id)
    except ValueError as exc:
        raise RuhuError(ErrorCode.conflict_not_found, status_code=404) from exc
    return conflict_row(session, user, cid)


def _record_fields(session: Session, entity: str, record_id: Any) -> dict[str, Any] | None:
    table = SYNCED_TABLES.get(entity)
    row = session.get(table, record_id) if table else None
    if row is None:
        return None
    names = ENTITIES[entity].fields
    data = {n: getattr(row, n, None) for n in names}
    return {"fields": _jsonable(data), "version": row.version, "deleted": row.deleted,
            "updated_at": row.updated_at}


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in data.items():
        out[k] = v.isoformat() if isinstance(v, dt.date | dt.datetime) else (
            str(v) if isinstance(v, uuid.UUID) else v)
    return out


def household_history(session: Session, household_id: Any, limit: int = 20) -> list[ChangeLog]:
    if household_id is None:
        return []
    return list(session.exec(select(ChangeLog).where(ChangeLog.household_id == household_id)
                             .order_by(ChangeLog.id.desc()).limit(limit)).all())  # type: ignore[union-attr]


def _duplicate_pair(session: Session, user: Principal, c: Conflict
                    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None, dict[str, Any]]:
    """The conflict's record and, for a duplicate, the other household — each only when the
    clerk's scope covers its village. ``hidden`` maps a record id the clerk may not see to what
    they may know of it (township, masked identifiers: ``household_seen_from``)."""
    record = _record_fields(session, c.entity, c.record_id)
    other = _record_fields(session, c.entity, c.other_record_id) if c.other_record_id else None
    hidden: dict[str, Any] = {}
    if c.kind != "duplicate_record":
        return record, other, hidden
    shown = []
    for rec, rid, stored in ((record, c.record_id, c.client_value),
                             (other, c.other_record_id, c.server_value)):
        village = rec["fields"].get("village_code") if rec else (stored or {}).get("village_code")
        if user.covers(village):
            shown.append(rec)
            continue
        known = {**(stored or {}), "village_code": village}
        if rec:
            known.update({k: rec["fields"].get(k) for k in ("head_id_number", "household_number")})
        township = township_of(known)
        hidden[str(rid)] = household_seen_from(
            known, user.scopes, township_names(session, {township}).get(township))
        shown.append(None)
    return shown[0], shown[1], hidden


def _similar(session: Session, user: Principal, c: Conflict) -> list[dict[str, Any]]:
    """Other open conflicts the clerk may settle with ``c`` (``similarity_key``)."""
    if c.kind != "field":
        return []
    key = similarity_key(conflict_rows_to_wire(session, user, [c.model_dump()])[0])
    rows = _open_conflicts(session, user, kind=c.kind, entity=c.entity, field=c.field)
    return [r for r in rows if r["id"] != str(c.id) and similarity_key(r) == key][:500]


def _detail(request: Request, session: Session, user: Principal, c: Conflict,
            error: str | None = None, status: int = 200, select_all: bool = False) -> Response:
    record, other, hidden = _duplicate_pair(session, user, c)
    household = session.get(Household, c.household_id) if c.household_id else None
    history = household_history(session, c.household_id)
    similar = _similar(session, user, c)
    heads = {str(hid): name for hid, name in session.exec(
        select(Household.id, Household.head_name).where(col(Household.id).in_(
            [uuid.UUID(s["household_id"]) for s in similar if s["household_id"]]))).all()}
    names = user_names(session, [c.server_user_id, c.client_user_id, c.resolved_by]
                       + [h.user_id for h in history])
    kind, enum = field_kind(c.entity, c.field or "")
    current = record["fields"].get(c.field) if record and c.field else None
    return render(
        request, "conflict.html", status, active="conflicts", c=c, record=record, other=other,
        hidden=hidden,
        household=household, history=history, similar=similar, names=names, heads=heads,
        template=county_checklist(session, household.village_code) if household else None,
        stored_templates=stored_templates(session),
        villages=village_names(session, user), input_kind=kind,
        options=enum_options(enum) if enum else [], current=current, error=error,
        select_all=select_all, kind_label=LABELS[ConflictKind].get(c.kind),
        fields_of=ENTITIES[c.entity].fields if c.entity in ENTITIES else (),
    )


@router.get("/conflicts/{conflict_id}")
def detail(request: Request, session: SessionDep, user: ClerkDep, conflict_id: str,
           select: str = "") -> Response:
    c = conflict_in_scope(session, user, conflict_id)
    return _detail(request, session, user, c, select_all=select == "all")


def parse_custom_value(entity: str, field: str, form: Any) -> Any:
    """The clerk's typed value, in the field's JSON form; raises RuhuError when it is invalid."""
    kind, _ = field_kind(entity, field)
    if kind == "enum_list":
        raw: Any = [v for v in form.getlist("value") if v]
    else:
        text = str(form.get("value") or "").strip()
        if kind == "text_list":
            raw = [p.strip() for p in text.replace("，", ",").split(",") if p.strip()]
        elif text == "":
            raw = None
        elif kind == "bool":
            raw = {"true": True, "false": False}.get(text, text)
        elif kind in ("int", "float"):
            try:
                raw = int(text) if kind == "int" else float(text)
            except ValueError:
                raw = text
        else:
            raw = text
    checked = validate_fields(entity, {field: raw}, creating=False)
    if not checked.ok:
        raise RuhuError(checked.errors[0].code, checked.errors[0].message)
    return checked.fields.get(field)


def _request_for(c: Conflict, form: Any) -> ResolveRequest:
    resolution = str(form.get("resolution") or "")
    note = str(form.get("note") or "").strip()[:2000] or None
    if c.kind == "duplicate_record":
        if resolution == "distinct":
            return ResolveRequest(resolution="distinct", note=note)
        if resolution.startswith("merge:"):
            survivor = parse_uuid(resolution[6:])
            if survivor not in (c.record_id, c.other_record_id):
                raise RuhuError(ErrorCode.conflict_resolution_invalid)
            return ResolveRequest(resolution="merge", survivor_id=survivor, note=note)
        raise RuhuError(ErrorCode.conflict_resolution_invalid,
                        "请选择处理方式：合并到保留户，或确认不是同一户。")
    if resolution in ("keep_server", "take_client"):
        return ResolveRequest(resolution=resolution, note=note)  # type: ignore[arg-type]
    if resolution == "custom" and c.field:
        value = parse_custom_value(c.entity, c.field, form)
        return ResolveRequest(resolution="custom", value=value, note=note)
    raise RuhuError(ErrorCode.conflict_resolution_invalid, "请选择处理方式。")


def resolve_one(session: Session, user: Principal, conflict_id: uuid.UUID,
                req: ResolveRequest) -> dict[str, Any]:
    """Every console resolution goes through the sync engine, so it is audited and reaches the
    devices on their next pull."""
    return resolve_conflict(session, user, conflict_id, req)


@router.post("/conflicts/{conflict_id}/resolve", dependencies=[CsrfChecked])
async def resolve(request: Request, session: SessionDep, user: ClerkDep,
                  conflict_id: str) -> Response:
    c = conflict_in_scope(session, user, conflict_id)
    form = await request.form()
    try:
        req = _request_for(c, form)
    except RuhuError as exc:
        return _detail(request, session, user, c, error=exc.message, status=400)
    if c.status != "open":
        return _detail(request, session, user, c, status=409,
                       error="该冲突已由他人处理，请查看处理结果。")
    try:
        with session.begin_nested():
            resolve_one(session, user, c.id, req)
    except RuhuError as exc:
        session.refresh(c)
        return _detail(request, session, user, c, error=exc.message, status=409
                       if exc.code == ErrorCode.conflict_already_resolved else 400)
    done, failed = 1, 0
    similar_ids = {uuid.UUID(s["id"]) for s in _similar(session, user, c)}
    for raw in form.getlist("also"):
        try:
            other_id = uuid.UUID(str(raw))
        except ValueError:
            failed += 1
            continue
        if other_id not in similar_ids:
            failed += 1
            continue
        try:
            with session.begin_nested():
                resolve_one(session, user, other_id, req)
            done += 1
        except RuhuError:
            failed += 1
    return redirect(f"/console/conflicts?resolved={done}&failed={failed}")
