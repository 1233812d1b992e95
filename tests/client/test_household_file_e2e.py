"""Household file v2 end to end: the new fields travel tablet → server → another tablet, are
checked on both sides with the same Chinese errors, and the read API shows the per-year member
counts, the income breakdown and the cross-check hints."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from kivy_client.store_types import StoreValidationError
from kivy_client.ui.presenters import Presenters, cross_check_lines, plan_vs_done_lines
from sync_protocol.policy import china_today
from sync_protocol.validation import build_id_number
from tests.conftest import TOWNSHIP_A, VILLAGE_A1
from tests.console.conftest import console_login
from tests.sync.syncutil import change

from .conftest import snapshot
from .util import household

HEAD = build_id_number("411702", dt.date(1966, 4, 2), 31)  # male
CHILD = build_id_number("411702", dt.date(2013, 9, 1), 32)  # female, school age


def test_v2_fields_round_trip_between_tablets_and_show_in_the_read_api(
        client, make_user, make_device, login):
    make_user("cadre", "village_cadre", [VILLAGE_A1], name="王村干")
    make_user("secretary", "first_secretary", [VILLAGE_A1], name="李书记")
    year = china_today().year
    a = make_device("cadre", "tab-a")
    hid = a.store.create_household(household(education_secure=True, medical_secure=True,
                                             monitoring_status=None))
    head = a.store.add_member(hid, {
        "name": "张三", "relation": "head", "id_number": HEAD, "gender": "male",
        "birth_date": "1966-04-02", "health": ["serious_illness", "disabled"],
        "disease": "尿毒症（血液透析）", "disability_category": "physical",
        "disability_grade": "3", "family_doctor_signed": True,
        "employment": ["public_welfare_job"]})
    child = a.store.add_member(hid, {
        "name": "张小花", "relation": "daughter", "id_number": CHILD, "gender": "female",
        "school_stage": "primary", "school_grade": 6, "joined_on": "2013-09-01",
        "joined_reason": "birth"})
    grandpa = a.store.add_member(hid, {"name": "张老汉", "relation": "parent"})
    a.store.add_income(hid, {"year": year - 1, "category": "transfer", "item_kind": "dibao",
                             "item": "农村低保金", "amount": 4200})
    a.store.add_income(hid, {"year": year - 1, "category": "rigid_expense",
                             "item_kind": "medical_out_of_pocket", "item": "透析自付",
                             "amount": 6800})
    a.store.add_income(hid, {"year": year - 1, "category": "wage", "amount": 1800})
    helper = a.store.add_helper(hid, {"helper_name": "刘干部", "helper_phone": "13900000031",
                                      "helper_unit": "区农业农村局",
                                      "start_date": f"{year - 2}-01-01"})
    measure = a.store.add_measure(hid, {
        "category": "temporary_aid", "item": "临时救助", "year": year, "fund_source": "department",
        "planned_on": f"{year}-03-01", "planned_amount": 3000, "status": "planned"})
    visit = a.store.record_visit(hid, {
        "purpose": "日常走访", "notes": "户主透析费用高，了解报销情况",
        "helper_assignment_id": helper,
        "findings": ["risk_clue", "income_change"], "finding_note": "透析自付费用高",
        "proposes_entry": True})
    assert a.sync().pushed == {"applied": 10}

    # a second tablet gets every field as the first one wrote it
    b = make_device("secretary", "tab-b")
    b.sync()
    mine = snapshot(a.store)
    assert snapshot(b.store) == mine
    assert mine[("member", head)][2]["health"] == ["serious_illness", "disabled"]
    assert mine[("visit", visit)][2]["findings"] == ["risk_clue", "income_change"]

    # 增减员 on the second tablet: the grandfather leaves (the row stays) and the plan is done
    left_on = f"{year - 1}-12-31"
    b.store.update("member", grandpa, {"left_on": left_on, "left_reason": "death"})
    b.store.update("measure", measure, {"status": "done", "done_on": f"{year}-04-01",
                                        "amount": 2000})
    assert b.sync().pushed == {"applied": 2}
    a.sync()
    assert snapshot(a.store) == snapshot(b.store)
    assert a.store.get("member", grandpa).fields["left_reason"] == "death"
    assert [r.member_count for r in a.store.roster() if r.id == hid] == [2]  # the tablet roster

    # the read API: the file as the office sees it
    detail = client.get(f"/api/v1/households/{hid}", headers=login("cadre", "pc")).json()
    assert detail["household"]["member_count"] == 2  # 张老汉 left on 31 December last year
    assert {m["id"] for m in detail["members"]} == {head, child, grandpa}  # rows kept
    [last] = [r for r in detail["income_by_year"] if r["year"] == year - 1]
    assert last["people"] == 2 and last["per_capita"] == pytest.approx(3000)
    assert last["breakdown"]["dibao"] == 4200 and last["rigid_expense"] == 6800
    assert not last["partial"]
    found = {c["code"] for c in detail["cross_checks"]}
    assert "measure_amount_differs" in found  # planned 3000, done 2000
    assert "disability_grade_without_category" not in found
    # 计划实施 vs 已落实: the plan (1 March, 3000) and what was done (1 April, 2000)
    [gap] = [m["plan_vs_done"] for m in detail["measures"] if m["id"] == measure]
    assert (gap["planned_on"], gap["done_on"], gap["days_late"]) == (
        f"{year}-03-01", f"{year}-04-01", 31)
    assert gap["amount_difference"] == -1000 and "少1,000元" in gap["text"]
    make_user("clerk", "township_clerk", [TOWNSHIP_A], name="赵专干")
    console_login(client, "clerk")
    page = client.get(f"/console/households/{hid}").text
    assert "计划实施与已落实对比" in page and gap["text"] in page and "与计划不同" in page
    assert "已落实" in page and "已完成" not in page
    [v] = detail["visits"]
    assert v["helper_assignment_id"] == helper and v["proposes_entry"] is True

    # the tablet shows the same cross-checks (one rule: sync_protocol.crosscheck)
    view = Presenters(a.store, "http://127.0.0.1:9").household.view(hid)
    assert cross_check_lines(view) == ["核对提示：" + c["message"]
                                       for c in detail["cross_checks"]]
    # and the same 计划实施与已落实对比 as the console page (sync_protocol.crosscheck)
    title, *rows = plan_vs_done_lines(view["measures"])
    assert title == ("计划实施与已落实对比", False)
    [(line, differs)] = [r for r in rows if gap["text"] in r[0]]
    assert differs and line.endswith("【与计划不同】")


def test_the_same_member_errors_on_the_tablet_and_the_server(client, make_user, make_device,
                                                            login):
    make_user("cadre", "village_cadre", [VILLAGE_A1], name="王村干")
    a = make_device("cadre", "tab-a")
    hid = a.store.create_household(household())
    a.sync()
    bad = {"name": "张三", "id_number": HEAD, "gender": "female",
           "health": ["healthy", "chronic"]}
    with pytest.raises(StoreValidationError) as refused:
        a.store.add_member(hid, bad)
    tablet = {e["code"] for e in refused.value.errors}
    assert tablet == {"validation.id_number_gender_mismatch", "validation.health_conflict"}
    assert "性别：与身份证号不一致" in refused.value.message

    # an older or tampered client pushing the same change gets the same codes, per change
    resp = client.post("/api/v1/sync/push", headers=login("cadre", "tab-x"), json={
        "protocol": 1, "device_id": "tab-x",
        "changes": [change("member", uuid.uuid4(), {"household_id": hid, **bad}, device="tab-x")]})
    assert resp.status_code == 200, resp.text
    [result] = resp.json()["results"]
    assert result["status"] == "rejected"
    assert result["error"]["code"] in tablet and result["error"]["field"] in ("gender", "health")
    assert not result["error"]["message"].isascii()
    assert client.get(f"/api/v1/households/{hid}", headers=login("cadre", "pc")
                      ).json()["members"] == []  # nothing written
