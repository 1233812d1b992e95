"""``GET /health``: is the database reachable and at which schema revision."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from server.db.migrate import current_revision, head_revision

router = APIRouter(tags=["health"])


@router.get("/health")
def health(request: Request) -> JSONResponse:
    try:
        revision = current_revision(request.app.state.engine)
        database = "ok"
    except Exception:  # the point of a health check is to report, not raise
        revision, database = None, "unavailable"
    head = head_revision()
    ok = database == "ok" and revision == head
    body = {"status": "ok" if ok else "degraded", "database": database,
            "schema_revision": revision, "schema_head": head}
    return JSONResponse(body, 200 if ok else 503)
