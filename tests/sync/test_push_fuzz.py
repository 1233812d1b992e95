"""Hostile pushes (hypothesis, real Postgres, the real ASGI app), as a logged-in village cadre.

Schemathesis (tests/test_schemathesis.py) cannot fuzz the push body: the route reads raw bytes,
so the OpenAPI schema has no body to generate from. Here envelopes and changes are built from a
valid push and then broken: wrong types, huge numbers, deep nesting, control characters, unknown
entities and fields, null everywhere, duplicate change ids in one batch, unknown envelope keys,
and gzip bodies that lie (plain bytes said to be gzip, truncated, trailing garbage, a bomb,
gzip twice). For every request:

* never a 5xx (a 5xx makes the tablet retry for ever; a crash is where a partial write hides);
* a refusal is the documented error shape ``{"error": {"code", "message"}}`` with a code from
  ``sync_protocol.errors`` and a Chinese message; a 200 answers each change once, in order, with
  a known status, each rejection in that same shape (plus ``field``);
* no partial write: a refused request leaves every synced table as it was; in an answered one,
  only the changes answered applied / merged / conflict wrote change-log rows and receipts, and
  a rejected change wrote nothing.

``RUHU_FUZZ_EXAMPLES=2000`` for a longer hunt (the default keeps the ordinary run short).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import uuid
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from sync_protocol.entities import ENTITIES
from sync_protocol.errors import ErrorCode
from tests.conftest import VILLAGE_A1, VILLAGE_B1
from tests.sync.syncutil import change, id_number, new_household

MAX_EXAMPLES = int(os.environ.get("RUHU_FUZZ_EXAMPLES", "150"))
DEVICE = "tab-fuzz"
CODES = {str(c) for c in ErrorCode}
CHINESE = re.compile(r"[\u4e00-\u9fff]")
STATUSES = {"applied", "merged", "conflict", "duplicate", "rejected"}
WRITING = {"applied", "merged", "conflict"}
# every synced table a push writes; a refused request must leave each as it was
TABLES = ("household", "member", "income_item", "measure", "helper_assignment", "visit",
          "checklist_item", "status_event", "procedure", "change_log", "sync_receipt",
          "conflict", "scope_exit", "sync_rejection", "attachment_holder")
DEEP = "__deep__"  # a placeholder the body writer turns into nesting deeper than any parser's limit

# --- values --------------------------------------------------------------------------------------

NUMBERS = st.one_of(
    st.sampled_from([0, -1, 1, 2**31, 2**31 - 1, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -2**63 - 1,
                     10**30, -10**30, 1e308, -1e308, 5e-324, 0.1, 1.5, -0.0]),
    st.integers(min_value=-2**80, max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False))
TEXTS = st.one_of(
    st.sampled_from(["", " ", "\x00", "a\x00b", "\u0007\u001b[31m", "\ufeff", "\u202e", "\n\r\t",
                     "null", "true", "1e999", "NaN", "0000000000000-0000-x", "'; DROP TABLE x;--",
                     "2026-02-30", "2026-13-01", "9999-12-31T23:59:59Z", "-0001-01-01",
                     "411702105201", "99999999999999999999", "x" * 5000, "张" * 3000,
                     "\U0001f600" * 50, "../../etc/passwd", str(uuid.uuid4()),
                     str(uuid.uuid4()).upper(), "{" + str(uuid.uuid4()) + "}"]),
    st.text(max_size=40),
    st.text(alphabet=st.characters(max_codepoint=0x1f), max_size=10))
PLAIN = st.one_of(st.none(), st.booleans(), NUMBERS, TEXTS)
SCALARS = st.integers(0, 40).flatmap(lambda n: st.just(DEEP) if n == 0 else PLAIN)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)
CHANGE_KEYS = ["change_id", "seq", "entity", "record_id", "op", "base_version", "fields", "hlc"]
ENTITY_NAMES = sorted(ENTITIES)


def _field_names(entity: Any) -> list[str]:
    spec = ENTITIES.get(entity) if isinstance(entity, str) else None
    return sorted(spec.model.model_fields) if spec is not None else ["x"]


# --- changes and envelopes -----------------------------------------------------------------------


@st.composite
def base_change(draw: Any, household: str) -> dict[str, Any]:
    """A valid change to start from: a new household, an edit of the fixture's household, a
    new child of it, a delete."""
    kind = draw(st.sampled_from(["new_household", "edit", "member", "visit", "checklist",
                                 "income", "delete", "other_village"]))
    if kind == "new_household":
        return new_household(head_id_number=id_number())[1]
    if kind == "other_village":  # out of the cadre's scope
        return new_household(VILLAGE_B1)[1]
    if kind == "edit":
        return change("household", household, {"phone": "13800001111"}, base=1)
    if kind == "member":
        return change("member", uuid.uuid4(), {"household_id": household, "name": "李四",
                                                "relation": "son", "id_number": id_number()})
    if kind == "visit":
        return change("visit", uuid.uuid4(), {"household_id": household, "purpose": "日常走访",
                                               "visited_at": "2026-11-01T09:00:00+08:00"})
    if kind == "checklist":
        return change("checklist_item", uuid.uuid4(), {
            "household_id": household, "template_code": "wuqing.v1",
            "item_code": draw(st.sampled_from(["base_file", "secretary_knows"])),
            "verdict": "clear"})
    if kind == "income":
        return change("income_item", uuid.uuid4(), {"household_id": household, "year": 2025,
                                                     "category": "wage", "amount": 1000})
    return change("visit", uuid.uuid4(), op="delete", base=1)


@st.composite
def hostile_change(draw: Any, household: str) -> Any:
    if draw(st.integers(0, 19)) == 0:
        return draw(VALUES)  # not even an object
    c = draw(base_change(household))
    for _ in range(draw(st.integers(0, 3))):
        what = draw(st.sampled_from(["key", "drop", "field", "unknown_field", "null_fields",
                                     "entity", "fields_value", "extra_key"]))
        if what == "key":
            c[draw(st.sampled_from(CHANGE_KEYS))] = draw(VALUES)
        elif what == "drop":
            c.pop(draw(st.sampled_from(CHANGE_KEYS)), None)
        elif what == "field" and isinstance(c.get("fields"), dict):
            c["fields"][draw(st.sampled_from(_field_names(c.get("entity"))))] = draw(VALUES)
        elif what == "unknown_field" and isinstance(c.get("fields"), dict):
            c["fields"][draw(st.text(max_size=12))] = draw(VALUES)
        elif what == "null_fields":
            c["fields"] = {name: None for name in _field_names(c.get("entity"))}
            c.update({k: None for k in draw(st.lists(st.sampled_from(CHANGE_KEYS), max_size=3))})
        elif what == "entity":
            c["entity"] = draw(st.one_of(st.sampled_from(ENTITY_NAMES), TEXTS))
        elif what == "fields_value":
            c["fields"] = draw(VALUES)
        elif what == "extra_key":
            c[draw(st.text(max_size=10))] = draw(VALUES)
    return c


@st.composite
def hostile_push(draw: Any, household: str) -> dict[str, Any]:
    """``{"envelope", "changes" (as sent, when a list), "encoding"}``."""
    changes: Any = draw(st.lists(hostile_change(household), min_size=0, max_size=6))
    if changes and draw(st.booleans()):  # duplicate change ids in one batch
        for _ in range(draw(st.integers(1, 3))):
            a, b = draw(st.integers(0, len(changes) - 1)), draw(st.integers(0, len(changes) - 1))
            if isinstance(changes[a], dict) and isinstance(changes[b], dict):
                changes[b]["change_id"] = changes[a].get("change_id")
    envelope: Any = {"protocol": 1, "device_id": DEVICE, "changes": changes}
    for _ in range(draw(st.integers(0, 2)) if draw(st.integers(0, 3)) == 0 else 0):
        key = draw(st.sampled_from(["protocol", "device_id", "changes", "extra", "drop"]))
        if key == "drop":
            envelope.pop(draw(st.sampled_from(["protocol", "device_id", "changes"])), None)
        else:
            envelope[key] = draw(VALUES)
    if draw(st.integers(0, 29)) == 0:
        envelope = draw(VALUES)
    encoding = draw(st.sampled_from(["plain"] * 6 + ["gzip", "gzip", "lie_plain", "truncated",
                                                      "trailing", "bomb", "twice", "empty_gzip",
                                                      "deflate"]))
    return {"envelope": envelope, "encoding": encoding,
            "deep": draw(st.integers(100, 5000)), "ascii": draw(st.booleans())}


def _body(case: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """The bytes on the wire and the headers that go with them."""
    raw = json.dumps(case["envelope"], ensure_ascii=case["ascii"])
    raw = raw.replace(json.dumps(DEEP), "[" * case["deep"] + "]" * case["deep"])
    body = raw.encode("utf-8")
    headers = {"Content-Type": "application/json"}
    kind = case["encoding"]
    if kind == "plain":
        return body, headers
    headers["Content-Encoding"] = "gzip"
    if kind == "gzip":
        return gzip.compress(body), headers
    if kind == "lie_plain":
        return body, headers
    if kind == "truncated":
        packed = gzip.compress(body)
        return packed[:max(1, len(packed) // 2)], headers
    if kind == "trailing":
        return gzip.compress(body) + b"\x00garbage", headers
    if kind == "bomb":  # inflates past the push limit
        return gzip.compress(b"[" + b" " * (3 * 1024 * 1024) + b"]"), headers
    if kind == "twice":
        return gzip.compress(gzip.compress(body)), headers
    if kind == "empty_gzip":
        return gzip.compress(b""), headers
    headers["Content-Encoding"] = "deflate"  # not a coding the server takes
    return body, headers


# --- the checks ----------------------------------------------------------------------------------


def _snapshot(db: Any) -> dict[str, int]:
    with db.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}


def _written(db: Any, before_log: int) -> tuple[list[str], list[str]]:
    """Change ids in the change log after id ``before_log``, and in receipts (all)."""
    with db.connect() as conn:
        logged = [str(r[0]) for r in conn.execute(text(
            "SELECT change_id FROM change_log WHERE id > :i AND change_id IS NOT NULL"),
            {"i": before_log})]
        receipts = [str(r[0]) for r in conn.execute(text("SELECT change_id FROM sync_receipt"))]
    return logged, receipts


def _max_log(db: Any) -> int:
    with db.connect() as conn:
        return int(conn.execute(text("SELECT coalesce(max(id), 0) FROM change_log")).scalar_one())


def _error_shape(body: Any, where: str) -> None:
    assert isinstance(body, dict) and set(body) == {"error"}, where
    err = body["error"]
    assert isinstance(err, dict) and err.get("code") in CODES, where
    assert isinstance(err.get("message"), str) and CHINESE.search(err["message"]), where


def _check_result(result: Any, where: str) -> None:
    assert isinstance(result, dict) and result.get("status") in STATUSES, where
    assert isinstance(result.get("change_id"), str), where
    if result["status"] == "rejected":
        err = result.get("error")
        assert isinstance(err, dict) and err.get("code") in CODES, where
        assert isinstance(err.get("message"), str) and CHINESE.search(err["message"]), where
        assert set(err) <= {"code", "message", "field"}, where
    else:
        assert "error" not in result, where


@pytest.fixture
def cadre(client: Any, make_user: Any, login: Any) -> tuple[dict[str, str], str]:
    make_user("fuzz_cadre", "village_cadre", [VILLAGE_A1])
    headers = login("fuzz_cadre", DEVICE)
    rid, created = new_household(head_id_number=id_number())
    resp = client.post("/api/v1/sync/push", headers=headers,
                       json={"protocol": 1, "device_id": DEVICE, "changes": [created]})
    assert resp.json()["results"][0]["status"] == "applied"
    return headers, rid


def test_hostile_pushes(client: Any, db: Any, cadre: tuple[dict[str, str], str]) -> None:
    headers, household = cadre
    failures: dict[str, str] = {}
    seen: Counter[str] = Counter()  # what the run reached: refusals by code, results by status

    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=hostile_push(household))
    def one(case: dict[str, Any]) -> None:
        body, extra = _body(case)
        before, before_log = _snapshot(db), _max_log(db)
        receipts_before = set(_written(db, before_log)[1])
        try:
            resp = client.post("/api/v1/sync/push", headers={**headers, **extra}, content=body)
        except Exception as exc:  # out of the app: a 500 as well
            failures.setdefault(type(exc).__name__, repr(case)[:600])
            return
        where = f"{resp.status_code} {resp.text[:300]} for {repr(case)[:600]}"
        if resp.status_code >= 500:
            failures.setdefault(f"{resp.status_code} {resp.text[:120]}", where)
            return
        try:
            payload = resp.json()
        except ValueError:
            failures.setdefault("not JSON", where)
            return
        try:
            if resp.status_code != 200:
                seen[f"{resp.status_code} {(payload.get('error') or {}).get('code')}"] += 1
                _error_shape(payload, where)
                assert _snapshot(db) == before, "a refused push wrote: " + where
                return
            assert set(payload) == {"results", "server_time"}, where
            sent = case["envelope"]["changes"]
            results = payload["results"]
            assert isinstance(results, list) and len(results) == len(sent), where
            for result in results:
                _check_result(result, where)
                seen[result["status"] if result["status"] != "rejected"
                     else f"rejected {result['error']['code']}"] += 1
            logged, receipts = _written(db, before_log)
            new_receipts = set(receipts) - receipts_before
            writing = {r["change_id"] for r in results if r["status"] in WRITING}
            rejected = {r["change_id"] for r in results if r["status"] == "rejected"}
            assert set(logged) <= writing, "a change not answered as written wrote: " + where
            assert new_receipts == writing, "receipts differ from the answers: " + where
            assert not (rejected - writing) & (set(logged) | new_receipts), where
        except AssertionError as exc:
            failures.setdefault(str(exc).split(":")[0][:80], str(exc)[:1500])

    one()
    print(sorted(seen.items()))
    assert not failures, f"{len(failures)} kind(s) of failure:\n" + "\n".join(
        f"  {kind}: {example}" for kind, example in failures.items())
    # the run reached past the envelope: changes applied and rejected, requests refused
    assert seen["applied"] and seen["200"] == 0
    assert any(k.startswith("rejected ") for k in seen) and any(k[0] == "4" for k in seen)


def test_a_lying_gzip_body_is_a_clear_400(client: Any, cadre: tuple[dict[str, str], str]) -> None:
    headers, _ = cadre
    body = json.dumps({"protocol": 1, "device_id": DEVICE, "changes": []}).encode()
    for wire in (body, gzip.compress(body)[:-5], gzip.compress(body) + b"xx"):
        resp = client.post("/api/v1/sync/push", content=wire,
                           headers={**headers, "Content-Encoding": "gzip"})
        assert resp.status_code == 400, resp.text
        assert resp.json()["error"]["code"] == "request.gzip_invalid"

