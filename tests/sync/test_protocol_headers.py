"""Version negotiation (426), gzip request and response bodies, decompressed size limit
(response codings: tests/sync/test_response_encoding.py)."""

from __future__ import annotations

import gzip
import json

import pytest

from tests.conftest import VILLAGE_A1
from tests.sync.syncutil import new_household


@pytest.mark.parametrize("headers,code", [
    ({}, "protocol.header_missing"),
    ({"X-Ruhu-Protocol": "2", "X-Ruhu-App-Version": "0.1.0"}, "protocol.version_unsupported"),
    ({"X-Ruhu-Protocol": "1", "X-Ruhu-App-Version": "0.0.9"}, "protocol.app_too_old"),
])
def test_426_for_unsupported_clients(client, make_user, login, headers, code):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    auth = {"Authorization": login("cadre")["Authorization"], **headers}
    for resp in (client.get("/api/v1/sync/pull", headers=auth),
                 client.post("/api/v1/sync/push", headers=auth,
                             json={"protocol": 1, "device_id": "tab-test", "changes": []})):
        assert resp.status_code == 426
        body = resp.json()["error"]
        assert body["code"] == code and body["message"] and body["min_app_version"] == "0.1.0"


def test_gzip_request_and_response(client, make_user, login):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    h = login("cadre")
    changes = [new_household(address="很长的地址" * 10)[1] for _ in range(20)]
    raw = json.dumps({"protocol": 1, "device_id": "tab-test", "changes": changes}).encode()
    # no Content-Type on purpose: the push endpoint parses the body itself
    resp = client.post("/api/v1/sync/push", content=gzip.compress(raw),
                       headers={**h, "Content-Encoding": "gzip"})
    assert resp.status_code == 200, resp.text
    # httpx offers zstd when zstandard is installed (tests/sync/test_response_encoding.py)
    assert resp.headers.get("content-encoding") == "zstd"
    assert [r["status"] for r in resp.json()["results"]] == ["applied"] * 20
    pulled = client.get("/api/v1/sync/pull", headers={**h, "Accept-Encoding": "gzip"})
    assert pulled.status_code == 200
    assert pulled.headers.get("content-encoding") == "gzip"
    assert len(pulled.json()["changes"]) == 20
    plain = client.get("/api/v1/sync/pull", headers={**h, "Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.json()["changes"] == pulled.json()["changes"]


def test_bad_gzip_and_decompressed_limit(client, make_user, login):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    h = {**login("cadre"), "Content-Encoding": "gzip"}
    bad = client.post("/api/v1/sync/push", content=b"not gzip at all", headers=h)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "request.gzip_invalid"
    truncated = gzip.compress(b'{"protocol": 1}')[:-6]
    assert client.post("/api/v1/sync/push", content=truncated, headers=h).status_code == 400
    bomb = gzip.compress(b'{"changes": ["' + b"0" * (3 * 1024 * 1024) + b'"]}')
    assert len(bomb) < 20_000
    resp = client.post("/api/v1/sync/push", content=bomb, headers=h)
    assert resp.status_code == 413 and resp.json()["error"]["code"] == "request.too_large"
