"""``HEAD/PUT/GET /api/v1/attachments/{sha256}`` (photos, scanned signatures, certificates)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from server.api.deps import CurrentUser, SessionDep, SettingsDep
from server.db.engine import session_scope
from server.scope import Principal
from server.sync import attachments as svc
from sync_protocol.errors import ErrorCode, RuhuError

router = APIRouter(prefix="/api/v1/attachments", tags=["attachments"])


@router.head("/{sha256}")
def head(session: SessionDep, user: CurrentUser, sha256: str) -> Response:
    sha = svc.check_hash(sha256)
    return Response(status_code=200 if svc.exists(session, user, sha) else 404)


async def _read_limited(request: Request, limit: int) -> bytes:
    """Read the body but stop past ``limit`` bytes (413) instead of buffering anything sent."""
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            raise RuhuError(ErrorCode.attachment_too_large, status_code=413)
    return bytes(data)


@router.put("/{sha256}")
async def put(request: Request, user: CurrentUser, settings: SettingsDep,
              sha256: str) -> Response:
    sha = svc.check_hash(sha256)
    data = await _read_limited(request, settings.attachment_max_bytes)
    created = await run_in_threadpool(_store, request.app.state.engine, user, sha, data,
                                      settings.attachment_max_bytes)
    return Response(status_code=201 if created else 200)


def _store(engine: Engine, user: Principal, sha: str, data: bytes, limit: int) -> bool:
    with session_scope(engine) as session:
        return svc.store(session, user, sha, data, limit)


@router.get("/{sha256}")
def get(session: SessionDep, user: CurrentUser, sha256: str) -> Response:
    sha = svc.check_hash(sha256)
    data, mime = svc.load(session, user, sha)
    return Response(content=data, media_type=mime,
                    headers={"Cache-Control": "private, max-age=31536000, immutable",
                             "ETag": f'"{sha}"'})
