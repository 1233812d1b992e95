"""五清 v2 rules (pure): the secretary-only item, the two figures, rectification, the helper-visit
rule and the honest 底子清 hint."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from sync_protocol.enums import Role
from sync_protocol.errors import ErrorCode
from sync_protocol.policy import HintPolicy
from sync_protocol.templates import TEMPLATES, WUQING_DSWZ, WUQING_V1, ChecklistTemplateDef
from sync_protocol.wuqing import (
    BASE_FILE_CANNOT_CHECK,
    HouseholdBundle,
    checklist_change_error,
    checklist_role_error,
    compute_hints,
    is_all_clear,
    is_checked,
    overdue_rectifications,
    rectification_overdue,
    status_label,
    visit_by_helper,
)
from tests.test_wuqing import TODAY, good_bundle

POLICY = HintPolicy(today=TODAY)


@pytest.mark.parametrize("role", list(Role))
def test_only_secretaries_set_secretary_knows(role):
    allowed = role in (Role.village_secretary, Role.first_secretary)

    def judge(who, code, fields, stored=None, **kw):
        return checklist_role_error(who, WUQING_V1, code, fields, stored, **kw)

    for verdict in ("clear", "unclear"):
        got = judge(role, "secretary_knows", {"verdict": verdict})
        assert got == (None if allowed else ErrorCode.checklist_role_forbidden)
        # taking a confirmed verdict back (to unchecked, or by deleting) is setting it too
        back = judge(role, "secretary_knows", {"verdict": "unchecked"}, verdict)
        assert back == (None if allowed else ErrorCode.checklist_role_forbidden)
        gone = judge(role, "secretary_knows", {}, verdict, deleting=True)
        assert gone == (None if allowed else ErrorCode.checklist_role_forbidden)
    # other items, other fields and an unchanged verdict are anyone's
    assert judge(role, "base_file", {"verdict": "clear"}) is None
    assert judge(role, "secretary_knows", {"note": "补充说明"}, "clear") is None
    assert judge(role, "secretary_knows", {"verdict": "clear"}, "clear") is None
    assert judge(role, "secretary_knows", {"verdict": "unchecked"}) is None
    assert judge(None, "secretary_knows", {"verdict": "clear"}) == \
        ErrorCode.checklist_role_forbidden


def test_the_secretary_item_is_the_templates_not_a_code():
    """The template says which item only the 村书记 judges: wuqing.v1's 村书记心里清, none of
    wuqing.dswz's, and a county's copy whose item has another code; a copy stored before the
    flag existed keeps the built-in one's."""
    assert [i.code for i in WUQING_V1.items if i.secretary_only] == ["secretary_knows"]
    assert [i.code for i in WUQING_DSWZ.items if i.secretary_only] == []
    for item in WUQING_DSWZ.items:  # every dswz item is the village cadre's to judge
        assert checklist_role_error(Role.village_cadre, WUQING_DSWZ, item.code,
                                    {"verdict": "clear"}) is None
    # a county's template: 村书记心里清 under another code (stored, as the reference data has it)
    county = {**WUQING_DSWZ.to_dict(), "items": [*WUQING_DSWZ.to_dict()["items"], {
        "code": "shuji_xinliqing", "title": "村书记心里清", "secretary_only": True}]}
    template = ChecklistTemplateDef.from_dict(county)
    assert checklist_role_error(Role.village_cadre, template, "shuji_xinliqing",
                                {"verdict": "clear"}) == ErrorCode.checklist_role_forbidden
    assert checklist_role_error(Role.village_secretary, template, "shuji_xinliqing",
                                {"verdict": "clear"}) is None
    # the code alone means nothing: secretary_knows in a template that does not flag it
    plain = ChecklistTemplateDef.from_dict({"code": "wuqing.other", "items": [
        {"code": "secretary_knows", "title": "村书记心里清"}]})
    assert checklist_role_error(Role.village_cadre, plain, "secretary_knows",
                                {"verdict": "clear"}) is None
    # a copy of wuqing.v1 stored before the flag existed (renamed titles) keeps it
    old = {**WUQING_V1.to_dict(), "items": [{k: v for k, v in i.items() if k != "secretary_only"}
                                            for i in WUQING_V1.to_dict()["items"]]}
    assert ChecklistTemplateDef.from_dict(old).item("secretary_knows").secretary_only
    # a synced change is judged by the template its template_code names
    named = {"wuqing.county": ChecklistTemplateDef.from_dict({**county, "code": "wuqing.county"}),
             **TEMPLATES}
    change = {"template_code": "wuqing.county", "item_code": "shuji_xinliqing",
              "verdict": "clear"}
    assert checklist_change_error(Role.village_cadre, named.__getitem__, change) == \
        ErrorCode.checklist_role_forbidden
    assert checklist_change_error(Role.village_cadre, named.__getitem__,
                                  {**change, "template_code": "wuqing.dswz"}) is None


def _answer(b: HouseholdBundle, code: str, verdict: str, **extra) -> dict:
    row = {"id": str(uuid.uuid4()), "household_id": b.household["id"],
           "template_code": "wuqing.v1", "item_code": code, "verdict": verdict,
           "checked_at": "2026-11-01T08:00:00Z", **extra}
    b.checklist.append(row)
    return row


def test_checked_and_all_clear_are_two_figures():
    b = good_bundle()
    assert not is_checked(b) and not is_all_clear(b)
    codes = list(WUQING_V1.item_codes)
    for code in codes[:-1]:
        _answer(b, code, "clear")
    assert not is_checked(b) and not is_all_clear(b)
    _answer(b, codes[-1], "unclear")
    assert is_checked(b) and not is_all_clear(b)
    assert "完成" not in status_label(True, False)
    _answer(b, codes[-1], "clear", checked_at="2026-11-05T08:00:00Z")
    assert is_checked(b) and is_all_clear(b)
    assert status_label(True, True) == "五清已核查·全部为清"
    assert status_label(False, False) == "五清未核查完"


def test_rectification_overdue_and_listing():
    b = good_bundle()
    for code in WUQING_V1.item_codes:
        _answer(b, code, "clear")
    late = _answer(b, "measures", "unclear", rectify_by="2026-11-01",
                   checked_at="2026-11-02T08:00:00Z")
    _answer(b, "helper_duty", "unclear", rectify_by="2026-12-31",
            checked_at="2026-11-02T08:00:00Z")
    _answer(b, "trajectory", "unclear", rectify_by="2026-10-01", rectified_at="2026-10-20",
            checked_at="2026-11-02T08:00:00Z")
    assert [r["id"] for r in overdue_rectifications(b, WUQING_V1, TODAY)] == [late["id"]]
    # due today is not overdue; no due date is not overdue; a clear item never is
    assert not rectification_overdue({"verdict": "unclear", "rectify_by": TODAY.isoformat()},
                                     TODAY)
    assert not rectification_overdue({"verdict": "unclear"}, TODAY)
    assert not rectification_overdue({"verdict": "clear", "rectify_by": "2026-01-01"}, TODAY)
    assert rectification_overdue({"verdict": "unclear", "rectify_by": dt.date(2026, 11, 22)},
                                 TODAY)


def test_helper_duty_counts_only_the_current_helpers_visits():
    b = good_bundle()
    helper = b.helpers[0]
    visit = b.visits[0]
    assert compute_hints(b, POLICY)["helper_duty"].ok is True
    # a visit by someone else does not count
    visit["visitor_id"] = str(uuid.uuid4())
    hint = compute_hints(b, POLICY)["helper_duty"]
    assert hint.ok is False and any("现任帮扶责任人" in m for m in hint.messages)
    # ... unless the helper went along (co-visitor), or the visitor's name is the helper's
    visit["co_visitor"] = "李干部、王帮扶"
    assert compute_hints(b, POLICY)["helper_duty"].ok is True
    visit["co_visitor"] = None
    b.user_names = {visit["visitor_id"]: "王帮扶"}
    assert compute_hints(b, POLICY)["helper_duty"].ok is True
    b.user_names = {}
    # a former helper's visit does not count for the current one
    visit["visitor_id"] = helper["helper_user_id"]
    helper["end_date"] = "2026-06-30"
    b.helpers.append({"id": str(uuid.uuid4()), "helper_name": "赵新", "helper_unit": "区财政局",
                      "helper_phone": "13900000003", "start_date": "2026-07-01"})
    assert not visit_by_helper(visit, [b.helpers[1]])
    assert compute_hints(b, POLICY)["helper_duty"].ok is False


def test_base_file_never_passes_an_empty_file_and_says_what_it_cannot_check():
    empty = HouseholdBundle(household={"id": str(uuid.uuid4()), "village_code": "411702105201",
                                       "head_name": "张三", "head_id_number": None})
    hint = compute_hints(empty, POLICY)["base_file"]
    assert hint.ok is False
    assert any("档案几乎为空" in m for m in hint.messages)
    assert hint.cannot_check == [BASE_FILE_CANNOT_CHECK] and "明白卡" in BASE_FILE_CANNOT_CHECK
    good = compute_hints(good_bundle(), POLICY)["base_file"]
    assert good.ok is True and good.cannot_check == [BASE_FILE_CANNOT_CHECK]
    assert good.to_dict()["cannot_check"] == [BASE_FILE_CANNOT_CHECK]


# --- the tablet: the same rule before anything is saved -----------------------------------------


@pytest.mark.parametrize("role", list(Role))
def test_tablet_store_checks_the_role_before_saving(tmp_path, role):
    from kivy_client.store import Store, StoreValidationError
    from tests.client.util import VILLAGE, household

    store = Store(tmp_path / "tablet.db", device_id="tab-wuqing")
    try:
        store.set_current_user(str(uuid.uuid4()), "测试", [VILLAGE], str(role))
        hid = store.create_household(household())
        before = len(store.outbox())
        allowed = role in (Role.village_secretary, Role.first_secretary)
        if allowed:
            store.set_checklist_verdict(hid, "secretary_knows", "clear")
            assert len(store.outbox()) == before + 1
        else:
            with pytest.raises(StoreValidationError) as exc:
                store.set_checklist_verdict(hid, "secretary_knows", "clear")
            assert exc.value.code == ErrorCode.checklist_role_forbidden
            assert len(store.outbox()) == before  # nothing saved
        # other items, with a check level and a rectification, anyone in the village may set
        store.set_checklist_verdict(hid, "measures", "unclear", extra={
            "check_level": "self", "rectify_by": "2026-12-31", "rectify_note": "补措施"})
        saved = [r for r in store.children(hid, "checklist_item")
                 if r.fields["item_code"] == "measures"][0]
        assert saved.fields["rectify_by"] == "2026-12-31"
        assert saved.fields["check_level"] == "self"
    finally:
        store.close()
