"""``POST /api/v1/sync/push``: the envelope checks, then ``records.process`` for the batch."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import psycopg
from fastapi import Depends, Request
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from server.scope import Principal
from server.sync import records
from sync_protocol import PROTOCOL_VERSION
from sync_protocol.errors import ErrorCode, RuhuError
from sync_protocol.wire import MAX_CHANGES_PER_PUSH, MAX_PUSH_BYTES


async def _raw_body(request: Request) -> bytes:
    """The body as bytes whatever its Content-Type (gzip is undone by the middleware)."""
    return await request.body()


BodyDep = Depends(_raw_body)


TRANSIENT_SQLSTATES = {"40001", "40P01", "55P03"}

try:
    from orjson import loads as _loads
except ImportError:  # pragma: no cover
    _loads = json.loads  # type: ignore[assignment]


def parse_envelope(body: bytes) -> tuple[str, list[Any]]:
    """Check the envelope (size, JSON, shape). Per-change problems are left to ``records``."""
    if len(body) > MAX_PUSH_BYTES:
        raise RuhuError(ErrorCode.request_too_large, status_code=413,
                        extra={"max_bytes": MAX_PUSH_BYTES})
    try:
        data = _loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RuhuError(ErrorCode.request_malformed, status_code=400) from exc
    if not isinstance(data, dict):
        raise RuhuError(ErrorCode.request_malformed, status_code=400)
    if data.get("protocol", PROTOCOL_VERSION) != PROTOCOL_VERSION:
        raise RuhuError(ErrorCode.protocol_version_unsupported, status_code=400,
                        extra={"field": "protocol"})
    device_id = data.get("device_id")
    changes = data.get("changes")
    if not isinstance(device_id, str) or not device_id:
        raise RuhuError(ErrorCode.request_malformed, status_code=422, extra={"field": "device_id"})
    if not isinstance(changes, list):
        raise RuhuError(ErrorCode.request_malformed, status_code=422, extra={"field": "changes"})
    if len(changes) > MAX_CHANGES_PER_PUSH:
        raise RuhuError(ErrorCode.request_too_many_changes, status_code=413,
                        extra={"max_changes": MAX_CHANGES_PER_PUSH})
    return device_id, changes


def push(session: Session, principal: Principal, body: bytes, *,
         from_tablet: bool = True) -> dict[str, Any]:
    """A push; ``from_tablet=False`` for an imported outbox export (it does not move the
    device's outbox floor: the tablet may still hold those changes)."""
    device_id, changes = parse_envelope(body)
    if device_id != principal.device_id:
        raise RuhuError(ErrorCode.sync_device_mismatch, status_code=400,
                        extra={"field": "device_id"})
    try:
        results = records.process(session, principal, device_id, changes,
                                  from_tablet=from_tablet) if changes else []
    except (DBAPIError, psycopg.Error) as exc:
        # the bulk statements run on the raw psycopg cursor, so both kinds arrive here
        if _transient(getattr(exc, "orig", exc)):
            # nothing was committed, the retry is safe
            raise RuhuError(ErrorCode.server_unavailable, status_code=503,
                            extra={"retry_after": 1}) from exc
        raise
    return {"results": [r.to_wire() for r in results], "server_time": server_time()}


def _transient(error: BaseException) -> bool:
    """A deadlock or serialisation failure, or two devices pushing the same change id at once
    (the loser is answered on its retry)."""
    sqlstate = getattr(error, "sqlstate", None)
    if sqlstate in TRANSIENT_SQLSTATES:
        return True
    diag = getattr(error, "diag", None)
    return sqlstate == "23505" and getattr(diag, "constraint_name", None) == "pk_sync_receipt"


def server_time() -> str:
    now = dt.datetime.now(dt.UTC)
    return now.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
