"""Resolving a conflict: a clerk's decision, written as a server-side operation (``operations``,
origin ``resolution``). Reading conflicts (listing, the wire shape, masking) is
``server.queries.conflicts``."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from server.queries.conflicts import CT, conflict_rows_to_wire
from server.scope import Principal
from server.sync.operations import Origin, ServerChange, apply, move_children
from server.sync.values import TABLES, TXID_NOW
from sync_protocol.errors import ErrorCode, RuhuError
from sync_protocol.wire import ResolveRequest


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
        raise RuhuError(ErrorCode.conflict_not_found, status_code=404)
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
                raise RuhuError(ErrorCode.conflict_not_found, status_code=404)
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
