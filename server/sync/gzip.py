"""Accept ``Content-Encoding: gzip`` request bodies (pure ASGI, bounded inflation); gzip the
responses of routes that do not encode their own; one ``Vary: Accept-Encoding`` on every response.

(The sync routes encode their responses themselves: ``server.sync.encoding``.)

The body is inflated with a cap, the route's body limit from ``server.limits`` (2 MiB for push,
the attachment limit for an attachment, 64 KiB for small forms ...), so a small "zip bomb" can
never make the server allocate more than the cap plus one byte. The compressed bytes themselves
are capped by ``BodyLimitMiddleware``, which runs before this one.
"""

from __future__ import annotations

import zlib
from typing import Any

from starlette.datastructures import Headers
from starlette.middleware.gzip import GZipMiddleware, GZipResponder, IdentityResponder

from server.limits import BodyMiddleware, gzipped, send_error
from server.sync.encoding import accepts_gzip
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
        if error is None and seen and (not inflater.eof or inflater.unused_data):
            # an empty body is just empty; bytes after the end of the gzip stream (garbage, or a
            # second member, which this inflater would silently drop) are a lying body too
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



class GzipResponseMiddleware(GZipMiddleware):
    """Starlette's gzip of responses of at least ``minimum_size`` that carry no
    ``Content-Encoding`` yet, negotiated by ``encoding.accepts_gzip`` (Starlette's own test is
    ``"gzip" in Accept-Encoding``, which takes ``gzip;q=0``, a refusal, for a yes)."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":  # pragma: no cover - lifespan and websockets pass
            await self.app(scope, receive, send)
            return
        responder: Any
        if accepts_gzip(Headers(scope=scope).get("accept-encoding", "")):
            responder = GZipResponder(self.app, self.minimum_size,
                                      compresslevel=self.compresslevel,
                                      thread_minimum_size=self.thread_minimum_size,
                                      exclude_content_types=self.exclude_content_types)
        else:
            responder = IdentityResponder(self.app, self.minimum_size,
                                          exclude_content_types=self.exclude_content_types)
        await responder(scope, receive, send)


def one_vary(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` with every ``Vary`` merged into one that names ``Accept-Encoding`` once (each
    other name kept once, in order; ``*`` alone stays ``*``)."""
    names: list[bytes] = []
    seen: set[bytes] = set()
    out: list[tuple[bytes, bytes]] = []
    for key, value in headers:
        if key.lower() != b"vary":
            out.append((key, value))
            continue
        for name in value.split(b","):
            name = name.strip()
            if name and name.lower() not in seen:
                seen.add(name.lower())
                names.append(name)
    if b"*" in seen:
        names = [b"*"]
    elif b"accept-encoding" not in seen:
        names.append(b"Accept-Encoding")
    out.append((b"vary", b", ".join(names)))
    return out


class OneVaryMiddleware:
    """Outermost: every response says once that it varies with ``Accept-Encoding`` (any body of
    1 KiB or more may be compressed, by a sync route or by ``GzipResponseMiddleware``). The
    route's own header and Starlette's ``add_vary_header`` each add one; a cache or client that
    keeps the first of two headers must not see two."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":  # pragma: no cover - lifespan and websockets pass
            await self.app(scope, receive, send)
            return

        async def send_one_vary(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": one_vary(list(message.get("headers") or []))}
            await send(message)

        await self.app(scope, receive, send_one_vary)
