"""Conflicts for township clerks and county admins (village roles see theirs through pull)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from server.api.deps import SessionDep, require_roles
from server.queries import conflicts as reads
from server.scope import Principal
from server.sync.conflicts import resolve_conflict
from sync_protocol.enums import Role
from sync_protocol.wire import ResolveRequest

router = APIRouter(prefix="/api/v1/conflicts", tags=["conflicts"])
Clerk = Annotated[Principal, Depends(require_roles(Role.township_clerk, Role.county_admin))]


@router.get("")
def list_conflicts(
    session: SessionDep, user: Clerk,
    status: Annotated[str | None, Query(pattern="^(open|resolved|all)$")] = "open",
    village: Annotated[str | None, Query(pattern=r"^\d{1,12}$")] = None,
    kind: Annotated[str | None, Query(max_length=30)] = None,
    entity: Annotated[str | None, Query(max_length=30)] = None,
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
) -> dict[str, Any]:
    return reads.list_conflicts(session, user, status=None if status == "all" else status,
                                village=village, kind=kind, entity=entity, page=page)


@router.get("/{conflict_id}")
def get_conflict(session: SessionDep, user: Clerk, conflict_id: uuid.UUID) -> dict[str, Any]:
    return reads.get_conflict(session, user, conflict_id)


@router.post("/{conflict_id}/resolve")
def resolve(session: SessionDep, user: Clerk, conflict_id: uuid.UUID,
            req: ResolveRequest) -> dict[str, Any]:
    return resolve_conflict(session, user, conflict_id, req)
