"""Bounds: the pull cursor accepts only its own shape, page numbers cannot overflow the
database, dates lie in a sane range and a birth date is not in the future (China time)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid

import pytest

from server.sync.cursor import Cursor, decode
from sync_protocol.entities import validate_fields
from sync_protocol.errors import RuhuError
from sync_protocol.policy import china_today
from tests.conftest import VILLAGE_A1
from tests.console.conftest import console_login
from tests.sync.syncutil import change, new_household, push


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


GOOD = {"v": 1, "u": str(uuid.uuid4()), "sv": 1, "lo": 5, "hi": 9,
        "p": [7, 1, str(uuid.uuid4())]}
BAD_CURSORS = [
    _b64(b"[" * 1400 + b"]" * 1400),  # deeply nested: was a RecursionError (500)
    _b64(b'{"a":' * 300 + b"1" + b"}" * 300),
    _b64(json.dumps([GOOD]).encode()),
    _b64(json.dumps({**GOOD, "x": 1}).encode()),  # unknown key
    _b64(json.dumps({k: v for k, v in GOOD.items() if k != "hi"}).encode()),
    _b64(json.dumps({**GOOD, "sv": "1"}).encode()),
    _b64(json.dumps({**GOOD, "sv": True}).encode()),
    _b64(json.dumps({**GOOD, "lo": 1.5}).encode()),
    _b64(json.dumps({**GOOD, "lo": -1}).encode()),
    _b64(json.dumps({**GOOD, "hi": 2**64}).encode()),
    _b64(json.dumps({**GOOD, "hi": 1}).encode()),  # hi < lo
    _b64(json.dumps({**GOOD, "u": ["x"]}).encode()),
    _b64(json.dumps({**GOOD, "u": "not-a-uuid"}).encode()),
    _b64(json.dumps({**GOOD, "p": [1, 2]}).encode()),
    _b64(json.dumps({**GOOD, "p": {"a": 1}}).encode()),
    _b64(json.dumps({**GOOD, "p": [1, 2, 3]}).encode()),
    _b64(json.dumps({**GOOD, "v": 3}).encode()),
    _b64(json.dumps({**GOOD, "v": 2, "lo": 5, "p": [1, 0, "abc"]}).encode()),
    _b64(json.dumps({**GOOD, "v": 2, "lo": 5, "p": [1, 3, str(uuid.uuid4())]}).encode()),
    _b64(json.dumps({**GOOD, "v": 2, "lo": 0, "p": [1, 0, "12"]}).encode()),
    _b64(b"\xff\xfe"), "张三", "!!!!", "", "A" * 513, _b64(b"1e999999"), _b64(b"null"),
]


@pytest.mark.parametrize("text", [t for t in BAD_CURSORS if t])  # empty: "from the start"
def test_decoder_refuses_anything_but_its_own_shape(text):
    with pytest.raises(RuhuError) as err:
        decode(text)
    assert err.value.code == "request.cursor_invalid" and err.value.status_code == 400


def test_decoder_round_trips_its_own_cursor():
    c = Cursor(str(uuid.uuid4()), 3, lo=10, hi=20, pos=(15, 2, str(uuid.uuid4())))
    assert decode(c.encode()) == c
    c = Cursor(str(uuid.uuid4()), 3, lo=10, hi=20, pos=(15, 0, "123456"))
    assert decode(c.encode()) == c
    c = Cursor(str(uuid.uuid4()), 3, lo=0, hi=20, pos=(410102001001, 3, str(uuid.uuid4())))
    assert decode(c.encode()) == c
    c = Cursor(str(uuid.uuid4()), 1)
    assert decode(c.encode()) == c


def test_pull_with_bad_cursors_is_400(client, make_user, login):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    h = login("cadre")
    for text in BAD_CURSORS:
        if not text:
            continue
        resp = client.get("/api/v1/sync/pull", headers=h, params={"cursor": text})
        assert resp.status_code in (400, 422), (text[:40], resp.text)
        if resp.status_code == 400:
            assert resp.json()["error"]["code"] == "request.cursor_invalid"
    for limit in ("99999999999999999999999", "-5", "0", "1e9"):
        resp = client.get("/api/v1/sync/pull", headers=h, params={"limit": limit})
        assert resp.status_code in (200, 422), (limit, resp.text)


def test_huge_page_numbers(client, world):
    console_login(client, "admin")
    for page in ("100000000000000000000", str(2**63), "-3", "0"):
        resp = client.get("/console/households", params={"page": page})
        assert resp.status_code == 200, resp.text[:300]  # clamped to the last (first) page
        assert "赵大山" in resp.text
    resp = client.get("/console/households", params={"page": "abc"})
    assert resp.status_code == 422 and "request.malformed" in resp.text
    assert "text/html" in resp.headers["content-type"]
    for url in ("/api/v1/households", "/api/v1/conflicts"):
        resp = client.get(url, params={"page": "100000000000000000000"})
        assert resp.status_code == 422 and resp.json()["error"]["code"] == "request.malformed"


# --- dates -------------------------------------------------------------------------------


def test_birth_date_bounds_in_china_time():
    today = china_today()
    for bad in ("2999-01-01", (today + dt.timedelta(days=1)).isoformat(), "1889-12-31"):
        errors = validate_fields("member", {"birth_date": bad}, creating=False).errors
        assert [e.code for e in errors] == ["validation.birth_date_invalid"], bad
        assert "出生日期" in errors[0].message
    for good in (today.isoformat(), "1890-01-01", "1985-06-30"):
        assert validate_fields("member", {"birth_date": good}, creating=False).ok, good


@pytest.mark.parametrize(("entity", "field", "value"), [
    ("visit", "visited_at", "2999-01-01T00:00:00Z"),
    ("visit", "visited_at", "1800-01-01T00:00:00Z"),
    ("measure", "start_date", "2999-12-31"),
    ("helper_assignment", "end_date", "0001-01-01"),
    ("status_event", "date", "2101-01-01"),
    ("checklist_item", "checked_at", "9999-12-31T23:59:59Z"),
])
def test_every_date_is_bounded(entity, field, value):
    errors = validate_fields(entity, {field: value}, creating=False).errors
    assert [e.code for e in errors] == ["validation.date_out_of_range"], errors


def test_push_2999_birth_date_is_rejected_and_the_rest_applies(client, make_user, login, db):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    h = login("cadre")
    rid, hh = new_household()
    bad = change("member", uuid.uuid4(), {"household_id": rid, "name": "李四",
                                          "birth_date": "2999-01-01"})
    good = change("member", uuid.uuid4(), {"household_id": rid, "name": "王五",
                                           "birth_date": "1990-01-01"})
    results = push(client, h, [hh, bad, good])
    assert [r["status"] for r in results] == ["applied", "rejected", "applied"]
    assert results[1]["error"]["code"] == "validation.birth_date_invalid"
    assert results[1]["error"]["field"] == "birth_date"
