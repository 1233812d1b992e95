"""Control characters and unpaired surrogates: refused per change by the shared field types
(server and tablet alike), so the rest of a push batch applies; refused in parameters and JSON
bodies everywhere with ``validation.control_char``, never a 500."""

from __future__ import annotations

import json
import typing
import uuid

import pytest
import sqlalchemy as sa

from kivy_client.store import Store, StoreValidationError
from sync_protocol.entities import ENTITIES, validate_fields
from sync_protocol.input_rules import has_control_chars, strip_control_chars
from tests.conftest import VILLAGE_A1
from tests.console.conftest import console_login
from tests.sync.syncutil import change, new_household, push

CONTROL = [chr(c) for c in range(0x20) if chr(c) not in "\t\n\r"] + ["\x7f", "\ud800", "\udfff"]
MULTI_LINE_OK = ["\t", "\n", "\r"]


def _text_fields() -> list[tuple[str, str]]:
    """(entity, field) for every free-text field of every entity."""
    out = []
    for name, spec in ENTITIES.items():
        for field, info in spec.model.model_fields.items():
            args = typing.get_args(info.annotation)
            inner = args[0] if args else info.annotation
            if typing.get_origin(inner) is typing.Annotated:
                inner = typing.get_args(inner)[0]
            if inner is str:
                out.append((name, field))
    return out


TEXT_FIELDS = _text_fields()
# the free-text notes (``entities.Text``): a visit's notes, a 五清 note, and a monitoring
# procedure's review note, objection and its settlement, return reason and decision note, a 五清
# item's rectification note, a visit's finding note
MULTI_LINE_FIELDS = frozenset({"notes", "note", "review_note", "objection", "objection_resolution",
                               "return_reason", "decision_note", "rectify_note", "finding_note"})


def test_every_text_field_is_covered():
    names = set(TEXT_FIELDS)
    assert ("household", "address") in names and ("member", "name") in names
    assert ("visit", "notes") in names and ("household", "village_code") in names
    assert len(names) >= 25


@pytest.mark.parametrize(("entity", "field"), TEXT_FIELDS)
def test_each_text_field_refuses_control_chars(entity, field):
    for ch in CONTROL:
        result = validate_fields(entity, {field: f"甲{ch}乙"}, creating=False)
        assert [e.code for e in result.errors] == ["validation.control_char"], (field, ch)
        assert result.errors[0].field == field and "控制字符" in result.errors[0].message
    notes = field in MULTI_LINE_FIELDS
    for ch in MULTI_LINE_OK:
        result = validate_fields(entity, {field: f"甲{ch}乙"}, creating=False)
        refused = [e.code for e in result.errors] == ["validation.control_char"]
        assert refused is not notes, (field, repr(ch))  # only notes are multi-line


def test_list_items_are_checked_too():
    bad = validate_fields("visit", {"attachment_ids": ["a" * 64 + "\n"]}, creating=False)
    assert bad.errors[0].code == "validation.control_char"


def test_rule_and_strip_agree():
    assert has_control_chars("a\x00") and not has_control_chars("a\nb", multiline=True)
    assert strip_control_chars("赵\x00\x01大\ud800山\t\n") == "赵大山\t\n"


def test_push_batch_applies_all_but_the_nul_change(client, make_user, login, db):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    h = login("cadre")
    rid1, good1 = new_household(address="东组1号")
    rid2, bad = new_household(head_name="张\x00三")
    rid3, good2 = new_household(address="西组2号")
    note = change("visit", uuid.uuid4(), {"household_id": rid1, "visited_at":
                                           "2026-05-01T08:00:00Z", "notes": "一\n二\x07"})
    ok_note = change("visit", uuid.uuid4(), {"household_id": rid1, "visited_at":
                                              "2026-05-01T08:00:00Z", "notes": "一\r\n二\t三四"})
    results = push(client, h, [good1, bad, good2, note, ok_note])
    assert [r["status"] for r in results] == ["applied", "rejected", "applied", "rejected",
                                              "applied"]
    assert results[1]["error"]["code"] == "validation.control_char"
    assert results[1]["error"]["field"] == "head_name"
    assert results[3]["error"] == {"code": "validation.control_char", "field": "notes",
                                   "message": results[3]["error"]["message"]}
    with db.connect() as conn:
        ids = {str(r) for r in conn.execute(sa.text("SELECT id FROM household")).scalars()}
        assert ids == {rid1, rid3}
        assert conn.execute(sa.text("SELECT notes FROM visit")).scalar() == "一\r\n二\t三四"
        # the rejection is logged for the quality page, its text cleaned
        logged = conn.execute(sa.text("SELECT code, field FROM sync_rejection")).all()
        assert ("validation.control_char", "head_name") in logged
    assert rid2 not in ids


def test_push_with_control_chars_in_envelope_and_shape_fields(client, make_user, login, db):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    h = login("cadre")
    rid, good = new_household()
    weird = [
        {**good, "change_id": "\x00" + str(uuid.uuid4())},
        {**change("household", uuid.uuid4(), {"head_name": "甲"}), "entity": "house\x00hold"},
        {**change("household", uuid.uuid4(), {"head_name": "甲"}), "hlc": "1\x00"},
        {**change("household", uuid.uuid4(), {"head_name": "甲"}), "op": "up\x00sert"},
        change("household", uuid.uuid4(), {"head_na\x00me": "甲"}),
    ]
    results = push(client, h, [*weird, good])
    assert [r["status"] for r in results] == ["rejected"] * 5 + ["applied"]
    # a device id with a NUL is not this device's id: the whole push is refused, cleanly
    resp = client.post("/api/v1/sync/push", headers=h, json={
        "protocol": 1, "device_id": "tab-test\x00", "changes": [good]})
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "sync.device_mismatch"


def test_unpaired_surrogate_in_push_is_a_clean_400(client, make_user, login, db):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    h = login("cadre")
    _, good = new_household(head_name="PLACEHOLDER")
    body = json.dumps({"protocol": 1, "device_id": "tab-test", "changes": [good]})
    body = body.replace("PLACEHOLDER", "\\ud800")  # a JSON escape no UTF-8 text can hold
    resp = client.post("/api/v1/sync/push", headers={**h, "Content-Type": "application/json"},
                       content=body.encode())
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "request.malformed"
    with db.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM household")).scalar() == 0


def test_surrogate_and_nul_in_json_bodies_of_other_routes(client, world):
    console_login(client, "clerk_a")
    cid = world["conflict_a1"].id
    for note in ("\\ud800", "\\u0000", "a\\u0007b"):
        body = '{"resolution": "keep_server", "note": "' + note + '"}'
        resp = client.post(f"/api/v1/conflicts/{cid}/resolve", content=body.encode(),
                           headers={"Content-Type": "application/json"})
        assert resp.status_code == 422, resp.text
        assert resp.json()["error"]["details"][0]["code"] == "validation.control_char"
    # a custom value goes through the entity's field type
    body = '{"resolution": "custom", "value": "139\\u00000000000"}'
    resp = client.post(f"/api/v1/conflicts/{cid}/resolve", content=body.encode(),
                       headers={"Content-Type": "application/json"})
    assert 400 <= resp.status_code < 500, resp.text
    # a multi-line note is fine
    resp = client.post(f"/api/v1/conflicts/{cid}/resolve",
                       json={"resolution": "keep_server", "note": "核实\n无误"})
    assert resp.status_code == 200, resp.text


def test_a_line_feed_in_a_login_form_is_just_a_wrong_name(client, world):
    # form values may be multi-line (a note), so LF passes the app-wide check: still a clean 4xx
    resp = client.post("/api/v1/auth/token", data={"username": "ad\nmin", "password": "x",
                                                    "device_id": "tab-1"})
    assert resp.status_code == 401


@pytest.mark.parametrize("bad", ["adm\x00in", "admin\x01", "ad\x1bmin"])
def test_login_with_control_chars_is_a_4xx(client, world, bad):
    resp = client.post("/api/v1/auth/token", data={"username": bad, "password": "x",
                                                    "device_id": "tab-1"})
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "validation.control_char"
    assert resp.json()["error"]["field"] == "username"
    resp = client.post("/api/v1/auth/token", data={"username": "admin", "password": "x\x00",
                                                    "device_id": "tab\x00"})
    assert resp.status_code == 422
    page = client.get("/console/login")
    assert page.status_code == 200
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    resp = client.post("/console/login", data={"username": bad, "password": "x",
                                               "csrf_token": token, "next": ""})
    assert resp.status_code == 422 and "validation.control_char" in resp.text
    assert "text/html" in resp.headers["content-type"]


def test_console_form_fields_with_nul(client, world):
    csrf = console_login(client, "admin")
    resp = client.post("/console/users", data={"csrf_token": csrf, "username": "u\x00",
                                               "name": "张三", "role": "village_cadre",
                                               "scopes": VILLAGE_A1, "password": "x" * 12})
    assert resp.status_code == 422 and "validation.control_char" in resp.text
    cid = world["conflict_a1"].id
    resp = client.post(f"/console/conflicts/{cid}/resolve", data={
        "csrf_token": csrf, "resolution": "keep_server", "note": "备注\x00"})
    assert resp.status_code == 422 and "validation.control_char" in resp.text
    resp = client.post(f"/console/conflicts/{cid}/resolve", data={
        "csrf_token": csrf, "resolution": "custom", "value": "1390000\x000000"})
    assert resp.status_code == 422


# --- the tablet validates with the same rule before anything is saved or queued ----------


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "tablet.db", device_id="tab-unit")
    s.set_current_user(str(uuid.uuid4()), "王村干", [VILLAGE_A1])
    yield s
    s.close()


def test_tablet_store_refuses_control_chars(store):
    with pytest.raises(StoreValidationError) as err:
        store.create_household({"village_code": VILLAGE_A1, "head_name": "张\x00三"})
    assert err.value.code == "validation.control_char" and "户主姓名" in err.value.message
    hid = store.create_household({"village_code": VILLAGE_A1, "head_name": "张三"})
    with pytest.raises(StoreValidationError) as err:
        store.update("household", hid, {"address": "东组\x1b[31m"})
    assert err.value.code == "validation.control_char"
    with pytest.raises(StoreValidationError):
        store.add_member(hid, {"name": "李\ud800四"})
    assert len(store.outbox()) == 1  # only the good create was queued
    checked = store.check("status_event", {"note": "第一行\n第二行"}, creating=False)
    assert checked.ok
