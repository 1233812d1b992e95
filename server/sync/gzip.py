"""Accept ``Content-Encoding: gzip`` request bodies (pure ASGI, bounded inflation).

The body is inflated with a cap (2 MiB for push, the attachment limit elsewhere), so a small
"zip bomb" can never make the server allocate more than the cap plus one byte.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from sync_protocol.errors import ErrorCode, message
from sync_protocol.wire import MAX_ATTACHMENT_BYTES, MAX_PUSH_BYTES

PUSH_PATH = "/api/v1/sync/push"


class GzipRequestMiddleware:
    def __init__(self, app: Any, push_limit: int = MAX_PUSH_BYTES,
                 other_limit: int = MAX_ATTACHMENT_BYTES) -> None:
        self.app = app
        self.push_limit = push_limit
        self.other_limit = other_limit

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope.get("headers", [])
        encoding = next((v.decode("latin-1").strip().lower() for k, v in headers
                         if k == b"content-encoding"), "")
        if encoding != "gzip":
            await self.app(scope, receive, send)
            return
        limit = self.push_limit if scope.get("path") == PUSH_PATH else self.other_limit
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out = bytearray()
        error: tuple[ErrorCode, int] | None = None
        more = True
        seen = False
        while more:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            more = msg.get("more_body", False)
            chunk = msg.get("body", b"")
            if error or not chunk:
                continue
            seen = True
            try:
                out += inflater.decompress(chunk, limit + 1 - len(out))
            except zlib.error:
                error = (ErrorCode.request_gzip_invalid, 400)
                continue
            if len(out) > limit or inflater.unconsumed_tail:
                error = (ErrorCode.request_too_large, 413)
        if error is None and seen and not inflater.eof:  # an empty body is just empty
            error = (ErrorCode.request_gzip_invalid, 400)
        if error is not None:
            await _send_error(send, *error)
            return
        body = bytes(out)
        scope = dict(scope)
        scope["headers"] = [(k, v) for k, v in headers
                            if k not in (b"content-encoding", b"content-length")]
        scope["headers"].append((b"content-length", str(len(body)).encode()))
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def _send_error(send: Any, code: ErrorCode, status: int) -> None:
    payload = json.dumps({"error": {"code": str(code), "message": message(code)}},
                         ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an ``Accept-Encoding`` header allows gzip (``gzip;q=0`` refuses it)."""
    for part in accept_encoding.lower().split(","):
        name, _, params = part.strip().partition(";")
        if name.strip() in ("gzip", "*"):
            q = params.strip().removeprefix("q=")
            return not (params and q.replace(".", "", 1).isdigit() and float(q) == 0)
    return False


def gzip_body(body: bytes, level: int) -> bytes:
    """One gzip member in one call (the middleware streams it in pieces, which costs more)."""
    deflate = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return deflate.compress(body) + deflate.flush()
