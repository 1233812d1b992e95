"""A county's own 五清 template end to end: the county admin adds a template version through the
API (validated, immutable, only for their own county; other roles 403), chooses it in the county
policy, a tablet pulls it with the reference data and judges its items, the push accepts an item
of it and refuses an unknown one, and the read API, the console household page, the quality page,
the coverage export and the 五清 report all show its items."""

from __future__ import annotations

import html
import io
import uuid

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook
from sqlmodel import Session

from kivy_client.store_types import StoreValidationError
from kivy_client.ui.presenters import Presenters
from sync_protocol.templates import WUQING_DSWZ, WUQING_V1
from tests.conftest import COUNTY, TOWNSHIP_A, VILLAGE_A1, add_village_a1_regions
from tests.console.conftest import console_login
from tests.sync.syncutil import change, push

from .util import household

OTHER_COUNTY = "411703"
CODE = f"{COUNTY}.wuqing.v2"
TEMPLATE = {
    "code": CODE,
    "name": "五清（本县家底清版）",
    "items": [
        {"code": "jiadi", "title": "家底清", "description": "家庭人口、收入、住房等底数准确完整",
         "hint": "base_file"},
        {"code": "yuanyin", "title": "致贫原因清", "description": "返贫致贫风险已查清"},
        {"code": "cuoshi", "title": "帮扶措施清", "hint": "measures"},
        {"code": "zeren", "title": "帮扶责任清", "hint": "helper_duty"},
        {"code": "shuji", "title": "村书记掌握清", "secretary_only": True},
    ],
}
ITEMS = tuple(i["code"] for i in TEMPLATE["items"])


@pytest.fixture
def world(db, make_user, login):
    make_user("admin", "county_admin", [COUNTY], name="县管理员")
    make_user("admin_b", "county_admin", [OTHER_COUNTY], name="邻县管理员")
    make_user("clerk", "township_clerk", [TOWNSHIP_A], name="赵专干")
    make_user("cadre", "village_cadre", [VILLAGE_A1], name="王村干")
    make_user("secretary", "village_secretary", [VILLAGE_A1], name="张书记")
    with Session(db) as s:
        add_village_a1_regions(s)
        s.commit()
    return {name: login(name, device_id=f"dev-{name}")
            for name in ("admin", "admin_b", "clerk", "cadre", "secretary")}


def _rows(db) -> dict[str, dict]:
    with db.connect() as conn:
        return {r.code: {"name": r.name, "items": r.items} for r in conn.execute(
            sa.text("SELECT code, name, items FROM checklist_template"))}


def _error(resp, status: int) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"} and body["error"]["message"]
    return body["error"]


def test_create_validate_immutable_and_scoped(client, world, db):
    for role in ("clerk", "cadre", "secretary"):
        err = _error(client.post("/api/v1/templates", headers=world[role], json=TEMPLATE), 403)
        assert err["code"] == "auth.forbidden"
        listed = client.get("/api/v1/templates", headers=world[role]).json()["items"]
        assert {t["code"] for t in listed} >= {"wuqing.v1", "wuqing.dswz"}  # reads, never writes
    assert CODE not in _rows(db)

    # bad values: 422 with every problem listed, nothing written
    bad = {**TEMPLATE, "name": "", "items": [{"code": "a", "title": "底数\u202e清"},
                                             {"code": "a", "title": "问题清"}]}
    err = _error(client.post("/api/v1/templates", headers=world["admin"], json=bad), 422)
    assert err["code"] == "template.name_invalid" and err["field"] == "name"
    assert [(d["code"], d["field"]) for d in err["details"]] == [
        ("template.name_invalid", "name"), ("template.text_invalid", "items[0].title"),
        ("template.item_code_duplicate", "items[1].code")]
    for body, status, code in [
        ({**TEMPLATE, "items": []}, 422, "template.items_count"),
        ({**TEMPLATE, "code": "wuqing.v1"}, 409, "template.built_in"),
        ({**TEMPLATE, "code": f"{OTHER_COUNTY}.wuqing.v1"}, 403, "template.county_mismatch"),
        ({**TEMPLATE, "code": "mine"}, 422, "template.code_invalid"),
        ("not an object", 422, "request.malformed"),
    ]:
        err = _error(client.post("/api/v1/templates", headers=world["admin"], json=body), status)
        assert err["code"] == code, err
    assert _error(client.post("/api/v1/templates", headers=world["admin"], content=b"{",
                              ), 422)["code"] == "request.malformed"
    before = _rows(db)
    assert CODE not in before and before.get("wuqing.v1") is None  # nothing stored by a refusal

    created = client.post("/api/v1/templates", headers=world["admin"], json=TEMPLATE)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["code"] == CODE and body["county_code"] == COUNTY and not body["built_in"]
    assert [i["code"] for i in body["items"]] == list(ITEMS)
    stored = _rows(db)[CODE]
    assert [i["secretary_only"] for i in stored["items"]] == [False] * 4 + [True]

    # immutable: the same code again is refused and the stored version stays as it was
    changed = {**TEMPLATE, "name": "改过的名称", "items": TEMPLATE["items"][:1]}
    err = _error(client.post("/api/v1/templates", headers=world["admin"], json=changed), 409)
    assert err["code"] == "template.exists" and "新的版本号" in err["message"]
    assert _rows(db)[CODE] == stored
    for method in ("put", "patch", "delete"):
        assert getattr(client, method)(f"/api/v1/templates/{CODE}",
                                       headers=world["admin"]).status_code in (404, 405)

    # the neighbouring county keeps its own; neither sees nor chooses the other's
    other = {**TEMPLATE, "code": f"{OTHER_COUNTY}.wuqing.v1"}
    assert client.post("/api/v1/templates", headers=world["admin_b"], json=other
                       ).status_code == 201
    mine = {t["code"] for t in client.get("/api/v1/templates",
                                          headers=world["admin"]).json()["items"]}
    assert CODE in mine and other["code"] not in mine
    with db.connect() as conn:
        audit = conn.execute(sa.text(
            "SELECT count(*) FROM audit_log WHERE action = 'template.create'")).scalar()
    assert audit == 2


def test_policy_choice(client, world):
    client.post("/api/v1/templates", headers=world["admin_b"],
                json={**TEMPLATE, "code": f"{OTHER_COUNTY}.wuqing.v1"})
    for body, status, code in [
        ({"checklist_template": f"{OTHER_COUNTY}.wuqing.v1", "notice_days": 9}, 403,
         "template.county_mismatch"),
        ({"checklist_template": CODE, "notice_days": 9}, 422, "template.not_found"),
        ({"checklist_template": "wuqing.v9"}, 422, "template.not_found"),
    ]:
        err = _error(client.put("/api/v1/policy", headers=world["admin"], json=body), status)
        assert err["code"] == code and err["field"] == "checklist_template"
    policy = client.get("/api/v1/policy", headers=world["admin"]).json()
    assert policy["checklist_template"] == "wuqing.v1" and policy["notice_days"] == 5
    assert client.put("/api/v1/policy", headers=world["clerk"],
                      json={"checklist_template": "wuqing.dswz"}).status_code == 403

    assert client.post("/api/v1/templates", headers=world["admin"], json=TEMPLATE
                       ).status_code == 201
    resp = client.put("/api/v1/policy", headers=world["admin"],
                      json={"checklist_template": CODE})
    assert resp.status_code == 200 and resp.json()["checklist_template"] == CODE
    resp = client.put("/api/v1/policy", headers=world["admin"],
                      json={"checklist_template": "wuqing.dswz"})
    assert resp.json()["checklist_template"] == "wuqing.dswz"  # a built-in one stays choosable


def test_tablet_push_and_every_face_use_the_county_template(client, world, db, make_device):
    assert client.post("/api/v1/templates", headers=world["admin"], json=TEMPLATE
                       ).status_code == 201
    assert client.put("/api/v1/policy", headers=world["admin"],
                      json={"checklist_template": CODE}).status_code == 200

    # the reference data carries it (a clerk reads it too)
    ref = client.get("/api/v1/reference", headers=world["clerk"]).json()
    assert CODE in {t["code"] for t in ref["checklist_templates"]}
    tablet = make_device("cadre", "tab-county")
    tablet.sync()
    store = tablet.store
    hid = store.create_household(household("家底户", serial=3))
    other = store.create_household(household("未核户", serial=4))
    policy = store.hint_policy(store.get("household", hid).fields)
    assert policy.template_code == CODE
    offered = store.checklist_template(policy.template_code)
    assert offered.item_codes == ITEMS and offered.items[0].title == "家底清"
    hints = store.household_hints(hid)
    assert list(hints) == list(ITEMS)
    assert hints["jiadi"].ok is False and hints["yuanyin"].ok is None
    screen = Presenters(store).wuqing.view(hid)
    assert [r["title"] for r in screen] == [i["title"] for i in TEMPLATE["items"]]
    assert [r["may_judge"] for r in screen] == [True] * 4 + [False]
    assert screen[0]["hint_state"] != screen[1]["hint_state"]  # a computed hint beside 家底清

    for code in ITEMS[:4]:
        store.set_checklist_verdict(hid, code, "clear")
    with pytest.raises(StoreValidationError) as refused:
        store.set_checklist_verdict(hid, "shuji", "clear")
    assert refused.value.code == "checklist.role_forbidden"
    with pytest.raises(StoreValidationError) as refused:
        store.set_checklist_verdict(hid, "base_file", "clear")
    assert refused.value.code == "validation.item_unknown"
    report = tablet.sync()
    assert report.pushed == {"applied": 2 + 4}

    # the push: an item of the template is accepted, an unknown one refused; one of the
    # template the county used before (wuqing.v1: a check made offline before the switch) is
    # kept, one of a template the county never used is refused
    results = push(client, world["secretary"], [
        change("checklist_item", uuid.uuid4(), {
            "household_id": hid, "template_code": CODE, "item_code": "shuji",
            "verdict": "clear"}, device="dev-secretary"),
        change("checklist_item", uuid.uuid4(), {
            "household_id": other, "template_code": CODE, "item_code": "renwu",
            "verdict": "clear"}, device="dev-secretary"),
        change("checklist_item", uuid.uuid4(), {
            "household_id": other, "template_code": WUQING_V1.code, "item_code": "base_file",
            "verdict": "clear"}, device="dev-secretary"),
        change("checklist_item", uuid.uuid4(), {
            "household_id": other, "template_code": WUQING_DSWZ.code, "item_code": "base_count",
            "verdict": "clear"}, device="dev-secretary"),
    ], device="dev-secretary")
    assert [(r["status"], (r.get("error") or {}).get("code")) for r in results] == [
        ("applied", None), ("rejected", "validation.item_unknown"), ("applied", None),
        ("rejected", "validation.template_unknown")]
    refused_push = push(client, world["cadre"], [change("checklist_item", uuid.uuid4(), {
        "household_id": other, "template_code": CODE, "item_code": "shuji", "verdict": "clear"},
        device="dev-cadre")], device="dev-cadre")
    assert refused_push[0]["error"]["code"] == "checklist.role_forbidden"

    # the read API
    detail = client.get(f"/api/v1/households/{hid}", headers=world["clerk"]).json()
    assert detail["checklist"]["template_code"] == CODE
    assert [i["code"] for i in detail["checklist"]["items"]] == list(ITEMS)
    assert detail["household"]["wuqing_checked"] and detail["household"]["wuqing_all_clear"]
    listing = client.get("/api/v1/households", headers=world["clerk"],
                         params={"wuqing_all_clear": "true"}).json()
    assert [i["head_name"] for i in listing["items"]] == ["家底户"]
    body = client.get("/api/v1/reports/wuqing", headers=world["clerk"]).json()
    per_item = {row["item"] for t in body["tables"] for row in t["rows"] if "item" in row}
    assert per_item == {i["title"] for i in TEMPLATE["items"]}

    # the console: household page, quality, coverage export
    console_login(client, "clerk")
    page = html.unescape(client.get(f"/console/households/{hid}").text)
    for item in TEMPLATE["items"]:
        assert item["title"] in page
    assert "村书记心里清" not in page
    assert "jiadi" not in page and TEMPLATE["name"] in page  # the history names items by title
    quality = client.get("/console/quality")
    assert quality.status_code == 200
    book = load_workbook(io.BytesIO(client.get("/console/exports/coverage.xlsx").content))
    header = [c.value for c in next(book["五清及走访情况"].iter_rows(max_row=1))]
    assert [t["title"] for t in TEMPLATE["items"]] == header[5:10]


FIXED = {  # the version that replaces a wrong one: other titles, no 村书记 item
    "code": f"{COUNTY}.wuqing.v3", "name": "五清（本县修订版）",
    "items": [{"code": code, "title": title} for code, title in (
        ("jiadi", "底数清"), ("yuanyin", "问题清"), ("cuoshi", "对策清"), ("zeren", "责任清"))],
}


def _active(db, code: str) -> bool:
    with db.connect() as conn:
        return bool(conn.execute(sa.text("SELECT active FROM checklist_template WHERE code = :c"),
                                 {"c": code}).scalar())


def test_retire_a_wrong_version(client, world, db, make_device):
    admin = world["admin"]
    for body in (TEMPLATE, FIXED):
        assert client.post("/api/v1/templates", headers=admin, json=body).status_code == 201
    assert client.put("/api/v1/policy", headers=admin,
                      json={"checklist_template": CODE}).status_code == 200
    # checks recorded against the version before it is found wrong
    tablet = make_device("cadre", "tab-retire")
    tablet.sync()
    hid = tablet.store.create_household(household("旧版户", serial=5))
    tablet.store.set_checklist_verdict(hid, "jiadi", "clear")
    tablet.sync()
    shuji = uuid.uuid4()
    assert push(client, world["secretary"], [change("checklist_item", shuji, {
        "household_id": hid, "template_code": CODE, "item_code": "shuji", "verdict": "clear"},
        device="dev-secretary")], device="dev-secretary")[0]["status"] == "applied"

    retire = f"/api/v1/templates/{CODE}/retire"
    for role in ("clerk", "cadre", "secretary"):
        assert _error(client.post(retire, headers=world[role]), 403)["code"] == "auth.forbidden"
    assert _error(client.post(retire, headers=world["admin_b"]), 403)["code"] == \
        "template.not_own"
    for code, status, error in [
        (CODE, 409, "template.in_use"),  # the county uses it: choose another first
        ("wuqing.v1", 409, "template.built_in_kept"),
        (f"{COUNTY}.wuqing.v9", 404, "template.not_found"),
        ("nothing", 404, "template.not_found"),
        (f"{OTHER_COUNTY}.wuqing.v9", 403, "template.not_own"),
    ]:
        err = _error(client.post(f"/api/v1/templates/{code}/retire", headers=admin), status)
        assert err["code"] == error, err
    assert _active(db, CODE)  # no refusal wrote anything

    assert client.put("/api/v1/policy", headers=admin,
                      json={"checklist_template": FIXED["code"]}).status_code == 200
    done = client.post(retire, headers=admin)
    assert done.status_code == 200, done.text
    body = done.json()
    assert (body["code"], body["active"], body["built_in"], body["county_code"]) == (
        CODE, False, False, COUNTY)
    assert [i["title"] for i in body["items"]] == [i["title"] for i in TEMPLATE["items"]]
    again = client.post(retire, headers=admin)  # idempotent
    assert again.status_code == 200 and again.json() == body
    assert not _active(db, CODE) and _rows(db)[CODE]["items"] == body["items"]  # kept, unchanged
    with db.connect() as conn:
        assert conn.execute(sa.text(
            "SELECT count(*) FROM audit_log WHERE action = 'template.retire'")).scalar() == 1

    # no longer chosen, nor offered; readable on request; its code is never taken again
    err = _error(client.put("/api/v1/policy", headers=admin,
                            json={"checklist_template": CODE, "notice_days": 9}), 422)
    assert (err["code"], err["field"]) == ("template.retired", "checklist_template")
    assert "已停用" in err["message"]
    policy = client.get("/api/v1/policy", headers=admin).json()
    assert (policy["checklist_template"], policy["notice_days"]) == (FIXED["code"], 5)
    offered = client.get("/api/v1/templates", headers=world["clerk"]).json()["items"]
    assert CODE not in {t["code"] for t in offered}
    everything = client.get("/api/v1/templates", headers=world["clerk"],
                            params={"retired": "true"}).json()["items"]
    assert {t["code"]: t["active"] for t in everything}[CODE] is False
    assert _error(client.post("/api/v1/templates", headers=admin, json=TEMPLATE), 409
                  )["code"] == "template.exists"

    # the tablets: the reference data carries the chosen version, the records stay
    ref = client.get("/api/v1/reference", headers=world["cadre"]).json()
    carried = {t["code"] for t in ref["checklist_templates"]}
    assert FIXED["code"] in carried and CODE not in carried
    fresh = make_device("cadre", "tab-fresh")
    fresh.sync()  # an initial download after the retirement
    hh = fresh.store.get("household", hid).fields
    assert fresh.store.hint_policy(hh).template_code == FIXED["code"]
    assert [i.title for i in fresh.store.checklist_template(FIXED["code"]).items] == [
        i["title"] for i in FIXED["items"]]
    tablet.sync()
    for store in (tablet.store, fresh.store):
        kept = {(r.fields["template_code"], r.fields["item_code"], r.fields["verdict"])
                for r in store.children(hid, "checklist_item")}
        assert kept == {(CODE, "jiadi", "clear"), (CODE, "shuji", "clear")}

    # a check recorded against it is still judged by it: its 村书记 item stays the 村书记's
    refused = push(client, world["cadre"], [change("checklist_item", shuji, {
        "verdict": "unclear"}, base=1, device="dev-cadre")], device="dev-cadre")
    assert refused[0]["error"]["code"] == "checklist.role_forbidden"

    # the read API and the console go by the new version; the history keeps the old titles
    detail = client.get(f"/api/v1/households/{hid}", headers=world["clerk"]).json()
    assert detail["checklist"]["template_code"] == FIXED["code"]
    console_login(client, "clerk")
    page = html.unescape(client.get(f"/console/households/{hid}",
                                    params={"history": "all"}).text)
    assert "家底清" in page and "村书记掌握清" in page and TEMPLATE["name"] in page
    assert "jiadi" not in page and "shuji" not in page
