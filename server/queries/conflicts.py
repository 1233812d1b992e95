"""Conflicts as they are read: the one read layer behind the read API (``/api/v1/conflicts``),
the console's inbox and detail pages and the pull. Every listing goes through
``select_conflicts`` (one filter, ``Principal.scope_clause``) and every conflict leaves in the
``ConflictRecord`` shape of ``conflict_to_wire``, masked for the viewer, so the API and the
console list the same conflicts and show the same of them. Resolving is a write:
``server.sync.conflicts``."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from server.db.tables import Conflict, Region
from server.queries.names import user_names
from server.scope import Principal
from server.sync.values import jsonable, table_of
from sync_protocol.errors import ErrorCode, RuhuError
from sync_protocol.validation import household_seen_from

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
        "resolved_by_name": names.get(get("resolved_by")),
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
    names = user_names(conn, (r[k] for r in rows
                              for k in ("server_user_id", "client_user_id", "resolved_by")))
    townships = township_names(conn, _hidden_townships(viewer, rows))
    return [conflict_to_wire(r, viewer, names, townships) for r in rows]


def _not_found() -> RuhuError:
    return RuhuError(ErrorCode.conflict_not_found, status_code=404)


def conflict_filters(principal: Principal, *, status: str | None = "open",
                     village: str | None = None, kind: str | None = None,
                     entity: str | None = None, field: str | None = None,
                     author: str | None = None) -> list[Any]:
    """The WHERE clauses of a listing: the viewer's scope always; ``village`` is a region-code
    prefix (a village, or wider); ``author`` a user id that wrote either side (no match when it
    is not one)."""
    where = [principal.scope_clause(CT.c.village_code)]
    if status:
        where.append(CT.c.status == status)
    if village:
        where.append(CT.c.village_code.startswith(village, autoescape=True))
    if kind:
        where.append(CT.c.kind == kind)
    if entity:
        where.append(CT.c.entity == entity)
    if field:
        where.append(CT.c.field == field)
    if author:
        try:
            user_id = uuid.UUID(author)
        except ValueError:
            where.append(sa.false())
        else:
            where.append(sa.or_(CT.c.server_user_id == user_id, CT.c.client_user_id == user_id))
    return where


def count_conflicts(session: Session, principal: Principal, **filters: Any) -> int:
    return int(session.execute(sa.select(sa.func.count()).select_from(CT)
                               .where(*conflict_filters(principal, **filters))).scalar_one())


def select_conflicts(session: Session, principal: Principal, *, limit: int, offset: int = 0,
                     oldest_first: bool = False, **filters: Any) -> list[dict[str, Any]]:
    """Conflicts in ``principal``'s scope matching ``filters`` (``conflict_filters``), newest
    first (or oldest first), in the wire shape."""
    order = CT.c.detected_at.asc() if oldest_first else CT.c.detected_at.desc()
    rows = session.execute(
        sa.select(CT).where(*conflict_filters(principal, **filters)).order_by(order, CT.c.id)
        .limit(limit).offset(offset)
    ).mappings().all()
    return conflict_rows_to_wire(session, principal, list(rows))


def list_conflicts(session: Session, principal: Principal, *, status: str | None = "open",
                   village: str | None = None, kind: str | None = None,
                   entity: str | None = None, page: int = 1) -> dict[str, Any]:
    """One page of the read API's listing."""
    filters: dict[str, Any] = {"status": status, "village": village, "kind": kind,
                               "entity": entity}
    page = max(1, page)
    return {"items": select_conflicts(session, principal, limit=PAGE_SIZE,
                                      offset=(page - 1) * PAGE_SIZE, **filters),
            "page": page, "page_size": PAGE_SIZE,
            "total": count_conflicts(session, principal, **filters)}


def conflict_row(session: Session, principal: Principal, conflict_id: uuid.UUID) -> Conflict:
    """The stored conflict, if ``principal``'s scope covers it (else 404 ``conflict.not_found``:
    a conflict of another scope is not said to exist)."""
    row = session.get(Conflict, conflict_id)
    if row is None or not principal.covers(row.village_code):
        raise _not_found()
    return row


def get_conflict(session: Session, principal: Principal, conflict_id: uuid.UUID) -> dict[str, Any]:
    row = conflict_row(session, principal, conflict_id)
    return conflict_rows_to_wire(session, principal, [row.model_dump()])[0]


def similarity_key(c: dict[str, Any]) -> tuple[Any, ...]:
    """Conflicts (wire shape) a clerk may settle together: same field, same two values, same
    two authors."""
    return (c["kind"], c["entity"], c["field"], repr(c["server"]["value"]),
            repr(c["client"]["value"]), c["server"]["user_id"], c["client"]["user_id"])
