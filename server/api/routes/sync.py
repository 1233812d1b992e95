"""Sync endpoints: ``POST /api/v1/sync/push`` and ``GET /api/v1/sync/pull`` (docs/protocol.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from server.api.deps import CurrentUser, ProtocolChecked, SessionDep
from server.sync import pull as pull_mod
from server.sync import push as push_mod
from server.sync.gzip import accepts_gzip, gzip_body
from server.sync.sql import dumps

router = APIRouter(prefix="/api/v1/sync", tags=["sync"], dependencies=[ProtocolChecked])


# Push results are mostly UUIDs, which do not compress: the fastest level is within 8 % of the
# default's size at half its CPU. Pull pages compress well and are large: the default level.
PUSH_GZIP_LEVEL = 1
PULL_GZIP_LEVEL = 6


def _json(request: Request, body: str | bytes, level: int) -> Response:
    """A JSON response, gzipped here when the client accepts it (the middleware leaves a
    response that already has a Content-Encoding alone)."""
    data = body.encode() if isinstance(body, str) else body
    headers = {"Vary": "Accept-Encoding"}
    if len(data) >= 1024 and accepts_gzip(request.headers.get("accept-encoding", "")):
        data = gzip_body(data, level)
        headers["Content-Encoding"] = "gzip"
    return Response(data, media_type="application/json", headers=headers)


@router.post("/push")
def push(request: Request, session: SessionDep, user: CurrentUser,
         body: Annotated[bytes, push_mod.BodyDep]) -> Response:
    # orjson: FastAPI's generic encoder is slow for hundreds of results
    return _json(request, dumps(push_mod.push(session, user, body)), PUSH_GZIP_LEVEL)


@router.get("/pull")
def pull(request: Request, user: CurrentUser,
         cursor: Annotated[str | None, Query(max_length=2000)] = None,
         limit: Annotated[int | None, Query()] = None) -> Response:
    return _json(request, pull_mod.pull_json(request.app.state.engine, user, cursor, limit),
                 PULL_GZIP_LEVEL)
