"""Request bodies over their route's limit are refused (413 with a code) before anything parses
or authenticates them, by ``Content-Length`` and while streaming, plain and gzip alike.

The app is driven as ASGI with a ``receive`` that pulls chunks from a generator and counts them,
so the tests measure what the server actually read; one more test does the same through a real
socket to uvicorn.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import select
import socket
import time
import zlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import pytest

from server.limits import IMPORT_BODY_BYTES, SMALL_BODY_BYTES
from sync_protocol.wire import MAX_ATTACHMENT_BYTES, MAX_PUSH_BYTES
from tests.conftest import SYNC_HEADERS, VILLAGE_A1
from tests.live import serve

CHUNK = 64 * 1024
UVICORN_PIECE = 512 * 1024
MiB = 1024 * 1024


def _chunks(total: int, size: int = CHUNK, data: bytes | None = None) -> Iterator[bytes]:
    if data is not None:
        for i in range(0, len(data), size):
            yield data[i:i + size]
        return
    block = b"x" * size
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        yield block[:n]
        sent += n


def call(app: Any, method: str, path: str, body: Iterator[bytes],
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes, int]:
    """One request straight into the ASGI app: (status, headers, body, bytes the app read)."""
    consumed = 0
    pending = iter(body)
    nxt: bytes | None = next(pending, None)
    out: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal consumed, nxt
        if nxt is None:
            await asyncio.sleep(3600)  # the client has nothing more; the server must answer
        chunk, nxt = nxt, next(pending, None)
        consumed += len(chunk or b"")
        return {"type": "http.request", "body": chunk, "more_body": nxt is not None}

    async def send(message: dict[str, Any]) -> None:
        out.append(message)

    hdrs = [(k.lower().encode(), v.encode()) for k, v in {**SYNC_HEADERS, **(headers or {})}
            .items()]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "headers": hdrs,
             "client": ("127.0.0.1", 5000), "server": ("testserver", 80)}

    async def run() -> None:
        await asyncio.wait_for(app(scope, receive, send), timeout=60)

    asyncio.run(run())
    start = next(m for m in out if m["type"] == "http.response.start")
    body_bytes = b"".join(m.get("body", b"") for m in out if m["type"] == "http.response.body")
    resp_headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], resp_headers, body_bytes, consumed


def _code(body: bytes) -> str:
    import json

    return str(json.loads(body)["error"]["code"])


# --- by Content-Length: refused without reading a byte -----------------------------------


@pytest.mark.parametrize(("method", "path", "size", "code"), [
    ("POST", "/api/v1/sync/push", 200 * MiB, "request.too_large"),
    ("POST", "/api/v1/sync/push", MAX_PUSH_BYTES + 1, "request.too_large"),
    ("PUT", "/api/v1/attachments/" + "0" * 64, MAX_ATTACHMENT_BYTES + 1, "attachment.too_large"),
    ("POST", "/api/v1/auth/token", SMALL_BODY_BYTES + 1, "request.body_too_large"),
    ("POST", "/api/v1/conflicts/" + "0" * 8 + "-0000-0000-0000-" + "0" * 12 + "/resolve",
     MiB, "request.body_too_large"),
])
def test_declared_length_over_limit_is_refused_unread(app, method, path, size, code):
    status, _, body, consumed = call(app, method, path, _chunks(size),
                                     {"content-length": str(size)})
    assert status == 413 and _code(body) == code
    assert consumed == 0  # not authenticated, not parsed, not even read


def test_console_pages_get_a_chinese_page(app):
    status, headers, body, consumed = call(app, "POST", "/console/login", _chunks(MiB),
                                           {"content-length": str(MiB)})
    assert status == 413 and consumed == 0
    assert headers["content-type"].startswith("text/html")
    assert "提交的内容过大" in body.decode() and "request.body_too_large" in body.decode()


def test_bad_content_length_is_400(app):
    status, _, body, consumed = call(app, "POST", "/api/v1/sync/push", _chunks(10),
                                     {"content-length": "12abc"})
    assert status == 400 and _code(body) == "request.malformed" and consumed == 0


# --- streamed without a length (chunked): cut off at the limit --------------------------


FORM = {"content-type": "application/x-www-form-urlencoded"}
JSON = {"content-type": "application/json"}
BOUNDARY = "ruhuBoundary"
MULTIPART = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
STREAMED = [  # (method, path, limit, code, content type)
    ("POST", "/api/v1/sync/push", MAX_PUSH_BYTES, "request.too_large", JSON),
    ("PUT", "/api/v1/attachments/" + "0" * 64, MAX_ATTACHMENT_BYTES, "attachment.too_large",
     {"content-type": "image/jpeg"}),
    ("POST", "/api/v1/auth/token", SMALL_BODY_BYTES, "request.body_too_large", FORM),
    ("POST", "/console/users", SMALL_BODY_BYTES, "request.body_too_large", FORM),
    ("POST", "/console/imports", IMPORT_BODY_BYTES, "request.body_too_large", MULTIPART),
]


def _body(ctype: dict[str, str], total: int) -> Iterator[bytes]:
    """``total`` bytes shaped like the content type (a multipart upload of one big file)."""
    if ctype is MULTIPART:
        yield (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
               f"filename=\"big.xlsx\"\r\nContent-Type: application/octet-stream\r\n\r\n"
               ).encode()
    yield from _chunks(total)


@pytest.fixture
def cadre_headers(make_user, login) -> dict[str, str]:
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    return {k.lower(): v for k, v in login("cadre").items()}


@pytest.mark.parametrize(("method", "path", "limit", "code", "ctype"), STREAMED)
def test_streamed_body_is_cut_at_the_limit(app, cadre_headers, method, path, limit, code,
                                           ctype):
    status, _, body, consumed = call(app, method, path, _body(ctype, 200 * MiB),
                                     {**cadre_headers, **ctype})
    assert status == 413
    if path.startswith("/console"):
        assert code in body.decode()
    else:
        assert _code(body) == code
    assert limit < consumed <= limit + CHUNK  # the server stopped reading right there


@pytest.mark.parametrize(("method", "path", "limit", "code", "ctype"), STREAMED)
def test_unauthenticated_streams_read_at_most_the_limit(app, method, path, limit, code, ctype):
    """Without a login a route either refuses before reading (401), or reads, because it parses
    forms before anything else (a login form must be read to log in), and stops at the limit."""
    for kind in (ctype, FORM):
        status, _, _, consumed = call(app, method, path, _body(kind, 200 * MiB), kind)
        assert status in (400, 401, 413), status
        assert consumed <= limit + CHUNK, consumed
        if kind is FORM and status != 401:
            assert consumed <= SMALL_BODY_BYTES + CHUNK or status == 400


# --- gzip: the compressed bytes and the inflated bytes are both capped ------------------


def test_gzip_bomb_is_refused_before_auth(app):
    bomb = gzip.compress(b"0" * (64 * MiB), 9)  # about 64 KiB on the wire
    status, _, body, consumed = call(app, "POST", "/api/v1/sync/push", _chunks(0, data=bomb),
                                     {"content-encoding": "gzip"})
    assert status == 413 and _code(body) == "request.too_large"
    assert consumed <= len(bomb)
    # for a small route the inflation cap is small too
    small = gzip.compress(b"a=" + b"1" * MiB)
    status, _, body, _ = call(app, "POST", "/api/v1/auth/token", _chunks(0, data=small),
                              {"content-encoding": "gzip"})
    assert status == 413 and _code(body) == "request.body_too_large"


def test_streamed_gzip_of_incompressible_data_is_cut_on_the_wire(app):
    def incompressible() -> Iterator[bytes]:
        deflate = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        while True:
            yield deflate.compress(os.urandom(CHUNK)) or b""

    status, _, body, consumed = call(app, "POST", "/api/v1/sync/push", incompressible(),
                                     {"content-encoding": "gzip"})
    assert status == 413 and _code(body) == "request.too_large"
    assert consumed <= MAX_PUSH_BYTES * 1.02 + 2 * CHUNK


# --- what is within the limits still works ----------------------------------------------


def test_a_push_near_the_limit_is_accepted(client, make_user, login):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    h = login("cadre")
    envelope = b'{"protocol": 1, "device_id": "tab-test", "changes": []}'
    body = envelope[:-1] + b" " * (MAX_PUSH_BYTES - len(envelope) - 10) + b"}"
    resp = client.post("/api/v1/sync/push", content=body,
                       headers={**h, "Content-Type": "application/json"})
    assert resp.status_code == 200, resp.text
    resp = client.post("/api/v1/sync/push", content=gzip.compress(body),
                       headers={**h, "Content-Type": "application/json",
                                "Content-Encoding": "gzip"})
    assert resp.status_code == 200, resp.text
    over = body[:-1] + b" " * 20 + b"}"
    resp = client.post("/api/v1/sync/push", content=gzip.compress(over),
                       headers={**h, "Content-Type": "application/json",
                                "Content-Encoding": "gzip"})
    assert resp.status_code == 413 and resp.json()["error"]["code"] == "request.too_large"


# --- a real socket to a real uvicorn --------------------------------------------------


class Counting:
    """Outermost ASGI wrapper: counts the body bytes the server took off the connection."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.read = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        async def counted() -> dict[str, Any]:
            msg: dict[str, Any] = await receive()
            self.read += len(msg.get("body", b""))
            return msg

        await self.app(scope, counted, send)


def _raw_post(base: str, path: str, headers: dict[str, str], body: Iterator[bytes],
              budget: int) -> tuple[bytes, int]:
    """Send a request through a socket until the server answers (or ``budget`` bytes are sent,
    or it hangs up); returns (what came back, bytes sent)."""
    url = urlparse(base)
    sock = socket.create_connection((url.hostname, url.port), timeout=30)
    head = f"POST {path} HTTP/1.1\r\nHost: {url.netloc}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    sock.sendall(head.encode())
    sent = 0
    try:
        for chunk in body:
            if select.select([sock], [], [], 0)[0] or sent >= budget:
                break
            frame = (b"%x\r\n" % len(chunk) + chunk + b"\r\n"
                     if headers.get("Transfer-Encoding") == "chunked" else chunk)
            sock.sendall(frame)
            sent += len(chunk)
    except OSError:
        pass  # the server hung up: fine, it answered first
    answer = b""
    deadline = time.monotonic() + 20
    try:
        while b"\r\n\r\n" not in answer and time.monotonic() < deadline:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    except OSError:
        pass
    sock.close()
    return answer, sent


def test_live_server_reads_no_more_than_the_limit(app, cadre_headers):
    counting = Counting(app)
    auth = {k: v for k, v in cadre_headers.items()}
    with serve(counting) as base:
        # chunked, 200 MiB offered
        answer, sent = _raw_post(base, "/api/v1/sync/push",
                                 {**auth, "Transfer-Encoding": "chunked",
                                  "Content-Type": "application/json"},
                                 _chunks(200 * MiB), budget=200 * MiB)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        # uvicorn hands the body over in pieces of what has arrived (up to its buffer, 64 KiB
        # high-water mark plus one socket read), so one piece may pass the limit a little
        assert counting.read <= MAX_PUSH_BYTES + UVICORN_PIECE, counting.read
        assert sent < 64 * MiB  # the client was stopped early, not after 200 MiB
        # unauthenticated, chunked, a form route (read before any login check)
        counting.read = 0
        answer, sent = _raw_post(base, "/console/login",
                                 {"Transfer-Encoding": "chunked", **{"Content-Type": FORM[
                                     "content-type"]}}, _chunks(200 * MiB), budget=200 * MiB)
        assert answer.startswith((b"HTTP/1.1 413", b"HTTP/1.1 400")), answer[:200]
        assert counting.read <= SMALL_BODY_BYTES + UVICORN_PIECE, counting.read
        # declared: answered before a byte of the body is sent
        counting.read = 0
        answer, sent = _raw_post(base, "/api/v1/sync/push",
                                 {"Content-Length": str(200 * MiB)}, _chunks(200 * MiB),
                                 budget=0)
        assert answer.startswith(b"HTTP/1.1 413") and b"request.too_large" in answer
        assert counting.read == 0 and sent == 0
