"""Sync endpoints: ``POST /api/v1/sync/push`` and ``GET /api/v1/sync/pull`` (docs/protocol.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from server.api.deps import (
    CurrentUser,
    ProtocolChecked,
    SessionDep,
    SettingsDep,
    bearer_principal,
)
from server.sync import pull as pull_mod
from server.sync import push as push_mod
from server.sync.encoding import Coding, encode
from server.sync.sql import dump_bytes
from sync_protocol.columns import FORM_COLUMNS, FORM_ROWS, PullForm
from sync_protocol.wire import MAX_REFERENCE_TAG_LENGTH, REFERENCE_TAG_PARAM

router = APIRouter(prefix="/api/v1/sync", tags=["sync"], dependencies=[ProtocolChecked])


# Levels by measurement (docs/protocol.md, Transport). Pull pages: zstd level 1 is both the
# smallest of levels 1-4 and the cheapest on these pages (hex UUIDs defeat the longer searches of
# 3-4); levels 6-9 save another 6-8 % for 5-8 times the CPU, which the 1 s server budget of an
# initial download does not have. gzip keeps what clients got before. Push results are mostly
# UUIDs, which do not compress: the fastest levels.
PUSH_LEVELS: dict[Coding, int] = {"zstd": 1, "gzip": 1}
PULL_LEVELS: dict[Coding, int] = {"zstd": 1, "gzip": 6}
# Column form, a page of 1 MB or more (a first download's pages of 20,000): a third of the rows'
# bytes and little hex, so zstd 6 costs little (a village's whole file: 0.07 s) and takes 7 % more
# off than level 1. Smaller pages (pulls of 500, in the end-of-day storm thousands of them) keep
# level 1: level 6 took 0.5-1.5 ms more a page to save 1-2 kB.
PULL_COLUMN_LEVELS: dict[Coding, int] = {"zstd": 6, "gzip": 6}
BIG_PAGE_BYTES = 1 << 20


def _json(request: Request, body: str | bytes, levels: dict[Coding, int]) -> Response:
    """A JSON response, compressed here in the coding the client accepts (the middleware leaves
    a response that already has a Content-Encoding alone)."""
    data = body.encode() if isinstance(body, str) else body
    headers = {"Vary": "Accept-Encoding"}
    data, coding = encode(data, request.headers.get("accept-encoding", ""), levels)
    if coding is not None:
        headers["Content-Encoding"] = coding
    return Response(data, media_type="application/json", headers=headers)


@router.post("/push")
def push(request: Request, session: SessionDep, user: CurrentUser,
         body: Annotated[bytes, push_mod.BodyDep]) -> Response:
    # orjson: FastAPI's generic encoder is slow for hundreds of results
    return _json(request, dump_bytes(push_mod.push(session, user, body)), PUSH_LEVELS)


@router.get("/pull")
def pull(request: Request, settings: SettingsDep,
         cursor: Annotated[str | None, Query(max_length=2000)] = None,
         limit: Annotated[int | None, Query()] = None,
         form: Annotated[PullForm, Query()] = FORM_ROWS,
         reference_tag: Annotated[str | None, Query(alias=REFERENCE_TAG_PARAM,
                                                    max_length=MAX_REFERENCE_TAG_LENGTH)] = None,
         ) -> Response:
    # no SessionDep / CurrentUser: the user is looked up on the page's own connection, as its
    # snapshot's first statement, so a pull holds one connection (docs/protocol.md, Pull)
    who = bearer_principal(request, settings)
    body = pull_mod.pull_json(request.app.state.engine, who, cursor, limit, form, reference_tag)
    big = form == FORM_COLUMNS and len(body) >= BIG_PAGE_BYTES
    return _json(request, body, PULL_COLUMN_LEVELS if big else PULL_LEVELS)
