"""County admin: upload a tablet's outbox export (written when a cadre logged out with changes
that could not be uploaded). Applied through the push path as the original user and device
(``server.sync.outbox_import``); the result of every change is shown."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from server.api.deps import SessionDep, SettingsDep
from server.console.web import AdminDep, ConsoleRoute, CsrfChecked, render
from server.sync.outbox_import import import_outbox
from sync_protocol.errors import RuhuError

router = APIRouter(route_class=ConsoleRoute)
MAX_BYTES = 200 * 1024 * 1024  # photos travel inside the file (base64)
STATUS_WORDS = {"applied": "已写入", "merged": "已合并", "conflict": "冲突（待乡镇审核）",
                "rejected": "被退回", "duplicate": "重复（此前已上传）"}


def _page(request: Request, status: int = 200, **context: object) -> Response:
    return render(request, "import_outbox.html", status, active="imports",
                  words=STATUS_WORDS, **context)


@router.get("/imports/outbox")
def outbox_page(request: Request, user: AdminDep) -> Response:
    return _page(request, report=None)


@router.post("/imports/outbox", dependencies=[CsrfChecked])
async def outbox_upload(request: Request, session: SessionDep, settings: SettingsDep,
                        user: AdminDep) -> Response:
    form = await request.form()
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        return _page(request, 400, report=None, error="请选择平板导出的文件。")
    data = await upload.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        return _page(request, 413, report=None, error="文件过大（不能超过 200 MB）。")
    try:
        with session.begin_nested():
            report = import_outbox(session, user, data,
                                   attachment_limit=settings.attachment_max_bytes, via="console")
    except RuhuError as exc:
        return _page(request, exc.status_code, report=None, error=exc.message)
    return _page(request, report=report, filename=upload.filename or "")
