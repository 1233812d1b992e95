"""The clerk console: server-rendered pages under ``/console`` (docs/console.md)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from server.console import (
    checklist_templates,
    conflicts,
    dashboard,
    exports,
    households,
    imports,
    login,
    outbox_imports,
    procedures,
    reconcile,
    reports,
    users,
)
from server.console.web import HERE

router = APIRouter(prefix="/console", include_in_schema=False)
for module in (login, conflicts, households, dashboard, exports, outbox_imports, imports,
               users, procedures, reports, reconcile, checklist_templates):
    router.include_router(module.router)

_STATIC = HERE / "static"
_STATIC_FILES = {p.name: p for p in _STATIC.iterdir() if p.is_file()}


@router.get("/static/{name}")
def static(name: str) -> FileResponse:
    """The console's own CSS, JS and fonts — no CDN, the office network may have no internet."""
    path = _STATIC_FILES.get(name)
    if path is None:
        raise HTTPException(404)
    return FileResponse(path, headers={"Cache-Control": "public, max-age=3600"})
