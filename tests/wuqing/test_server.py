"""五清 v2 on the real server (real Postgres): the secretary-only item judged per change at merge
time (the rest of the batch applies), the rectification and check-level fields synced, the read
API's two figures and their filters, and the township's overdue-rectification list."""

from __future__ import annotations

import uuid

import pytest

from sync_protocol.templates import WUQING_V1
from tests.conftest import TOWNSHIP_A, VILLAGE_A1
from tests.console.conftest import console_login
from tests.sync.syncutil import change, new_household, pull_all, push

ROLES = {"cadre": "village_cadre", "secretary": "village_secretary",
         "first": "first_secretary"}


@pytest.fixture
def staff(make_user, login):
    for username, role in ROLES.items():
        make_user(username, role, [VILLAGE_A1])
    make_user("clerk", "township_clerk", [TOWNSHIP_A], name="乡镇专干")
    return {name: login(name) for name in [*ROLES, "clerk"]}


def _item(hid: str, code: str, verdict: str, **extra) -> dict:
    return change("checklist_item", uuid.uuid4(), {
        "household_id": hid, "template_code": "wuqing.v1", "item_code": code,
        "verdict": verdict, "checked_at": "2026-11-20T02:00:00Z", **extra})


def _household(client, headers, name: str = "张三") -> str:
    hid, ch = new_household(head_name=name)
    assert push(client, headers, [ch])[0]["status"] == "applied"
    return hid


@pytest.mark.parametrize("username,allowed", [("cadre", False), ("clerk", False),
                                              ("secretary", True), ("first", True)])
def test_secretary_item_per_role_rest_of_batch_applies(client, staff, username, allowed):
    headers = staff[username]
    hid = _household(client, staff["cadre"])
    secretary = _item(hid, "secretary_knows", "clear")
    other = _item(hid, "base_file", "clear")
    res = push(client, headers, [secretary, other])
    assert res[1]["status"] == "applied"
    if allowed:
        assert res[0]["status"] == "applied"
    else:
        assert res[0]["status"] == "rejected"
        assert res[0]["error"]["code"] == "checklist.role_forbidden"
        assert "村党支部书记" in res[0]["error"]["message"]


def test_cadre_may_annotate_but_not_change_the_secretary_verdict(client, staff):
    hid = _household(client, staff["cadre"])
    item = _item(hid, "secretary_knows", "clear")
    assert push(client, staff["secretary"], [item])[0]["status"] == "applied"
    rid = item["record_id"]
    note = change("checklist_item", rid, {"note": "村书记已入户了解"}, base=1)
    assert push(client, staff["cadre"], [note])[0]["status"] == "applied"
    undo = change("checklist_item", rid, {"verdict": "unclear"}, base=2)
    res = push(client, staff["cadre"], [undo])[0]
    assert res["error"]["code"] == "checklist.role_forbidden"
    delete = change("checklist_item", rid, op="delete", base=2)
    assert push(client, staff["cadre"], [delete])[0]["error"]["code"] == \
        "checklist.role_forbidden"
    assert push(client, staff["first"], [change("checklist_item", rid, {"verdict": "unclear"},
                                                base=2)])[0]["status"] == "applied"


def test_rectification_fields_sync_and_validate(client, staff):
    hid = _household(client, staff["cadre"])
    item = _item(hid, "measures", "unclear", check_level="township",
                 rectify_by="2026-12-31", rectify_note="补充产业帮扶措施")
    assert push(client, staff["cadre"], [item])[0]["status"] == "applied"
    records, _c, _cur = pull_all(client, staff["cadre"])
    pulled = next(r for r in records if r["record_id"] == item["record_id"])
    assert pulled["fields"]["check_level"] == "township"
    assert pulled["fields"]["rectify_by"] == "2026-12-31"
    bad = _item(hid, "trajectory", "unclear", check_level="county")
    res = push(client, staff["cadre"], [bad])[0]
    assert res["status"] == "rejected" and res["error"]["field"] == "check_level"
    bad_date = _item(hid, "trajectory", "unclear", rectify_by="明年")
    res = push(client, staff["cadre"], [bad_date])[0]
    assert res["status"] == "rejected" and res["error"]["field"] == "rectify_by"


def test_read_api_figures_filters_and_overdue_listing(client, staff):
    headers = staff["secretary"]
    clear_all = _household(client, headers, "全清户")
    one_unclear = _household(client, headers, "不清户")
    unchecked = _household(client, headers, "未核户")
    changes = [_item(clear_all, code, "clear") for code in WUQING_V1.item_codes]
    changes += [_item(one_unclear, code, "clear") for code in WUQING_V1.item_codes[:-1]]
    changes.append(_item(one_unclear, WUQING_V1.item_codes[-1], "unclear",
                         rectify_by="2026-01-01", check_level="self"))
    changes.append(_item(unchecked, "base_file", "clear"))
    assert {r["status"] for r in push(client, headers, changes)} == {"applied"}

    def names(**params) -> dict[str, tuple[bool, bool]]:
        body = client.get("/api/v1/households", headers=headers, params=params).json()
        return {i["head_name"]: (i["wuqing_checked"], i["wuqing_all_clear"])
                for i in body["items"]}

    assert names() == {"全清户": (True, True), "不清户": (True, False), "未核户": (False, False)}
    assert set(names(wuqing_checked="true")) == {"全清户", "不清户"}
    assert set(names(wuqing_checked="false")) == {"未核户"}
    assert set(names(wuqing_all_clear="true")) == {"全清户"}
    assert set(names(wuqing_all_clear="false")) == {"不清户", "未核户"}
    detail = client.get(f"/api/v1/households/{one_unclear}", headers=headers).json()
    assert detail["household"]["wuqing_checked"] is True
    assert detail["household"]["wuqing_all_clear"] is False
    assert client.get("/api/v1/households", headers=headers,
                      params={"wuqing_checked": "maybe"}).status_code == 422

    console_login(client, "clerk")
    page = client.get("/console/quality")
    assert page.status_code == 200, page.text
    assert "五清整改逾期" in page.text and "不清户" in page.text and "已逾期" in page.text
    assert "五清已完成" not in page.text and "全部为清" in page.text
    detail_page = client.get(f"/console/households/{one_unclear}")
    assert "已逾期" in detail_page.text and "村级自查" in detail_page.text
    assert "五清已核查·有不清项" in detail_page.text
