"""A county on the second 五清 template (底数清/问题清/对策清/责任清/任务清, other item keys) end to
end: the tablet's store offers that template's items and hints, verdicts sync, and the read API's
two figures and filters, the console (household list filters, household page, quality page) and
the 五清 report all count that template's items; an item of another template is refused with a
stable code on the tablet and on the server."""

from __future__ import annotations

import html
import uuid

import pytest
from sqlmodel import Session

from kivy_client.store_types import StoreValidationError
from kivy_client.ui.presenters import Presenters
from server.db.tables import ChecklistTemplate, CountyPolicy
from sync_protocol.templates import WUQING_DSWZ, WUQING_V1
from tests.conftest import COUNTY, TOWNSHIP_A, VILLAGE_A1, add_village_a1_regions
from tests.console.conftest import console_login
from tests.sync.syncutil import change, push

from .util import household

CODES = ("base_count", "problems", "countermeasures", "responsibility", "tasks")
COUNTY_TITLE = "底数清（本县口径）"


@pytest.fixture
def world(db, make_user, login):
    make_user("cadre", "village_cadre", [VILLAGE_A1], name="王村干")
    make_user("clerk", "township_clerk", [TOWNSHIP_A], name="赵专干")
    with Session(db) as s:
        add_village_a1_regions(s)
        s.add(CountyPolicy(county_code=COUNTY, checklist_template=WUQING_DSWZ.code))
        edited = WUQING_DSWZ.to_dict()  # the county keeps the template with its own title
        edited["items"][0]["title"] = COUNTY_TITLE
        s.add(ChecklistTemplate(code=edited["code"], name=edited["name"], items=edited["items"]))
        s.commit()
    return {"cadre": login("cadre"), "clerk": login("clerk")}


def test_second_template_end_to_end(client, world, make_device):
    assert WUQING_DSWZ.item_codes == CODES
    assert not set(CODES) & set(WUQING_V1.item_codes)
    tablet = make_device("cadre", "tab-alt")
    tablet.sync()  # the reference data: the county's policy and template

    store = tablet.store
    ids = {name: store.create_household(household(name, serial=i))
           for i, name in enumerate(("全清户", "不清户", "未核户"), 1)}
    hh = store.get("household", ids["全清户"]).fields
    policy = store.hint_policy(hh)
    assert policy.template_code == WUQING_DSWZ.code
    offered = store.checklist_template(policy.template_code)
    assert offered.item_codes == CODES and offered.items[0].title == COUNTY_TITLE

    # the hints follow the template's items: computed ones for 底数清/对策清/责任清
    hints = store.household_hints(ids["全清户"])
    assert list(hints) == list(CODES)
    assert hints["base_count"].ok is False and hints["base_count"].item_code == "base_count"
    assert any("家庭成员" in m for m in hints["base_count"].messages)
    assert hints["responsibility"].ok is False and hints["countermeasures"].ok is not None
    assert hints["problems"].ok is None and hints["tasks"].ok is None
    screen = Presenters(store).wuqing.view(ids["全清户"])
    assert [(r["item_code"], r["title"]) for r in screen] == [
        (i.code, i.title) for i in offered.items]

    # verdicts: every item clear / one unclear / none; an item of the old template is refused
    for code in CODES:
        store.set_checklist_verdict(ids["全清户"], code, "clear")
        store.set_checklist_verdict(ids["不清户"], code, "unclear" if code == "tasks" else "clear",
                                    extra={"rectify_by": "2026-01-01"} if code == "tasks"
                                    else None)
    store.set_checklist_verdict(ids["未核户"], "base_count", "clear")
    with pytest.raises(StoreValidationError) as err:
        store.set_checklist_verdict(ids["未核户"], "base_file", "clear")
    assert err.value.code == "validation.item_unknown"
    with pytest.raises(StoreValidationError) as err:
        store.set_checklist_verdict(ids["未核户"], "base_file", "clear",
                                    template_code=WUQING_V1.code)
    assert err.value.code == "validation.template_unknown"
    report = tablet.sync()
    assert report.pushed == {"applied": 3 + 2 * len(CODES) + 1}
    rows = {r["item_code"]: r for r in Presenters(store).wuqing.view(ids["不清户"])}
    assert rows["tasks"]["verdict"] == "unclear" and rows["base_count"]["verdict"] == "clear"

    # the server refuses a verdict for an item not in the county's template (stable codes)
    headers = world["cadre"]
    stray = [
        change("checklist_item", uuid.uuid4(), {
            "household_id": ids["未核户"], "template_code": WUQING_V1.code,
            "item_code": "base_file", "verdict": "clear"}),
        change("checklist_item", uuid.uuid4(), {
            "household_id": ids["未核户"], "template_code": WUQING_DSWZ.code,
            "item_code": "secretary_knows", "verdict": "clear"}),
        change("checklist_item", uuid.uuid4(), {
            "household_id": ids["未核户"], "template_code": WUQING_DSWZ.code,
            "item_code": "problems", "verdict": "clear"}),
    ]
    results = push(client, headers, stray)
    assert [(r["status"], (r.get("error") or {}).get("code")) for r in results] == [
        ("rejected", "validation.template_unknown"), ("rejected", "validation.item_unknown"),
        ("applied", None)]
    assert results[1]["error"]["field"] == "item_code"
    assert "模板" in results[1]["error"]["message"]

    # the read API: both figures and their filters count this template's items
    def names(**params) -> dict[str, tuple[bool, bool]]:
        body = client.get("/api/v1/households", headers=headers, params=params).json()
        return {i["head_name"]: (i["wuqing_checked"], i["wuqing_all_clear"])
                for i in body["items"]}

    assert names() == {"全清户": (True, True), "不清户": (True, False), "未核户": (False, False)}
    assert set(names(wuqing_checked="true")) == {"全清户", "不清户"}
    assert set(names(wuqing_all_clear="true")) == {"全清户"}
    assert set(names(wuqing_all_clear="false")) == {"不清户", "未核户"}
    detail = client.get(f"/api/v1/households/{ids['不清户']}", headers=headers).json()
    checklist = detail["checklist"]
    assert checklist["template_code"] == WUQING_DSWZ.code
    assert [i["code"] for i in checklist["items"]] == list(CODES)
    assert checklist["items"][0]["title"] == COUNTY_TITLE
    assert {i["code"]: i["verdict"] for i in checklist["items"]}["tasks"] == "unclear"
    assert detail["household"]["wuqing_checked"] and not detail["household"]["wuqing_all_clear"]

    # the 五清 report (read API and console) counts this template's items per item
    body = client.get("/api/v1/reports/wuqing", headers=world["clerk"]).json()
    assert body["summary"]["households"] == 3 and body["summary"]["checked"] == 2
    assert body["summary"]["all_clear"] == 1 and body["summary"]["open_items"] == 1
    per_item = {row["item"]: (row["clear"], row["unclear"], row["unchecked"])
                for t in body["tables"] for row in t["rows"] if "item" in row}
    assert per_item == {COUNTY_TITLE: (3, 0, 0), "问题清": (3, 0, 0), "对策清": (2, 0, 1),
                        "责任清": (2, 0, 1), "任务清": (1, 1, 1)}

    # the console: list filters, household page, quality page, report page
    console_login(client, "clerk")
    listing = html.unescape(client.get("/console/households").text)
    assert "五清已核查" in listing and "全部为清" in listing
    assert "五清已核查·全部为清" in listing and "五清已核查·有不清项" in listing
    only_clear = client.get("/console/households", params={"wuqing_all_clear": "1"}).text
    assert "全清户" in only_clear and "不清户" not in only_clear and "未核户" not in only_clear
    checked = client.get("/console/households", params={"wuqing_checked": "1"}).text
    assert "全清户" in checked and "不清户" in checked and "未核户" not in checked
    not_checked = client.get("/console/households", params={"wuqing_checked": "0"}).text
    assert "未核户" in not_checked and "全清户" not in not_checked
    assert client.get("/console/households", params={"wuqing_checked": "maybe"}).status_code \
        == 200
    page = html.unescape(client.get(f"/console/households/{ids['不清户']}").text)
    for item in offered.items:
        assert item.title in page
    assert "村书记心里清" not in page and "五清已核查·有不清项" in page and "已逾期" in page
    quality = html.unescape(client.get("/console/quality").text)
    assert "任务清" in quality and "不清户" in quality and "村书记心里清" not in quality
    report_page = html.unescape(client.get("/console/reports/wuqing").text)
    assert COUNTY_TITLE in report_page and "问题清" in report_page
    assert "村书记心里清" not in report_page


SECRETARY_ITEM = "cunshuji_xinli"  # a county's own code for 村书记心里清


@pytest.mark.parametrize("variant", ["wuqing.v1", "wuqing.dswz", "county"])
def test_the_secretary_item_is_the_templates(client, db, make_user, make_device, login,
                                             variant):
    """Only the 村书记 judges the item the county's template marks ``secretary_only``: v1's
    村书记心里清; none of dswz's (a cadre judges every item); a county's copy of dswz with its own
    村书记 item under another code. Refused on the tablet before saving and on the server with
    ``checklist.role_forbidden``; the console and the tablet say who judges it."""
    make_user("cadre", "village_cadre", [VILLAGE_A1], name="王村干")
    make_user("secretary", "village_secretary", [VILLAGE_A1], name="张书记")
    make_user("clerk", "township_clerk", [TOWNSHIP_A], name="赵专干")
    template = WUQING_V1 if variant == "wuqing.v1" else WUQING_DSWZ
    with Session(db) as s:
        s.add(CountyPolicy(county_code=COUNTY, checklist_template=template.code))
        if variant == "county":
            stored = WUQING_DSWZ.to_dict()
            stored["items"].append({"code": SECRETARY_ITEM, "title": "村书记心里清（本县）",
                                    "description": "村党支部书记掌握本户情况",
                                    "manual_only": True, "secretary_only": True})
            s.add(ChecklistTemplate(code=stored["code"], name=stored["name"],
                                    items=stored["items"]))
        s.commit()
    secretary_item = {"wuqing.v1": "secretary_knows", "wuqing.dswz": None,
                      "county": SECRETARY_ITEM}[variant]
    cadre = make_device("cadre", "tab-cadre")
    cadre.sync()
    hid = cadre.store.create_household(household("书记户", serial=7))
    offered = cadre.store.checklist_template(template.code)
    # the cadre judges every item but the 村书记's
    for item in offered.items:
        if item.code == secretary_item:
            with pytest.raises(StoreValidationError) as refused:
                cadre.store.set_checklist_verdict(hid, item.code, "clear")
            assert refused.value.code == "checklist.role_forbidden"
        else:
            cadre.store.set_checklist_verdict(hid, item.code, "clear")
    view = {r["item_code"]: r for r in Presenters(cadre.store).wuqing.view(hid)}
    assert {c for c, r in view.items() if not r["may_judge"]} == (
        {secretary_item} if secretary_item else set())
    assert {c for c, r in view.items() if r["judge_note"]} == view.keys() - {
        c for c, r in view.items() if r["may_judge"]}
    assert cadre.sync().rejected == 0
    # the server refuses the cadre's verdict on the 村书记 item, and takes the secretary's
    target = secretary_item or template.item_codes[0]
    stray = change("checklist_item", uuid.uuid4(), {
        "household_id": hid, "template_code": template.code, "item_code": target,
        "verdict": "unclear"})
    [result] = push(client, login("cadre"), [stray])
    if secretary_item:
        assert (result["status"], result["error"]["code"]) == ("rejected",
                                                               "checklist.role_forbidden")
        secretary = make_device("secretary", "tab-secretary")
        secretary.sync()
        secretary.store.set_checklist_verdict(hid, secretary_item, "clear")
        assert secretary.sync().rejected == 0
    else:
        assert result["status"] in ("applied", "merged", "conflict"), result
    # the console marks the template's 村书记 item, and no other
    console_login(client, "clerk")
    page = html.unescape(client.get(f"/console/households/{hid}").text)
    assert page.count("仅村党支部书记或驻村第一书记可确认") == (1 if secretary_item else 0)
