"""Negotiated compression of sync responses (``server.sync.encoding``): zstd when the client
allows it, else gzip exactly as before, else identity; ``q=0`` respected; and the tablet pulling
a whole village through a live server in zstd."""

from __future__ import annotations

import gzip
import json
from typing import Any

import httpx
import pytest
import zstandard

from server.sync.encoding import accepts_gzip, negotiate
from tests.conftest import VILLAGE_A1
from tests.sync.syncutil import new_household


@pytest.mark.parametrize("header,coding", [
    ("zstd, gzip", "zstd"), ("gzip, zstd", "zstd"), ("gzip, deflate, br, zstd", "zstd"),
    ("gzip", "gzip"), ("gzip, deflate, br", "gzip"), ("deflate, gzip;q=0.5", "gzip"),
    ("GZIP", "gzip"), ("x-gzip", "gzip"), ("ZSTD", "zstd"), ("*", "zstd"),
    ("zstd;q=0, gzip", "gzip"), ("gzip, zstd; q=0", "gzip"), ("zstd;q=0.0, *", "gzip"),
    ("zstd;q=0", None), ("zstd;q=0, gzip;q=0", None), ("*;q=0", None), ("gzip;q=0, *", "zstd"),
    ("zstd;q=0.5, gzip", "gzip"), ("zstd, gzip;q=0.5", "zstd"), ("zstd;q=0.8, gzip;q=0.8", "zstd"),
    ("identity", None), ("br", None), ("", None), (" , ;q=1", None),
])
def test_negotiate(header, coding):
    assert negotiate(header) == coding


@pytest.mark.parametrize("header,ok", [
    ("gzip", True), ("gzip, deflate, br", True), ("deflate, gzip;q=0.5", True), ("*", True),
    ("GZIP", True), ("gzip;q=0", False), ("gzip; q=0.0", False), ("identity", False), ("", False),
    ("zstd", False), ("zstd, gzip;q=0", False), ("gzip;q=abc", True),
])
def test_accepts_gzip(header, ok):
    assert accepts_gzip(header) is ok


def _pull(client: Any, headers: dict[str, str], accept: str) -> tuple[httpx.Response, bytes]:
    """A pull page: the response (body decoded by httpx) and the bytes that were on the wire."""
    with client.stream("GET", "/api/v1/sync/pull", headers={**headers, "Accept-Encoding": accept}
                       ) as resp:
        raw = b"".join(resp.iter_raw())
    return resp, raw


def _same_page(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Two first pages alike apart from the cursor, ``has_more`` (every pull opens a round of its
    own) and the reference data's time stamp."""
    keys = ("changes", "conflicts", "removed", "reference", "reset")

    def strip(page: dict[str, Any]) -> list[Any]:
        ref = {k: v for k, v in (page.get("reference") or {}).items() if k != "generated_at"}
        return [page.get(k) for k in keys[:-2]] + [ref, page.get("reset")]
    return strip(a) == strip(b) and len(a["changes"]) > 0


@pytest.fixture
def cadre(client, make_user, login):
    """A cadre with 20 households in the village (pages well over 1 KiB)."""
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    h = login("cadre")
    changes = [new_household(address="河南省驻马店市驿城区古城乡张庄村" * 3)[1] for _ in range(20)]
    resp = client.post("/api/v1/sync/push", headers={**h, "Accept-Encoding": "identity"},
                       json={"protocol": 1, "device_id": "tab-test", "changes": changes})
    assert resp.status_code == 200
    assert [r["status"] for r in resp.json()["results"]] == ["applied"] * 20
    return h


def test_gzip_only_and_plain_clients_get_what_they_always_got(client, cadre):
    plain, plain_raw = _pull(client, cadre, "identity")
    assert "content-encoding" not in plain.headers and "Accept-Encoding" in plain.headers["vary"]
    page = json.loads(plain_raw)
    assert len(page["changes"]) == 20
    for accept in ("gzip", "gzip, deflate", "zstd;q=0, gzip", "gzip, zstd;q=0"):
        resp, raw = _pull(client, cadre, accept)
        assert resp.headers["content-encoding"] == "gzip", accept
        assert "Accept-Encoding" in resp.headers["vary"]
        assert raw[:2] == b"\x1f\x8b"  # one gzip member, as before
        assert _same_page(json.loads(gzip.decompress(raw)), page)
    for accept in ("zstd;q=0", "", "br"):
        resp, raw = _pull(client, cadre, accept)
        assert "content-encoding" not in resp.headers, accept
        assert _same_page(json.loads(raw), page)


def test_zstd_client_gets_zstd_that_decodes_to_the_same_json(client, cadre):
    _, plain_raw = _pull(client, cadre, "identity")
    page = json.loads(plain_raw)
    for accept in ("zstd", "zstd, gzip", "gzip, deflate, br, zstd"):
        resp, raw = _pull(client, cadre, accept)
        assert resp.headers["content-encoding"] == "zstd", accept
        assert "Accept-Encoding" in resp.headers["vary"]
        assert raw[:4] == b"\x28\xb5\x2f\xfd"  # a zstd frame (RFC 8878)
        assert len(raw) < len(plain_raw) / 3
        assert _same_page(json.loads(zstandard.ZstdDecompressor().decompress(raw)), page)
        decoded = client.get("/api/v1/sync/pull", headers={**cadre, "Accept-Encoding": accept})
        assert decoded.headers["content-encoding"] == "zstd"
        assert _same_page(decoded.json(), page)  # httpx decodes it by itself
    # push results too; small bodies (under 1 KiB) go as they are
    changes = [new_household()[1] for _ in range(30)]
    push = client.post("/api/v1/sync/push", headers={**cadre, "Accept-Encoding": "zstd, gzip"},
                       json={"protocol": 1, "device_id": "tab-test", "changes": changes})
    assert push.headers["content-encoding"] == "zstd"
    assert [r["status"] for r in push.json()["results"]] == ["applied"] * 30
    small = client.post("/api/v1/sync/push", headers={**cadre, "Accept-Encoding": "zstd"},
                        json={"protocol": 1, "device_id": "tab-test", "changes": changes[:1]})
    assert "content-encoding" not in small.headers
    assert small.json()["results"][0]["status"] == "duplicate"  # the same change again


def test_tablet_pulls_a_village_in_zstd_from_a_live_server(db, tmp_path):
    """The tablet (httpx, zstandard installed) against uvicorn: it asks for ``zstd, gzip``, gets
    every pull page and push result of 1 KiB or more in zstd, and ends with the server's data."""
    import sqlalchemy as sa

    from kivy_client.session import Session
    from kivy_client.store import Store
    from kivy_client.sync import ACCEPT_ENCODING, SyncClient
    from server.app import create_app
    from server.demo import seed_demo
    from server.reference import ensure_defaults
    from tests.conftest import PASSWORD, make_settings
    from tests.live import serve

    assert ACCEPT_ENCODING == "zstd, gzip"
    ensure_defaults(db)
    seed_demo(db, password=PASSWORD)
    seen: list[tuple[str, str | None, str | None]] = []

    def record(resp: httpx.Response) -> None:
        seen.append((resp.request.url.path, resp.request.headers.get("accept-encoding"),
                     resp.headers.get("content-encoding")))

    with serve(create_app(settings=make_settings(), engine=db)) as url, \
            httpx.Client(base_url=url, event_hooks={"response": [record]}, timeout=60) as http:
        store = Store(tmp_path / "tablet.db", device_id="tab-zstd")
        try:
            session = Session(store, client=http)
            session.login("demo_cadre", PASSWORD)
            sync = SyncClient(store, client=http, token=lambda: session.token, pull_limit=200)
            report = sync.sync()
            pulls = [s for s in seen if s[0] == "/api/v1/sync/pull"]
            assert report.pages == len(pulls) > 1 and report.pulled > 0
            assert all(accept == "zstd, gzip" for _, accept, _ in pulls)
            codings = [coding for _, _, coding in pulls]
            assert set(codings) <= {"zstd", None} and codings.count("zstd") >= len(pulls) - 1
            household = store.query("SELECT id FROM records WHERE entity = 'household' LIMIT 1")[0]
            store.update("household", household["id"], {"phone": "13800000000"})
            sync.sync()
            pushes = [s for s in seen if s[0] == "/api/v1/sync/push"]
            assert pushes and pushes[-1][1] == "zstd, gzip"
        finally:
            store.close()
    with db.connect() as conn:
        total = conn.execute(sa.text(
            "SELECT count(*) FROM household WHERE village_code = ANY(:v) AND NOT deleted"),
            {"v": ["411702105201"]}).scalar_one()
        phone = conn.execute(sa.text("SELECT phone FROM household WHERE id = :id"),
                             {"id": household["id"]}).scalar_one()
    assert store_households(tmp_path / "tablet.db") >= total > 0
    assert phone == "13800000000"


def store_households(path: Any) -> int:
    import sqlite3

    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT count(*) FROM records WHERE entity = 'household'"
                                " AND NOT deleted").fetchone()[0])


def test_documents_are_the_row_to_json_text(client, cadre, db):
    """``_documents_sql`` concatenates the envelope around ``row_to_json`` of the fields: the
    text is byte for byte what ``row_to_json`` of the whole document gives (quotes, backslashes,
    Chinese, nulls and arrays in the fields)."""
    import sqlalchemy as sa

    from server.sync.pull import _documents_sql
    from server.sync.sql import uuid_array
    from server.sync.values import FIELDS

    awkward = '村东头"老槐树"旁 \\ 3/4 号 <b>&amp;</b>'
    rid, change = new_household(address=awkward, phone=None, causes=["no_capital", "illness"])
    push = client.post("/api/v1/sync/push", headers=cadre,
                       json={"protocol": 1, "device_id": "tab-test", "changes": [change]})
    assert push.json()["results"][0]["status"] == "applied", push.json()
    fields = ", ".join(f't."{name}"' for name in FIELDS["household"])
    reference = sa.text(
        "SELECT string_agg(row_to_json(x)::text, ',') FROM ("
        "SELECT 'household' AS entity, t.id AS record_id, t.version, t.deleted, "
        f"(SELECT row_to_json(f) FROM (SELECT {fields}) f) AS fields "
        'FROM "household" t WHERE t.id = ANY(CAST(:ids AS uuid[]))) x')
    with db.connect() as conn:
        ids = {"ids": uuid_array([str(i) for i in conn.execute(sa.text(
            "SELECT id FROM household")).scalars()])}
        built = conn.execute(_documents_sql("household"), ids).scalar_one()
        expected = conn.execute(reference, ids).scalar_one()
    assert built == expected
    docs = {d["record_id"]: d for d in json.loads("[" + built + "]")}
    assert len(docs) == 21 and docs[rid]["fields"]["address"] == awkward
    assert docs[rid]["fields"]["phone"] is None and docs[rid]["deleted"] is False
    assert docs[rid]["fields"]["causes"] == ["no_capital", "illness"]


def test_without_zstandard_both_ends_fall_back_to_gzip():
    """A tablet build without ``zstandard`` asks for gzip only (httpx could not decode zstd), and
    a server without it never answers zstd."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['zstandard'] = None\n"
            "from kivy_client.sync import ACCEPT_ENCODING\n"
            "from server.sync.encoding import encode, negotiate\n"
            "body, coding = encode(b'x' * 4096, 'zstd, gzip', {'zstd': 1, 'gzip': 6})\n"
            "print(ACCEPT_ENCODING, negotiate('zstd'), negotiate('zstd, gzip'), coding)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["gzip", "None", "gzip", "gzip"]
