"""Request body limits per route class, enforced before routing, parsing or authentication.

``BodyLimitMiddleware`` (pure ASGI, the outermost layer) refuses a body whose ``Content-Length``
is over its route's limit without reading a byte of it, and cuts off a body sent without one
(chunked) as soon as the bytes read pass the limit: the server never reads more than the limit
plus one chunk, whoever sends it and whether or not they are logged in. ``GzipRequestMiddleware``
(``server.sync.gzip``) then caps the *inflated* size with the same limit, so plain and gzip
bodies are bounded alike.

| route class                          | limit (decompressed)       | code on 413             |
|--------------------------------------|----------------------------|-------------------------|
| ``POST /api/v1/sync/push``           | 2 MiB (protocol)           | ``request.too_large``   |
| ``PUT /api/v1/attachments/{sha256}`` | ``attachment_max_bytes``   | ``attachment.too_large``|
| ``POST /console/imports``            | 5 MiB file + 1 MiB of form | ``request.body_too_large`` |
| everything else                      | 64 KiB                     | ``request.body_too_large`` |
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from typing import Any

from sync_protocol.errors import ErrorCode, message
from sync_protocol.wire import MAX_ATTACHMENT_BYTES, MAX_PUSH_BYTES

PUSH_PATH = "/api/v1/sync/push"
ATTACHMENT_PREFIX = "/api/v1/attachments/"
IMPORT_PATH = "/console/imports"
SMALL_BODY_BYTES = 64 * 1024
IMPORT_FILE_MAX_BYTES = 5 * 1024 * 1024  # the xlsx itself (server.console.imports)
IMPORT_BODY_BYTES = IMPORT_FILE_MAX_BYTES + 1024 * 1024  # multipart framing, the form's fields


@dataclass(frozen=True)
class BodyLimit:
    max_bytes: int
    code: ErrorCode

    def wire_bytes(self, gzipped: bool) -> int:
        """The most bytes read off the wire: a gzip body of incompressible data is a little
        larger than what it inflates to (deflate's stored blocks plus the gzip frame)."""
        return self.max_bytes + self.max_bytes // 100 + 1024 if gzipped else self.max_bytes


class BodyLimits:
    """Which limit a request's body gets, by method and path."""

    def __init__(self, attachment_max_bytes: int = MAX_ATTACHMENT_BYTES) -> None:
        self.push = BodyLimit(MAX_PUSH_BYTES, ErrorCode.request_too_large)
        self.attachment = BodyLimit(attachment_max_bytes, ErrorCode.attachment_too_large)
        self.imports = BodyLimit(IMPORT_BODY_BYTES, ErrorCode.request_body_too_large)
        self.small = BodyLimit(SMALL_BODY_BYTES, ErrorCode.request_body_too_large)

    def for_scope(self, scope: dict[str, Any]) -> BodyLimit:
        method, path = scope.get("method", ""), scope.get("path", "")
        if method == "POST" and path == PUSH_PATH:
            return self.push
        if method == "PUT" and path.startswith(ATTACHMENT_PREFIX):
            return self.attachment
        if method == "POST" and path == IMPORT_PATH:
            return self.imports
        return self.small


def header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1").strip())
    return None


async def send_error(scope: dict[str, Any], send: Any, code: ErrorCode, status: int,
                     headers: list[tuple[bytes, bytes]] | None = None, /,
                     **extra: object) -> None:
    """An error answered before any route ran: JSON, or a plain Chinese page under /console.
    ``headers``: more response headers (e.g. Retry-After)."""
    if str(scope.get("path", "")).startswith("/console"):
        text = (f"<!doctype html><html lang=\"zh-CN\"><meta charset=\"utf-8\"><title>出错了</title>"
                f"<h1>无法完成操作</h1><p>{html.escape(message(code))}</p>"
                f"<p>错误代码：{code}</p><p><a href=\"javascript:history.back()\">返回上一页</a>"
                f"</p></html>")
        payload, ctype = text.encode(), b"text/html; charset=utf-8"
    else:
        body = {"error": {"code": str(code), "message": message(code), **extra}}
        payload, ctype = json.dumps(body, ensure_ascii=False).encode(), b"application/json"
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", ctype),
                            (b"content-length", str(len(payload)).encode()),
                            (b"connection", b"close"), *(headers or ())]})
    await send({"type": "http.response.body", "body": payload})


def gzipped(scope: dict[str, Any]) -> bool:
    """Whether the request says its body is gzip (``Content-Encoding``)."""
    return (header(scope, b"content-encoding") or "").lower() == "gzip"


class BodyMiddleware:
    """A pure-ASGI middleware over HTTP request bodies, bounded by ``limits``: ``handle`` gets
    every HTTP request; other scopes (lifespan, websockets) pass straight through."""

    def __init__(self, app: Any, limits: BodyLimits | None = None) -> None:
        self.app = app
        self.limits = limits or BodyLimits()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        raise NotImplementedError


class BodyLimitMiddleware(BodyMiddleware):
    """Refuse over-limit request bodies by ``Content-Length`` and while streaming (413)."""

    async def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        limit = self.limits.for_scope(scope)
        cap = limit.wire_bytes(gzipped(scope))
        declared = header(scope, b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await send_error(scope, send, ErrorCode.request_malformed, 400)
                return
            if int(declared) > cap:
                await send_error(scope, send, limit.code, 413, max_bytes=limit.max_bytes)
                return
        received = 0
        refused = False
        started = False

        async def limited_receive() -> dict[str, Any]:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            msg: dict[str, Any] = await receive()
            if msg["type"] == "http.request":
                received += len(msg.get("body", b""))
                if received > cap:
                    # stop reading here; the app sees a disconnect and its answer is dropped
                    refused = True
                    if not started:
                        await send_error(scope, send, limit.code, 413, max_bytes=limit.max_bytes)
                    return {"type": "http.disconnect"}
            return msg

        async def guarded_send(msg: dict[str, Any]) -> None:
            nonlocal started
            if refused:
                return
            started = True
            await send(msg)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not refused:
                raise  # a real error: the server's own handler reports it
