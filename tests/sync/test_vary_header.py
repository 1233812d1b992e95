"""Exactly one ``Vary: Accept-Encoding`` on every response (``server.sync.gzip.OneVaryMiddleware``):
a sync route sets its own and Starlette's gzip middleware used to add a second to an uncompressed
page of 1 KiB or more. Small and large pulls, a push, with and without ``Accept-Encoding`` (and
with codings refused by ``q=0``), plus refusals from the outer layers and a console page."""

from __future__ import annotations

import gzip
import json
from typing import Any

import httpx
import pytest
import zstandard

from server.sync.gzip import one_vary
from tests.conftest import VILLAGE_A1, VILLAGE_B1
from tests.sync.syncutil import new_household

# None: no Accept-Encoding header at all
ACCEPTS = [None, "identity", "gzip", "gzip, deflate, br, zstd", "zstd", "gzip;q=0", "br",
           "zstd;q=0, gzip;q=0"]


def _send(client: Any, method: str, url: str, headers: dict[str, str], accept: str | None,
          **kw: Any) -> tuple[httpx.Response, bytes]:
    """The response and the bytes on the wire; ``accept`` None sends no Accept-Encoding (httpx
    adds one by default)."""
    request = client.build_request(method, url, headers=headers, **kw)
    del request.headers["accept-encoding"]
    if accept is not None:
        request.headers["accept-encoding"] = accept
    resp = client.send(request, stream=True)
    try:
        raw = b"".join(resp.iter_raw())
    finally:
        resp.close()
    return resp, raw


def _decoded(resp: httpx.Response, raw: bytes) -> Any:
    coding = resp.headers.get("content-encoding")
    if coding == "gzip":
        raw = gzip.decompress(raw)
    elif coding == "zstd":
        raw = zstandard.ZstdDecompressor().decompress(raw)
    else:
        assert coding is None, coding
    return json.loads(raw)


def _one_vary(resp: httpx.Response) -> None:
    assert resp.headers.get_list("vary") == ["Accept-Encoding"], resp.headers.raw


def _allowed(accept: str | None, coding: str | None) -> bool:
    """The coding the response came in is one the client allowed (or none)."""
    if coding is None:
        return True
    return accept is not None and coding in accept and f"{coding};q=0" not in accept


@pytest.fixture
def cadre(client, make_user, login):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    return login("cadre")


@pytest.mark.parametrize("accept", ACCEPTS)
def test_small_and_large_pull(client, cadre, make_user, login, accept):
    # small: a village with nothing in it, after its first page (which carries the reference
    # data): a page well under 1 KiB
    make_user("empty", "village_cadre", [VILLAGE_B1])
    empty = login("empty", "tab-empty")
    first = client.get("/api/v1/sync/pull", headers=empty).json()
    resp, raw = _send(client, "GET", "/api/v1/sync/pull", empty, accept,
                      params={"cursor": first["next_cursor"]})
    assert resp.status_code == 200 and len(raw) < 1024, len(raw)
    _one_vary(resp)
    assert "content-encoding" not in resp.headers
    assert _decoded(resp, raw)["changes"] == []
    # large: 20 households (a page of several KiB)
    changes = [new_household(address="河南省驻马店市驿城区古城乡张庄村" * 3)[1] for _ in range(20)]
    pushed = client.post("/api/v1/sync/push", headers=cadre,
                         json={"protocol": 1, "device_id": "tab-test", "changes": changes})
    assert pushed.status_code == 200
    resp, raw = _send(client, "GET", "/api/v1/sync/pull", cadre, accept)
    assert resp.status_code == 200
    _one_vary(resp)
    coding = resp.headers.get("content-encoding")
    assert _allowed(accept, coding), (accept, coding)
    if accept in (None, "identity", "br", "gzip;q=0", "zstd;q=0, gzip;q=0"):
        assert coding is None and len(raw) > 1024  # the case that had two Vary headers
    assert len(_decoded(resp, raw)["changes"]) == 20


@pytest.mark.parametrize("accept", ACCEPTS)
def test_push_small_and_large(client, cadre, accept):
    for count in (1, 30):  # 1: results under 1 KiB; 30: several KiB
        changes = [new_household()[1] for _ in range(count)]
        resp, raw = _send(client, "POST", "/api/v1/sync/push", cadre, accept,
                          json={"protocol": 1, "device_id": "tab-test", "changes": changes})
        assert resp.status_code == 200
        _one_vary(resp)
        assert _allowed(accept, resp.headers.get("content-encoding"))
        assert [r["status"] for r in _decoded(resp, raw)["results"]] == ["applied"] * count


@pytest.mark.parametrize("accept", [None, "gzip", "identity"])
def test_refusals_and_other_routes(client, cadre, accept):
    # 401 / 426 from the route, 413 from the body limit (outside the gzip layer), a bad body
    anonymous = {k: v for k, v in cadre.items() if k != "Authorization"}
    resp, _ = _send(client, "GET", "/api/v1/sync/pull", anonymous, accept)
    assert resp.status_code == 401
    _one_vary(resp)
    resp, _ = _send(client, "GET", "/api/v1/sync/pull", {}, accept)
    assert resp.status_code == 426
    _one_vary(resp)
    resp, _ = _send(client, "POST", "/api/v1/sync/push", cadre, accept,
                    content=b"x" * (3 * 1024 * 1024))
    assert resp.status_code == 413
    _one_vary(resp)
    resp, raw = _send(client, "POST", "/api/v1/sync/push", cadre, accept, content=b"{nope")
    assert 400 <= resp.status_code < 500
    _one_vary(resp)
    assert "error" in _decoded(resp, raw)
    # a page the gzip middleware compresses (console login page, HTML)
    resp, raw = _send(client, "GET", "/console/login", {}, accept)
    assert resp.status_code == 200
    _one_vary(resp)
    assert resp.headers.get("content-encoding") == ("gzip" if accept == "gzip" else None)


def test_one_vary_merges_and_keeps_other_names():
    assert one_vary([(b"vary", b"Accept-Encoding"), (b"vary", b"accept-encoding, Cookie")]) == [
        (b"vary", b"Accept-Encoding, Cookie")]
    assert one_vary([(b"content-type", b"text/html"), (b"vary", b"Cookie")]) == [
        (b"content-type", b"text/html"), (b"vary", b"Cookie, Accept-Encoding")]
    assert one_vary([]) == [(b"vary", b"Accept-Encoding")]
    assert one_vary([(b"vary", b"*"), (b"vary", b"Accept-Encoding")]) == [(b"vary", b"*")]
