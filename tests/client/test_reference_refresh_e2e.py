"""Reference data catches up on every sync (docs/protocol.md, "Reference data"), and checks made
offline on the county's previous 五清 template are kept ("五清 templates"): real tablets against
the in-process server on a real Postgres.

* A tablet downloads; the county admin switches the county's template, changes the monitoring
  income line and a staff member joins; the tablet's next (incremental) sync pushes the checks it
  made offline on the old template — accepted, visible on the server with their own titles — and
  brings the new reference data: the 五清 screen, roster, hints and policy use it.
* An unchanged tag: no reference on any page. A changed one: on the first page of the round
  only. A refresh that fails keeps the old data. A client that sends no tag gets the reference
  with its first download only, as before; ``GET /api/v1/reference`` answers 304 to its ETag.
* The templates a new item may name: the county's current one, its own versions (retired ones
  too), the built-in ones its policy named before — not another county's, nor an unknown code,
  nor a built-in one it never used; the 村书记 rule by the item's own template.
* Scope: the reference data a village cadre, a township clerk and a county admin get never
  carries another county's templates, staff or policy.
"""

from __future__ import annotations

import html
import json
import uuid
from typing import Any

import pytest
from sqlmodel import Session

from kivy_client.store_types import StoreValidationError
from kivy_client.ui.presenters import Presenters
from server.audit import audit
from server.reference import templates_used
from sync_protocol.templates import DEFAULT_TEMPLATE_CODE, WUQING_DSWZ, WUQING_V1
from sync_protocol.wire import REFERENCE_TAG_PARAM
from tests.conftest import COUNTY, TOWNSHIP_A, VILLAGE_A1, add_village_a1_regions
from tests.console.conftest import console_login
from tests.devices import Killed
from tests.sync.syncutil import change, push

from .util import household

OTHER_COUNTY = "411703"
OTHER_VILLAGE = "411703100201"
CODE = f"{COUNTY}.wuqing.v2"
TEMPLATE = {
    "code": CODE,
    "name": "五清（本县家底清版）",
    "items": [
        {"code": "jiadi", "title": "家底清", "hint": "base_file"},
        {"code": "cuoshi", "title": "帮扶措施清", "hint": "measures"},
        {"code": "shuji", "title": "村书记掌握清", "secretary_only": True},
    ],
}
OTHER_TEMPLATE = {**TEMPLATE, "code": f"{OTHER_COUNTY}.wuqing.v1", "name": "五清（邻县版）"}
PULL = "/api/v1/sync/pull"


@pytest.fixture
def world(client, db, make_user, login):
    make_user("admin", "county_admin", [COUNTY], name="县管理员")
    make_user("clerk", "township_clerk", [TOWNSHIP_A], name="赵专干")
    make_user("cadre", "village_cadre", [VILLAGE_A1], name="王村干")
    make_user("secretary", "village_secretary", [VILLAGE_A1], name="张书记")
    # the neighbouring county: its own admin, cadre, template and policy
    make_user("admin_b", "county_admin", [OTHER_COUNTY], name="邻县管理员")
    make_user("cadre_b", "village_cadre", [OTHER_VILLAGE], name="邻县村干")
    with Session(db) as s:
        add_village_a1_regions(s)
        s.commit()
    heads = {name: login(name, device_id=f"dev-{name}")
             for name in ("admin", "clerk", "cadre", "secretary", "admin_b", "cadre_b")}
    assert client.post("/api/v1/templates", headers=heads["admin_b"],
                       json=OTHER_TEMPLATE).status_code == 201
    assert client.put("/api/v1/policy", headers=heads["admin_b"], json={
        "checklist_template": OTHER_TEMPLATE["code"], "monitoring_lines": {"2026": 8800},
        "visit_interval_days": 45}).status_code == 200
    assert client.post("/api/v1/templates", headers=heads["admin"],
                       json=TEMPLATE).status_code == 201
    return heads


def _spy(store) -> list[dict[str, Any] | None]:
    """The ``reference`` of every pull page the store applies from now on, in order."""
    seen: list[dict[str, Any] | None] = []
    apply = store.apply_pull_page

    def spy(page: Any) -> int:
        seen.append(page.reference if hasattr(page, "reference") else page.get("reference"))
        return apply(page)

    store.apply_pull_page = spy
    return seen


def _row(store, hid: str):
    return next(r for r in store.roster() if r.id == hid)


def _pull(client, headers, **params: Any) -> dict[str, Any]:
    resp = client.get(PULL, headers=headers, params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _drain(client, headers, cursor: str | None = None, **params: Any) -> tuple[str, list]:
    """Pull to the end of the rounds from ``cursor``: the last cursor and every page."""
    pages = []
    while True:
        page = _pull(client, headers, **({"cursor": cursor} if cursor else {}), **params)
        pages.append(page)
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return cursor, pages


def test_a_tablet_catches_up_and_keeps_its_offline_checks(client, world, make_device, make_user):
    tablet = make_device("secretary", "tab-ref")
    tablet.sync()
    store = tablet.store
    tag = store.reference_tag()
    assert len(tag) == 32
    assert store.reference_notice() == []  # the first download is no news
    hid = store.create_household(household("旧模板户", serial=7))
    tablet.sync()
    assert store.hint_policy(store.get("household", hid).fields).template_code == WUQING_V1.code

    # offline: the 村书记 checks every item of the template the tablet has (wuqing.v1)
    for code in WUQING_V1.item_codes:
        store.set_checklist_verdict(hid, code, "clear")
    assert _row(store, hid).wuqing_checked and _row(store, hid).wuqing_all_clear

    # meanwhile the county admin switches the template and sets the monitoring line; a new
    # first secretary joins the village
    resp = client.put("/api/v1/policy", headers=world["admin"], json={
        "checklist_template": CODE, "monitoring_lines": {"2026": 9100}})
    assert resp.status_code == 200, resp.text
    make_user("newcomer", "first_secretary", [VILLAGE_A1], name="新来的第一书记")

    pages = _spy(store)
    report = tablet.sync()  # an incremental sync: push first, then pull
    assert report.pushed == {"applied": len(WUQING_V1.item_codes)}  # nothing refused
    assert report.reset is False and pages[0] is not None and all(p is None for p in pages[1:])
    assert store.reference_tag() == pages[0]["tag"] != tag

    # the new reference data: template, policy, staff — every face of the tablet uses it
    hh = store.get("household", hid).fields
    assert store.hint_policy(hh).template_code == CODE
    assert store.county_rules(VILLAGE_A1).procedures.monitoring_line(2026) == 9100
    assert "新来的第一书记" in store.user_names().values()
    # the cadre is told what changed (kivy_client/ui/app.py shows it after the sync)
    told = [f"五清模板已更新为「{TEMPLATE['name']}」",
            "县级政策已更新：2026年监测收入标准定为 9,100 元"]
    assert Presenters(store).sync.reference_notice() == told
    screen = Presenters(store).wuqing.view(hid)
    assert [r["title"] for r in screen] == [i["title"] for i in TEMPLATE["items"]]
    assert list(store.household_hints(hid)) == [i["code"] for i in TEMPLATE["items"]]
    row = _row(store, hid)  # the roster index counted again under the county's new template
    assert not row.wuqing_checked and not row.wuqing_all_clear
    kept = {(r.fields["template_code"], r.fields["item_code"], r.fields["verdict"])
            for r in store.children(hid, "checklist_item")}
    assert kept == {(WUQING_V1.code, code, "clear") for code in WUQING_V1.item_codes}
    assert not store.pending_count()
    store.set_checklist_verdict(hid, "jiadi", "clear")  # the new template's items from now on
    with pytest.raises(StoreValidationError) as refused:
        store.set_checklist_verdict(hid, "trajectory", "clear")
    assert refused.value.code == "validation.item_unknown"

    # the server: accepted, visible; the figures count the county's current template only
    detail = client.get(f"/api/v1/households/{hid}", headers=world["clerk"]).json()
    assert detail["checklist"]["template_code"] == CODE
    assert not detail["household"]["wuqing_checked"]
    console_login(client, "clerk")
    page = html.unescape(client.get(f"/console/households/{hid}",
                                    params={"history": "all"}).text)
    for item in WUQING_V1.items:  # the history names them by their own template's titles
        assert item.title in page
    assert WUQING_V1.name in page and "secretary_knows" not in page


def test_an_unchanged_tag_sends_nothing_and_a_failed_refresh_keeps_the_old_data(
        client, world, make_device):
    tablet = make_device("cadre", "tab-tag")
    tablet.sync()
    store = tablet.store
    tag = store.reference_tag()
    pages = _spy(store)
    store.create_household(household("同步户", serial=8))
    tablet.sync()
    tablet.sync()
    assert pages and all(p is None for p in pages)  # nothing changed: never sent again
    pulls = [r for r in tablet.wire.requests if r.url.path == PULL]
    assert {r.url.params[REFERENCE_TAG_PARAM] for r in pulls[1:]} == {tag}
    assert pulls[0].url.params[REFERENCE_TAG_PARAM] == ""  # the first download held none

    # the admin changes the visit interval; the refresh's page is lost (the app dies)
    assert client.put("/api/v1/policy", headers=world["admin"],
                      json={"visit_interval_days": 20}).status_code == 200
    tablet.wire.fail(lambda r: r.url.path == PULL, "kill")
    with pytest.raises(Killed):
        tablet.sync()
    tablet.restart()
    assert tablet.store.reference_tag() == tag  # the old data, whole
    assert tablet.store.county_rules(VILLAGE_A1).visit_interval_days != 20
    tablet.wire.fail(lambda r: r.url.path == PULL, "network")  # offline, then back
    tablet.sync_client.max_retries = 0
    with pytest.raises(Exception) as offline:
        tablet.sync()
    assert getattr(offline.value, "code", None) == "client.network_unavailable"
    assert tablet.store.reference_tag() == tag
    tablet.sync_client.max_retries = 5
    tablet.sync()
    assert tablet.store.reference_tag() != tag
    assert tablet.store.county_rules(VILLAGE_A1).visit_interval_days == 20

    # a store of an older app (reference data without a tag) gets it again on its next sync
    old = dict(tablet.store.reference())
    old.pop("tag")
    tablet.store.set_meta("reference", json.dumps(old, ensure_ascii=False))
    tablet.store._reference = None
    assert tablet.store.reference_tag() == ""
    tablet.sync()
    assert tablet.store.reference_tag() == client.get(
        "/api/v1/reference", headers=world["cadre"]).json()["tag"]


def test_the_reference_comes_on_a_rounds_first_page_only(client, world):
    headers = world["cadre"]
    push(client, headers, _households(3, "dev-cadre"), device="dev-cadre")
    first = _pull(client, headers, limit=1, **{REFERENCE_TAG_PARAM: ""})
    tag = first["reference"]["tag"]
    cursor, pages = _drain(client, headers, first["next_cursor"], limit=1,
                           **{REFERENCE_TAG_PARAM: "stale"})
    assert len(pages) >= 3 and all("reference" not in p for p in pages)  # later pages: never
    # a new round with the tag held: nothing; a fresh download with it: nothing either
    assert "reference" not in _pull(client, headers, cursor=cursor,
                                    **{REFERENCE_TAG_PARAM: tag})
    assert "reference" not in _pull(client, headers, **{REFERENCE_TAG_PARAM: tag})

    # the county changes: the next round's first page carries the new data, later pages not
    assert client.put("/api/v1/policy", headers=world["admin"],
                      json={"checklist_template": CODE}).status_code == 200
    push(client, headers, _households(3, "dev-cadre"), device="dev-cadre")
    new = _pull(client, headers, cursor=cursor, limit=1, **{REFERENCE_TAG_PARAM: tag})
    assert new["reference"]["tag"] != tag and new["has_more"]
    assert CODE in {t["code"] for t in new["reference"]["checklist_templates"]}
    assert new["reference"]["county_policies"][0]["checklist_template"] == CODE
    _, rest = _drain(client, headers, new["next_cursor"], limit=1, **{REFERENCE_TAG_PARAM: tag})
    assert rest and all("reference" not in p for p in rest)
    # the column form the tablet asks for: the same
    columns = _pull(client, headers, cursor=cursor, form="columns", **{REFERENCE_TAG_PARAM: tag})
    assert columns["reference"]["tag"] == new["reference"]["tag"]
    too_long = client.get(PULL, headers=headers, params={REFERENCE_TAG_PARAM: "x" * 101})
    assert too_long.status_code == 422
    assert too_long.json()["error"]["code"] == "request.malformed"


def test_a_client_without_a_tag_gets_the_reference_as_before(client, world):
    headers = world["cadre"]
    push(client, headers, _households(2, "dev-cadre"), device="dev-cadre")
    first = _pull(client, headers, limit=1)
    assert "checklist_templates" in first["reference"]  # the first page of the download
    cursor, pages = _drain(client, headers, first["next_cursor"], limit=1)
    assert all("reference" not in p for p in pages)
    assert client.put("/api/v1/policy", headers=world["admin"],
                      json={"checklist_template": CODE}).status_code == 200
    push(client, headers, _households(1, "dev-cadre"), device="dev-cadre")
    _, later = _drain(client, headers, cursor)
    assert later[0]["changes"] and all("reference" not in p for p in later)  # as today


def test_get_reference_answers_304_to_its_etag(client, world):
    headers = world["clerk"]
    resp = client.get("/api/v1/reference", headers=headers)
    assert resp.status_code == 200
    etag = resp.headers["etag"]
    assert etag == f'"{resp.json()["tag"]}"' and "no-cache" in resp.headers["cache-control"]
    for sent in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        same = client.get("/api/v1/reference", headers={**headers, "If-None-Match": sent})
        assert same.status_code == 304 and same.content == b"" and same.headers["etag"] == etag
    assert client.get("/api/v1/reference", headers={**headers, "If-None-Match": '"other"'}
                      ).status_code == 200
    assert client.put("/api/v1/policy", headers=world["admin"],
                      json={"monitoring_lines": {"2026": 9300}}).status_code == 200
    changed = client.get("/api/v1/reference", headers={**headers, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert changed.json()["county_policies"][0]["monitoring_lines"]["2026"] == 9300
    # the same data, another request: the same tag (generated_at is not part of it)
    assert client.get("/api/v1/reference", headers=headers).headers["etag"] == \
        changed.headers["etag"]


def _item(hid: str, template: str, item: str, device: str = "dev-secretary") -> dict[str, Any]:
    return change("checklist_item", uuid.uuid4(), {
        "household_id": hid, "template_code": template, "item_code": item, "verdict": "clear"},
        device=device)


def _households(n: int, device: str) -> list[dict[str, Any]]:
    return [change("household", uuid.uuid4(), {"village_code": VILLAGE_A1, "head_name": "张三"},
                   device=device) for _ in range(n)]


def _codes(results: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    return [(r["status"], (r.get("error") or {}).get("code")) for r in results]


def test_the_templates_a_new_check_may_name(client, world, db, make_device):
    admin, secretary = world["admin"], world["secretary"]
    body = _households(1, "dev-secretary")[0]
    hid = body["record_id"]
    push(client, secretary, [body], device="dev-secretary")
    # the county: wuqing.v1 (the default), then its own v2, then its own v3; v2 retired
    v3 = {**TEMPLATE, "code": f"{COUNTY}.wuqing.v3", "items": TEMPLATE["items"][:2]}
    assert client.post("/api/v1/templates", headers=admin, json=v3).status_code == 201
    for code in (CODE, v3["code"]):
        assert client.put("/api/v1/policy", headers=admin,
                          json={"checklist_template": code}).status_code == 200
    assert client.post(f"/api/v1/templates/{CODE}/retire", headers=admin).status_code == 200
    assert templates_used_of(db, COUNTY) == {WUQING_V1.code, CODE, v3["code"]}

    results = push(client, secretary, [
        _item(hid, v3["code"], "jiadi"),  # the current one
        _item(hid, CODE, "shuji"),  # its own earlier version, retired since
        _item(hid, WUQING_V1.code, "secretary_knows"),  # the built-in one it used before
        _item(hid, WUQING_V1.code, "jiadi"),  # ... but an item of another template
        _item(hid, WUQING_DSWZ.code, "base_count"),  # a built-in one it never used
        _item(hid, OTHER_TEMPLATE["code"], "jiadi"),  # another county's
        _item(hid, f"{COUNTY}.wuqing.v9", "jiadi"),  # a code nobody stores
        _item(hid, "", "jiadi"),  # none at all
    ], device="dev-secretary")
    assert _codes(results) == [
        ("applied", None), ("applied", None), ("applied", None),
        ("rejected", "validation.item_unknown"), ("rejected", "validation.template_unknown"),
        ("rejected", "validation.template_unknown"), ("rejected", "validation.template_unknown"),
        ("rejected", "validation.field_required")]
    assert results[5]["error"]["field"] == "template_code"
    # the 村书记 rule by the item's own template: a cadre may not judge either 村书记 item
    refused = push(client, world["cadre"], [
        _item(hid, WUQING_V1.code, "secretary_knows", "dev-cadre"),
        _item(hid, CODE, "shuji", "dev-cadre"),
        _item(hid, WUQING_V1.code, "base_file", "dev-cadre"),
    ], device="dev-cadre")
    assert _codes(refused) == [("rejected", "checklist.role_forbidden"),
                               ("rejected", "checklist.role_forbidden"), ("applied", None)]

    # the tablet's own check before saving: the same rule with what its reference data holds
    tablet = make_device("secretary", "tab-rule")
    tablet.sync()
    store = tablet.store
    store.set_checklist_verdict(hid, "cuoshi", "clear")
    for template, item, code in [
        (OTHER_TEMPLATE["code"], "jiadi", "validation.template_unknown"),
        (WUQING_DSWZ.code, "base_count", "validation.template_unknown"),
        ("nothing", "jiadi", "validation.template_unknown"),
        (v3["code"], "shuji", "validation.item_unknown"),
    ]:
        with pytest.raises(StoreValidationError) as err:
            store.set_checklist_verdict(hid, item, "clear", template_code=template)
        assert err.value.code == code, (template, item)
    assert tablet.sync().pushed == {"applied": 1}


def templates_used_of(db, county: str) -> set[str]:
    with Session(db) as s:
        return set(templates_used(s, county))


def test_templates_used_reads_the_policy_audit(db):
    """A choice audited before the replaced template was recorded implies wuqing.v1."""
    with Session(db) as s:
        assert templates_used(s, "411799") == frozenset()
        audit(s, None, "policy.update", {"county_code": "411799",
                                         "changes": {"visit_interval_days": 20}})
        s.flush()
        assert templates_used(s, "411799") == frozenset()
        audit(s, None, "policy.update", {"county_code": "411799",
                                         "changes": {"checklist_template": WUQING_DSWZ.code}})
        s.flush()
        assert templates_used(s, "411799") == {WUQING_DSWZ.code, DEFAULT_TEMPLATE_CODE}
        assert templates_used(s, "411798") == frozenset()
        s.rollback()


@pytest.mark.parametrize("who", ["cadre", "clerk", "admin"])
def test_the_reference_never_carries_another_county(client, world, who):
    own = client.get("/api/v1/reference", headers=world[who]).json()
    first = _pull(client, world[who], **{REFERENCE_TAG_PARAM: ""})["reference"]
    for ref in (own, first):
        codes = {t["code"] for t in ref["checklist_templates"]}
        assert CODE in codes and OTHER_TEMPLATE["code"] not in codes
        assert all(not c.startswith(OTHER_COUNTY) for c in codes)
        assert [p["county_code"] for p in ref["county_policies"]] == [COUNTY]
        assert ref["county_policies"][0]["visit_interval_days"] != 45
        names = {s["name"] for s in ref["staff"]}
        assert not names & {"邻县管理员", "邻县村干"}
        assert "县管理员" in names
        assert all(not r["code"].startswith(OTHER_COUNTY) for r in ref["regions"])
    # and the neighbours see theirs, not this county's
    theirs = client.get("/api/v1/reference", headers=world["cadre_b"]).json()
    codes = {t["code"] for t in theirs["checklist_templates"]}
    assert OTHER_TEMPLATE["code"] in codes and CODE not in codes
    assert [p["county_code"] for p in theirs["county_policies"]] == [OTHER_COUNTY]
    assert theirs["tag"] != own["tag"]
