"""Sync endpoints: ``POST /api/v1/sync/push`` and ``GET /api/v1/sync/pull`` (docs/protocol.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from server.api.deps import CurrentUser, ProtocolChecked, SessionDep
from server.sync import pull as pull_mod
from server.sync import push as push_mod
from server.sync.sql import dumps

router = APIRouter(prefix="/api/v1/sync", tags=["sync"], dependencies=[ProtocolChecked])


def _json(payload: dict[str, Any]) -> Response:
    """Serialise with orjson: FastAPI's generic encoder is slow for thousands of records."""
    return Response(dumps(payload), media_type="application/json")


@router.post("/push")
def push(session: SessionDep, user: CurrentUser,
         body: Annotated[bytes, push_mod.BodyDep]) -> Response:
    return _json(push_mod.push(session, user, body))


@router.get("/pull")
def pull(request: Request, user: CurrentUser,
         cursor: Annotated[str | None, Query(max_length=2000)] = None,
         limit: Annotated[int | None, Query()] = None) -> Response:
    return Response(pull_mod.pull_json(request.app.state.engine, user, cursor, limit),
                    media_type="application/json")
