"""``GET /api/v1/reference``: regions in scope, 五清 templates, income lines, county policy, staff
and labels, with the data's content tag as ``ETag``: a client that names it in ``If-None-Match``
gets 304 and no body while nothing changed (docs/protocol.md, Reference data)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response

from server.api.deps import CurrentUser, SessionDep
from server.reference import reference_payload

router = APIRouter(prefix="/api/v1", tags=["reference"])


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``etag`` (a list, weak tags, ``*``)."""
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


@router.get("/reference", responses={304: {"description": "不变：与 If-None-Match 中的标签相同"}})
def get_reference(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    """Reference data for the signed-in user (any role), limited to their scopes."""
    payload = reference_payload(session, user)
    # per user and changing: never cached without asking
    headers = {"ETag": f'"{payload["tag"]}"', "Cache-Control": "private, no-cache"}
    if etag_matches(request.headers.get("if-none-match"), headers["ETag"]):
        return Response(status_code=304, headers=headers)
    return JSONResponse(jsonable_encoder(payload), headers=headers)
