"""Accept ``Content-Encoding: gzip`` request bodies (pure ASGI, bounded inflation).

(Response bodies: ``server.sync.encoding``.)

The body is inflated with a cap, the route's body limit from ``server.limits`` (2 MiB for push,
the attachment limit for an attachment, 64 KiB for small forms ...), so a small "zip bomb" can
never make the server allocate more than the cap plus one byte. The compressed bytes themselves
are capped by ``BodyLimitMiddleware``, which runs before this one.
"""

from __future__ import annotations

import zlib
from typing import Any

from server.limits import BodyMiddleware, gzipped, send_error
from sync_protocol.errors import ErrorCode


class GzipRequestMiddleware(BodyMiddleware):
    """Inflate a gzip request body (bounded by the route's limit) for the app behind."""

    async def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if not gzipped(scope):
            await self.app(scope, receive, send)
            return
        limit = self.limits.for_scope(scope)
        cap = limit.max_bytes
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out = bytearray()
        error: tuple[ErrorCode, int] | None = None
        more = True
        seen = False
        while more and error is None:  # on an error, stop reading: answer at once
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            more = msg.get("more_body", False)
            chunk = msg.get("body", b"")
            if not chunk:
                continue
            seen = True
            try:
                out += inflater.decompress(chunk, cap + 1 - len(out))
            except zlib.error:
                error = (ErrorCode.request_gzip_invalid, 400)
                continue
            if len(out) > cap or inflater.unconsumed_tail:
                error = (limit.code, 413)
        if error is None and seen and not inflater.eof:  # an empty body is just empty
            error = (ErrorCode.request_gzip_invalid, 400)
        if error is not None:
            code, status = error
            extra = {"max_bytes": cap} if status == 413 else {}
            await send_error(scope, send, code, status, **extra)
            return
        body = bytes(out)
        scope = dict(scope)
        scope["headers"] = [(k, v) for k, v in scope.get("headers", [])
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

