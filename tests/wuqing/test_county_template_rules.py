"""The pure rules of a county's own 五清 template (``sync_protocol.templates``): what a new version
must meet, which template a county may use and which it may retire, and that every face's lookup
(``policy.template_code`` and ``policy.template``) takes a template the stored rows know instead
of falling back."""

from __future__ import annotations

from typing import Any

import pytest

from sync_protocol.errors import MESSAGES, ErrorCode
from sync_protocol.policy import CountyRules, hint_policy, template, template_code
from sync_protocol.templates import (
    COMPUTED_HINTS,
    DEFAULT_TEMPLATE_CODE,
    WUQING_DSWZ,
    WUQING_V1,
    choice_error,
    new_template,
    next_version,
    recordable_templates,
    retire_error,
    template_county,
)
from sync_protocol.wuqing import checklist_item_error

COUNTY = "411702"
CODE = "411702.wuqing.v2"


def good(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "code": CODE, "name": "五清（本县2026版）",
        "items": [
            {"code": "base_count", "title": "底数清", "description": "家庭人口、收入等底数准确",
             "hint": "base_file"},
            {"code": "problems", "title": "问题清"},
            {"code": "secretary", "title": "村书记心里清", "secretary_only": True},
        ]}
    data.update(over)
    return data


def codes(data: Any, existing: set[str] | None = None) -> list[tuple[str, str | None]]:
    made, errors = new_template(data, COUNTY, existing or set())
    assert (made is None) == bool(errors)
    return [(str(e.code), e.field) for e in errors]


def test_a_valid_template_version():
    made, errors = new_template(good(), COUNTY, set())
    assert errors == [] and made is not None
    assert made.code == CODE and made.item_codes == ("base_count", "problems", "secretary")
    base, problems, secretary = made.items
    assert (base.hint_code, base.manual_only) == ("base_file", False)
    assert problems.manual_only and not problems.secretary_only
    assert secretary.secretary_only and secretary.manual_only
    assert template_county(CODE) == COUNTY and template_county("wuqing.v1") is None


@pytest.mark.parametrize(("data", "expected"), [
    (good(code="wuqing.v1"), [("template.built_in", "code")]),
    (good(code="wuqing.dswz"), [("template.built_in", "code")]),
    (good(code="411702.wuqing"), [("template.code_invalid", "code")]),
    (good(code="411702.WuQing.v2"), [("template.code_invalid", "code")]),
    (good(code="411702.wuqing.v0"), [("template.code_invalid", "code")]),
    (good(code=7), [("template.code_invalid", "code")]),
    (good(code="411703.wuqing.v1"), [("template.county_mismatch", "code")]),
    (good(name=" "), [("template.name_invalid", "name")]),
    (good(name="名" * 61), [("template.name_invalid", "name")]),
    (good(items=[]), [("template.items_count", "items")]),
    (good(items=[{"code": f"i{n}", "title": "项"} for n in range(21)]),
     [("template.items_count", "items")]),
    (good(items="底数清"), [("template.items_count", "items")]),
    (good(items=[{"code": "a", "title": "底数清"}, {"code": "a", "title": "问题清"}]),
     [("template.item_code_duplicate", "items[1].code")]),
    (good(items=[{"code": "A-1", "title": "底数清"}]),
     [("template.item_code_invalid", "items[0].code")]),
    (good(items=[{"code": "a", "title": ""}]), [("template.item_title_invalid", "items[0].title")]),
    (good(items=[{"code": "a", "title": "清" * 31}]),
     [("template.item_title_invalid", "items[0].title")]),
    (good(items=[{"code": "a", "title": "底数清", "description": "说" * 301}]),
     [("template.description_too_long", "items[0].description")]),
    (good(items=[{"code": "a", "title": "底数清", "hint": "income"}]),
     [("template.hint_unknown", "items[0].hint")]),
    (good(items=[{"code": "a", "title": "底数清", "hint": ["base_file"]}]),
     [("template.hint_unknown", "items[0].hint")]),
    (good(items=[{"code": "a", "title": "底数清", "secretary_only": "yes"}]),
     [("template.item_invalid", "items[0].secretary_only")]),
    (good(items=[{"code": "a", "title": "底数清", "weight": 3}]),
     [("template.item_invalid", "items[0]")]),
    (good(items=["底数清"]), [("template.item_invalid", "items[0]")]),
    (good(extra=1), [("request.malformed", None)]),
    ([], [("request.malformed", None)]),
])
def test_refusals(data, expected):
    assert codes(data) == expected


@pytest.mark.parametrize("hostile", ["底数\x00清", "底数\x1b[31m清", "底数\u202e清", "底\u200b数清",
                                     "底数\u2028清", "底数\ud800清", "底数\x7f清"])
def test_hostile_text_is_refused(hostile):
    assert codes(good(name=hostile)) == [("template.text_invalid", "name")]
    assert codes(good(items=[{"code": "a", "title": hostile}])) == [
        ("template.text_invalid", "items[0].title")]
    assert codes(good(items=[{"code": "a", "title": "底数清", "description": hostile}])) == [
        ("template.text_invalid", "items[0].description")]


def test_every_problem_is_listed_with_its_row():
    data = good(name="", items=[{"code": "a", "title": ""}, {"code": "a", "title": "问题清"},
                                {"code": "Z", "title": "x", "hint": "nope"}])
    assert codes(data) == [
        ("template.name_invalid", "name"), ("template.item_title_invalid", "items[0].title"),
        ("template.item_code_duplicate", "items[1].code"),
        ("template.item_code_invalid", "items[2].code"), ("template.hint_unknown", "items[2].hint")]


def test_an_existing_version_is_never_overwritten():
    assert codes(good(), {CODE}) == [("template.exists", "code")]
    assert next_version(CODE, COUNTY, {CODE}) == "411702.wuqing.v3"
    assert next_version("wuqing.dswz", COUNTY, set()) == "411702.dswz.v1"
    assert next_version("wuqing.v1", COUNTY, {"411702.wuqing.v1"}) == "411702.wuqing.v2"


def test_new_codes_have_chinese_messages():
    for code in ErrorCode:
        if code.value.startswith("template."):
            assert any("\u4e00" <= ch <= "\u9fff" for ch in MESSAGES[code])
    assert set(COMPUTED_HINTS) == {"base_file", "measures", "helper_duty", "trajectory"}


def test_which_template_a_county_may_use():
    known = {CODE, "411703.wuqing.v1", "legacy.custom"}
    assert choice_error("wuqing.dswz", COUNTY, ()) is None
    assert choice_error(CODE, COUNTY, known) is None
    assert choice_error("legacy.custom", COUNTY, known) is None
    assert choice_error("411703.wuqing.v1", COUNTY, known) == ErrorCode.template_county_mismatch
    assert choice_error("411702.wuqing.v9", COUNTY, known) == ErrorCode.template_not_found
    assert choice_error("nothing", COUNTY, known) == ErrorCode.template_not_found


def test_a_retired_version_cannot_be_chosen():
    known = {"411702.wuqing.v3"}
    assert choice_error(CODE, COUNTY, known, {CODE}) == ErrorCode.template_retired
    assert choice_error("411702.wuqing.v3", COUNTY, known, {CODE}) is None
    # another county's retired one is still another county's; a face that passes no retired
    # codes (the policy lookup) takes a retired one as unknown
    assert choice_error("411703.wuqing.v1", COUNTY, known, {"411703.wuqing.v1"}) == \
        ErrorCode.template_county_mismatch
    assert choice_error(CODE, COUNTY, known) == ErrorCode.template_not_found
    rules = CountyRules(county_code=COUNTY, checklist_template=CODE)
    assert template_code(rules, known) == DEFAULT_TEMPLATE_CODE


@pytest.mark.parametrize(("code", "counties", "stored", "in_use", "expected"), [
    (CODE, [COUNTY], True, False, None),
    (CODE, ["411703", COUNTY], True, False, None),  # an admin of several counties
    (CODE, [COUNTY], True, True, ErrorCode.template_in_use),  # the policy uses it
    (CODE, [COUNTY], False, False, ErrorCode.template_not_found),
    (CODE, ["411703"], True, False, ErrorCode.template_not_own),
    (CODE, ["411703"], False, False, ErrorCode.template_not_own),  # existence is not told
    ("wuqing.v1", [COUNTY], True, False, ErrorCode.template_built_in_kept),
    ("wuqing.dswz", [COUNTY], True, True, ErrorCode.template_built_in_kept),
    ("legacy.custom", [COUNTY], True, False, ErrorCode.template_not_own),  # shared by counties
    ("legacy.custom", [COUNTY], False, False, ErrorCode.template_not_found),
])
def test_which_version_a_county_may_retire(code, counties, stored, in_use, expected):
    assert retire_error(code, counties, stored=stored, in_use=in_use) == expected


def test_template_code_takes_a_known_county_template():
    rules = CountyRules(county_code=COUNTY, checklist_template=CODE)
    assert template_code(rules) == DEFAULT_TEMPLATE_CODE  # unknown to this face: the default
    assert template_code(rules, {CODE}) == CODE
    other = CountyRules(county_code="411703", checklist_template=CODE)
    assert template_code(other, {CODE}) == DEFAULT_TEMPLATE_CODE  # never another county's
    assert hint_policy(rules, {}, known={CODE}).template_code == CODE
    made, _ = new_template(good(), COUNTY, set())
    assert made is not None
    stored = [made.to_dict(), WUQING_DSWZ.to_dict()]
    resolved = template(rules, stored)
    assert resolved.to_dict() == made.to_dict()  # stored and read back unchanged
    assert template(rules).code == DEFAULT_TEMPLATE_CODE


def test_which_templates_a_new_check_may_name():
    """``recordable_templates``: the current one, the county's own stored versions (whatever the
    face passes: the server passes retired ones too), the built-in or pre-county ones its policy
    named before — never another county's nor an unknown code; ``checklist_item_error`` judges
    the item by the template its code names."""
    mine = {**good(), "active": False}  # retired
    v3 = {**good(code="411702.wuqing.v3"), "active": True}
    theirs = good(code="411703.wuqing.v1")
    legacy = {**WUQING_V1.to_dict(), "code": "wuqing.v2", "name": "旧版"}  # before county codes
    stored = [mine, v3, theirs, legacy, WUQING_DSWZ.to_dict()]
    used = ["wuqing.v1", "wuqing.v2", "411703.wuqing.v1", "nothing.v1"]
    allowed = recordable_templates(COUNTY, "411702.wuqing.v3", stored, used)
    assert sorted(allowed) == ["411702.wuqing.v2", "411702.wuqing.v3", "wuqing.v1", "wuqing.v2"]
    assert allowed["wuqing.v2"].name == "旧版" and allowed[CODE].items[2].secretary_only
    # nothing used before, nothing stored: the current one alone
    assert list(recordable_templates(COUNTY, WUQING_DSWZ.code, [])) == [WUQING_DSWZ.code]

    def error(template: str, item: str) -> tuple[ErrorCode, str] | None:
        return checklist_item_error(allowed, {"template_code": template, "item_code": item})

    assert error(CODE, "problems") is None and error("wuqing.v1", "secretary_knows") is None
    assert error("wuqing.v1", "problems") == (ErrorCode.validation_item_unknown, "item_code")
    for code in ("411703.wuqing.v1", WUQING_DSWZ.code, "nothing.v1", ""):
        assert error(code, "problems") == (ErrorCode.validation_template_unknown,
                                           "template_code")
