"""Conflicts for township clerks: the wire shape, listing, and resolution as an audited change."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from server.db.tables import Conflict, Region
from server.queries.names import user_names
from server.scope import Principal
from server.sync.operations import Origin, ServerChange, apply, move_children
from server.sync.values import TABLES, TXID_NOW, jsonable, table_of
from sync_protocol.errors import ErrorCode, RuhuError
from sync_protocol.validation import household_seen_from
from sync_protocol.wire import ResolveRequest

PAGE_SIZE = 50
CT = table_of(Conflict)


def _iso(value: dt.datetime | None) -> str | None:
    return jsonable(value) if value is not None else None


def conflict_to_wire(row: Any, viewer: Principal, names: dict[Any, str] | None = None,
                     townships: dict[str, str] | None = None) -> dict[str, Any]:
    """A conflict row (mapping or ``Conflict``) in the ``ConflictRecord`` shape of the protocol,
    as ``viewer`` may see it: a household of a duplicate that lies outside their scope is shown
    only as existing elsewhere, with masked identifiers (``household_seen_from``)."""
    if isinstance(row, Conflict):
        row = row.model_dump()
    get = row.__getitem__
    names = names or {}
    townships = townships or {}
    values = {"server": get("server_value"), "client": get("client_value")}
    other_record_id = jsonable(get("other_record_id"))
    resolved = get("resolved_value")
    if get("kind") == "duplicate_record":
        for prefix, value in values.items():
            values[prefix] = household_seen_from(value, viewer.scopes,
                                                 townships.get(township_of(value)))
        if isinstance(values["server"], dict) and values["server"].get("elsewhere"):
            other_record_id = None
            if isinstance(resolved, dict):  # a merge names both households
                resolved = {k: (None if v == jsonable(get("other_record_id")) else v)
                            for k, v in resolved.items()}

    def side(prefix: str) -> dict[str, Any]:
        user_id = get(f"{prefix}_user_id")
        return {"value": values[prefix], "user_id": jsonable(user_id),
                "user_name": names.get(user_id), "device_id": get(f"{prefix}_device_id"),
                "hlc": get(f"{prefix}_hlc"),
                "version": get("server_version") if prefix == "server" else None}

    return {
        "id": str(get("id")), "kind": get("kind"), "entity": get("entity"),
        "record_id": str(get("record_id")), "other_record_id": other_record_id,
        "household_id": jsonable(get("household_id")), "village_code": get("village_code"),
        "field": get("field"), "base_version": get("base_version"),
        "base_value": get("base_value"), "server": side("server"), "client": side("client"),
        "status": get("status"), "resolution": get("resolution"),
        "resolved_value": resolved, "resolved_by": jsonable(get("resolved_by")),
        "resolved_at": _iso(get("resolved_at")), "note": get("note"),
        "detected_at": _iso(get("detected_at")),
    }


def township_of(side: Any) -> str:
    """The 12-digit region code of the township of a duplicate's household (``""`` if unknown)."""
    village = side.get("village_code") if isinstance(side, dict) else None
    return village[:9] + "000" if isinstance(village, str) and len(village) == 12 else ""


def township_names(conn: Any, codes: set[str]) -> dict[str, str]:
    """Region names of township codes (one query; none for no codes)."""
    codes = codes - {""}
    if not codes:
        return {}
    rt = table_of(Region)
    return dict(conn.execute(sa.select(rt.c.code, rt.c.name).where(rt.c.code.in_(codes))).all())


def _hidden_townships(viewer: Principal, rows: list[Any]) -> set[str]:
    """Townships of duplicates' households outside ``viewer``'s scope."""
    return {township_of(value) for r in rows if r["kind"] == "duplicate_record"
            for value in (r["server_value"], r["client_value"])
            if not (isinstance(value, dict) and viewer.covers(value.get("village_code")))}


def conflict_rows_to_wire(conn: Any, viewer: Principal, rows: list[Any]) -> list[dict[str, Any]]:
    names = user_names(conn, (r[k] for r in rows for k in ("server_user_id", "client_user_id")))
    townships = township_names(conn, _hidden_townships(viewer, rows))
    return [conflict_to_wire(r, viewer, names, townships) for r in rows]


def _not_found() -> RuhuError:
    return RuhuError(ErrorCode.conflict_not_found, status_code=404)


def list_conflicts(session: Session, principal: Principal, *, status: str | None = "open",
                   village: str | None = None, kind: str | None = None,
                   entity: str | None = None, page: int = 1) -> dict[str, Any]:
    where = [principal.scope_clause(CT.c.village_code)]
    if status:
        where.append(CT.c.status == status)
    if village:
        where.append(CT.c.village_code.startswith(village, autoescape=True))
    if kind:
        where.append(CT.c.kind == kind)
    if entity:
        where.append(CT.c.entity == entity)
    page = max(1, page)
    total = session.execute(sa.select(sa.func.count()).select_from(CT).where(*where)).scalar_one()
    rows = session.execute(
        sa.select(CT).where(*where).order_by(CT.c.detected_at.desc(), CT.c.id)
        .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    ).mappings().all()
    return {"items": conflict_rows_to_wire(session, principal, list(rows)), "page": page,
            "page_size": PAGE_SIZE, "total": total}


def get_conflict(session: Session, principal: Principal, conflict_id: uuid.UUID) -> dict[str, Any]:
    row = session.execute(sa.select(CT).where(CT.c.id == conflict_id)).mappings().first()
    if row is None or not principal.covers(row["village_code"]):
        raise _not_found()
    return conflict_rows_to_wire(session, principal, [row])[0]


def _invalid(message: str = "") -> RuhuError:
    return RuhuError(ErrorCode.conflict_resolution_invalid, message=message, status_code=422)


def _write(session: Session, principal: Principal, changes: list[ServerChange],
           touch: Sequence[tuple[str, uuid.UUID]] = ()) -> None:
    """The resolution's writes, one server-side operation (``operations.apply``); a refused
    change refuses the resolution (422, nothing written)."""
    for r in apply(session, principal, changes, Origin.RESOLUTION, touch=touch):
        if r.error is not None:
            raise RuhuError(ErrorCode(r.error.code), message=r.error.message, status_code=422,
                            extra={"field": r.error.field})


def resolve_conflict(session: Session, principal: Principal, conflict_id: uuid.UUID,
                     req: ResolveRequest) -> dict[str, Any]:
    """Resolve a conflict; the outcome is a server-side operation (``operations``, origin
    ``resolution``) written by the push's own steps: audited, version +1 (also when no value
    changes), pulled by every device. Raises 404 / 409 ``conflict.already_resolved`` / 422."""
    row = session.execute(
        sa.select(CT).where(CT.c.id == conflict_id).with_for_update()
    ).mappings().first()
    if row is None or not principal.covers(row["village_code"]):
        raise _not_found()
    if row["status"] != "open":
        raise RuhuError(ErrorCode.conflict_already_resolved, status_code=409)
    entity, record_id, kind = row["entity"], row["record_id"], row["kind"]
    resolved_value: Any = None
    if kind == "field":
        if req.resolution == "keep_server":
            resolved_value = row["server_value"]
        elif req.resolution == "take_client":
            resolved_value = row["client_value"]
        elif req.resolution == "custom":
            resolved_value = req.value
        else:
            raise _invalid()
        _write(session, principal,
               [ServerChange(entity, record_id, {row["field"]: resolved_value})],
               touch=[(entity, record_id)])
    elif kind == "delete_edit":
        client_deleted = row["client_value"] == {"deleted": True}
        if req.resolution not in ("keep_server", "take_client"):
            raise _invalid()
        delete = client_deleted == (req.resolution == "take_client")
        resolved_value = {"deleted": delete}
        if delete:
            _write(session, principal, [ServerChange(entity, record_id, op="delete")])
        else:
            _write(session, principal, [], touch=[(entity, record_id)])
    else:  # duplicate_record
        if req.resolution == "distinct":
            resolved_value = {"distinct": True}
        elif req.resolution == "merge":
            pair = {record_id, row["other_record_id"]}
            if req.survivor_id not in pair:
                raise _invalid("请选择保留的农户")
            loser = (pair - {req.survivor_id}).pop()
            ht = TABLES["household"]
            # households before children, by id: the lock order of a push (no deadlock)
            villages = dict(session.execute(
                sa.select(ht.c.id, ht.c.village_code).where(ht.c.id.in_(pair))
                .order_by(ht.c.id).with_for_update()).all())
            village = villages.get(req.survivor_id)
            if village is None or req.survivor_id is None or loser not in villages:
                raise _not_found()
            if not (principal.covers(village) and principal.covers(villages[loser])):
                # a household the resolver cannot see is never merged (nor named: 403)
                raise RuhuError(ErrorCode.conflict_merge_out_of_scope, status_code=403)
            move_children(session, principal, loser, req.survivor_id, villages.get(loser),
                          village)
            _write(session, principal, [ServerChange("household", loser, op="delete")])
            resolved_value = {"survivor_id": str(req.survivor_id), "merged_id": str(loser)}
        else:
            raise _invalid()
    updated = session.execute(
        sa.update(CT).where(CT.c.id == conflict_id)
        .values(status="resolved", resolution=req.resolution, resolved_value=resolved_value,
                resolved_by=principal.user_id, resolved_at=dt.datetime.now(dt.UTC),
                note=req.note, txid=TXID_NOW)
        .returning(*CT.c)
    ).mappings().first()
    return conflict_rows_to_wire(session, principal, [updated])[0]
