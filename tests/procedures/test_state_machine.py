"""The monitoring procedure state machine (sync_protocol.procedure), table-driven: every move
between every pair of stages for every role, then each condition on its own."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest

from sync_protocol.enums import ProcedureStage, Role
from sync_protocol.errors import MESSAGES, ErrorCode
from sync_protocol.procedure import (
    DERIVED_FIELDS,
    HouseholdFacts,
    OpenProcedure,
    ProcedurePolicy,
    category_fits,
    derived_field_refusal,
    derived_household_fields,
    household_facts,
    is_overdue,
    judge,
    per_capita_net_income,
)

TODAY = dt.date(2026, 11, 30)
POLICY = ProcedurePolicy(notice_days=5, entry_deadline_days=15, min_monitored_days=180,
                         monitoring_lines={2025: 7000.0})
VILLAGE = {"village_cadre", "first_secretary", "village_secretary"}
CLERK = {"township_clerk"}
COUNTY = {"county_admin"}
ROLES = sorted(VILLAGE | CLERK | COUNTY)
STAGES = [s.value for s in ProcedureStage]
OPEN = ["proposed", "verified", "reviewed", "notice", "township_approved", "returned"]

# written out by hand from domain.md: (from, to) -> roles allowed
ALLOWED: dict[tuple[str, str], set[str]] = {
    ("proposed", "verified"): VILLAGE,
    ("verified", "reviewed"): VILLAGE,
    ("reviewed", "notice"): VILLAGE,
    ("notice", "township_approved"): CLERK,
    ("township_approved", "approved"): COUNTY,
    ("township_approved", "rejected"): COUNTY,
    ("returned", "proposed"): VILLAGE,
    ("proposed", "returned"): CLERK | COUNTY,
    ("verified", "returned"): CLERK | COUNTY,
    ("reviewed", "returned"): CLERK | COUNTY,
    ("notice", "returned"): CLERK | COUNTY,
    ("township_approved", "returned"): CLERK | COUNTY,
    ("proposed", "withdrawn"): VILLAGE,
    ("verified", "withdrawn"): VILLAGE,
    ("reviewed", "withdrawn"): VILLAGE,
    ("returned", "withdrawn"): VILLAGE,
}

MOVE_FIELDS: dict[str, dict[str, Any]] = {
    "verified": {"verifiers": ["张三", "李四"], "verified_at": "2026-11-20T09:00:00Z"},
    "reviewed": {"review_note": "村民代表会议评议同意"},
    "notice": {"notice_start": "2026-11-21", "notice_end": "2026-11-26"},
    "returned": {"return_reason": "核实材料不全"},
    "approved": {"decision_note": "同意"},
    "rejected": {"decision_note": "不符合条件"},
}


def entry(stage: str, **extra: Any) -> dict[str, Any]:
    return {"household_id": "h1", "kind": "entry", "source": "screening",
            "category": "sudden_hardship", "risk_types": ["illness", "large_expense"],
            "stage": stage, "proposed_on": "2026-11-18", "verifiers": ["张三", "李四"],
            "review_note": "同意", "notice_start": "2026-11-21", "notice_end": "2026-11-26",
            **extra}


def elimination(stage: str, **extra: Any) -> dict[str, Any]:
    return {**entry(stage), "kind": "elimination", "method": "assisted", "category": None,
            "source": None, **extra}


ORDINARY = HouseholdFacts(household_type="ordinary", monitoring_status="none",
                          labor_abilities=("normal",))
MONITORED = HouseholdFacts(household_type="exited", monitoring_status="monitored",
                           monitoring_since=TODAY - dt.timedelta(days=200),
                           labor_abilities=("normal", "none"),
                           income_per_capita={2025: 9000.0})


def move(current: dict[str, Any], to: str, role: str, facts: HouseholdFacts = ORDINARY,
         **fields: Any):
    change = {"stage": to, **MOVE_FIELDS.get(to, {}), **fields}
    return judge(current, change, role, facts, POLICY, TODAY, record_id="p1")


# --- every move, every role -------------------------------------------------------------------


@pytest.mark.parametrize(("frm", "to", "role"), [
    (f, t, r) for f, t in itertools.product(STAGES, STAGES) if f != t for r in ROLES])
def test_every_move_for_every_role(frm: str, to: str, role: str) -> None:
    for proc, facts in ((entry(frm), ORDINARY), (elimination(frm), MONITORED)):
        verdict = move(proc, to, role, facts)
        if role in ALLOWED.get((frm, to), set()):
            assert verdict.ok, (frm, to, role, verdict)
            assert verdict.moves
        else:
            assert not verdict.ok
            if frm in ("approved", "rejected", "withdrawn"):
                assert verdict.code == ErrorCode.procedure_closed
            elif (frm, to) in ALLOWED:
                assert verdict.code == ErrorCode.procedure_role_forbidden
            else:
                assert verdict.code == ErrorCode.procedure_transition_invalid
            assert verdict.message == MESSAGES[verdict.code]


@pytest.mark.parametrize("role", ROLES)
def test_create_only_by_village_roles_and_only_as_proposed(role: str) -> None:
    fields = {k: v for k, v in entry("proposed").items()
              if k in ("household_id", "kind", "source", "category", "risk_types", "stage")}
    verdict = judge(None, fields, role, ORDINARY, POLICY, TODAY)
    if role in VILLAGE:
        assert verdict.ok and verdict.to_stage == "proposed"
    else:
        assert verdict.code == ErrorCode.procedure_role_forbidden
    for stage in STAGES:
        if stage != "proposed":
            assert judge(None, {**fields, "stage": stage}, role, ORDINARY, POLICY,
                         TODAY).code == ErrorCode.procedure_transition_invalid


def test_unknown_role_is_refused() -> None:
    assert move(entry("proposed"), "verified", "guest").code == ErrorCode.procedure_role_forbidden
    assert judge(None, entry("proposed"), "guest", ORDINARY, POLICY, TODAY).code == \
        ErrorCode.procedure_role_forbidden


def test_delete_is_never_allowed() -> None:
    for role in ROLES:
        assert judge(entry("proposed"), {}, role, ORDINARY, POLICY, TODAY,
                     deleting=True).code == ErrorCode.procedure_delete_forbidden


# --- conditions -----------------------------------------------------------------------------


def test_verification_needs_two_distinct_verifiers() -> None:
    cur = entry("proposed", verifiers=[])
    assert move(cur, "verified", "village_cadre", verifiers=["张三"]).code == \
        ErrorCode.procedure_verifiers_missing
    assert move(cur, "verified", "village_cadre", verifiers=["张三", " 张三 "]).code == \
        ErrorCode.procedure_verifiers_missing
    assert move(cur, "verified", "village_cadre", verifiers=["张三", "李四"]).ok


def test_review_needs_a_note() -> None:
    cur = entry("verified", review_note=None)
    verdict = move(cur, "reviewed", "village_secretary", review_note="  ")
    assert verdict.code == ErrorCode.procedure_review_note_missing
    assert verdict.field == "review_note"


def test_notice_must_run_the_county_days() -> None:
    cur = entry("reviewed", notice_start=None, notice_end=None)
    too_short = move(cur, "notice", "village_cadre", notice_start="2026-11-21",
                     notice_end="2026-11-25")
    assert too_short.code == ErrorCode.procedure_notice_too_short
    assert "5天" in too_short.message
    assert move(cur, "notice", "village_cadre", notice_start="2026-11-21",
                notice_end="2026-11-26").ok
    assert move(cur, "notice", "village_cadre", notice_start=None,
                notice_end="2026-11-26").code == ErrorCode.validation_field_required
    seven = ProcedurePolicy(notice_days=7)
    assert judge(cur, {"stage": "notice", "notice_start": "2026-11-21",
                       "notice_end": "2026-11-26"}, "village_cadre", ORDINARY, seven,
                 TODAY).code == ErrorCode.procedure_notice_too_short


def test_township_approval_needs_notice_over_and_no_open_objection() -> None:
    running = entry("notice", notice_start="2026-11-25", notice_end="2026-11-30")
    assert move(running, "township_approved", "township_clerk").code == \
        ErrorCode.procedure_notice_not_over
    over = entry("notice")
    assert move(over, "township_approved", "township_clerk").ok
    objected = entry("notice", objection="邻居反映该户有车辆")
    assert move(objected, "township_approved", "township_clerk").code == \
        ErrorCode.procedure_objection_open
    settled = entry("notice", objection="邻居反映该户有车辆", objection_resolution="经核实不属实")
    assert move(settled, "township_approved", "township_clerk").ok


def test_objection_recorded_by_office_during_notice_only() -> None:
    cur = entry("notice")
    assert judge(cur, {"objection": "有异议"}, "township_clerk", ORDINARY, POLICY, TODAY).ok
    assert judge(cur, {"objection": "有异议"}, "county_admin", ORDINARY, POLICY, TODAY).ok
    assert judge(cur, {"objection": "有异议"}, "village_cadre", ORDINARY, POLICY,
                 TODAY).code == ErrorCode.procedure_field_locked
    assert judge(entry("reviewed"), {"objection": "x"}, "township_clerk", ORDINARY, POLICY,
                 TODAY).code == ErrorCode.procedure_field_locked


def test_county_decision_and_returns_need_reasons() -> None:
    cur = entry("township_approved")
    assert move(cur, "approved", "county_admin", decision_note="").code == \
        ErrorCode.procedure_decision_note_missing
    assert move(cur, "rejected", "county_admin", decision_note=" ").code == \
        ErrorCode.procedure_decision_note_missing
    for stage in OPEN[:-1]:
        assert move(entry(stage), "returned", "township_clerk", return_reason="").code == \
            ErrorCode.procedure_reason_missing


def test_village_edits_only_while_draft() -> None:
    for stage in ("proposed", "verified", "reviewed", "returned"):
        assert judge(entry(stage), {"risk_types": ["illness"]}, "village_cadre", ORDINARY,
                     POLICY, TODAY).ok
    for stage in ("notice", "township_approved"):
        assert judge(entry(stage), {"risk_types": ["illness"]}, "village_cadre", ORDINARY,
                     POLICY, TODAY).code == ErrorCode.procedure_field_locked
    for stage in ("approved", "rejected", "withdrawn"):
        assert judge(entry(stage), {"review_note": "x"}, "county_admin", ORDINARY, POLICY,
                     TODAY).code == ErrorCode.procedure_closed
    # an edit must keep the stage's conditions
    assert judge(entry("verified"), {"verifiers": ["张三"]}, "village_cadre", ORDINARY, POLICY,
                 TODAY).code == ErrorCode.procedure_verifiers_missing
    assert judge(entry("proposed"), {"kind": "elimination"}, "village_cadre", ORDINARY, POLICY,
                 TODAY).code == ErrorCode.validation_field_readonly
    # sending the current values again is no change
    assert judge(entry("approved"), entry("approved"), "village_cadre", ORDINARY, POLICY,
                 TODAY).ok


def test_server_stamped_fields_are_ignored() -> None:
    assert judge(entry("notice"), {"stage_by": "x", "stage_at": "2026-01-01T00:00:00Z"},
                 "village_cadre", ORDINARY, POLICY, TODAY).ok


def test_one_open_procedure_of_a_kind() -> None:
    fields = {"household_id": "h1", "kind": "entry", "source": "self_report",
              "category": "marginal", "risk_types": ["illness"]}
    busy = HouseholdFacts(household_type="ordinary", monitoring_status="none",
                          open_procedures=(OpenProcedure("other", "entry"),))
    assert judge(None, fields, "village_cadre", busy, POLICY, TODAY).code == \
        ErrorCode.procedure_already_open
    other_kind = HouseholdFacts(household_type="ordinary", monitoring_status="none",
                                open_procedures=(OpenProcedure("other", "elimination"),))
    assert judge(None, fields, "village_cadre", other_kind, POLICY, TODAY).ok
    # re-proposing a returned procedure does not count itself
    mine = HouseholdFacts(household_type="ordinary", monitoring_status="none",
                          open_procedures=(OpenProcedure("p1", "entry"),))
    assert move(entry("returned"), "proposed", "village_cadre", mine).ok
    both = HouseholdFacts(household_type="ordinary", monitoring_status="none",
                          open_procedures=(OpenProcedure("p1", "entry"),
                                           OpenProcedure("p2", "entry")))
    assert move(entry("returned"), "proposed", "village_cadre", both).code == \
        ErrorCode.procedure_already_open


def test_entry_rules() -> None:
    base = {"household_id": "h1", "kind": "entry", "source": "screening",
            "risk_types": ["illness"]}
    exited = HouseholdFacts(household_type="exited", monitoring_status="none")
    ordinary = HouseholdFacts(household_type="ordinary", monitoring_status="eliminated")
    assert judge(None, {**base, "category": "unstable"}, "village_cadre", exited, POLICY,
                 TODAY).ok
    assert judge(None, {**base, "category": "unstable"}, "village_cadre", ordinary, POLICY,
                 TODAY).code == ErrorCode.procedure_category_mismatch
    assert judge(None, {**base, "category": "marginal"}, "village_cadre", exited, POLICY,
                 TODAY).code == ErrorCode.procedure_category_mismatch
    for facts in (exited, ordinary):
        assert judge(None, {**base, "category": "sudden_hardship"}, "village_cadre", facts,
                     POLICY, TODAY).ok
    assert judge(None, {**base, "category": "sudden_hardship"}, "village_cadre", MONITORED,
                 POLICY, TODAY).code == ErrorCode.procedure_already_monitored
    assert judge(None, {**base, "category": "none"}, "village_cadre", exited, POLICY,
                 TODAY).code == ErrorCode.validation_enum_invalid
    # source and risk types may follow the proposal, but the notice needs them
    assert judge(None, {"household_id": "h1", "kind": "entry", "category": "marginal"},
                 "village_cadre", ordinary, POLICY, TODAY).ok
    assert judge(None, {"household_id": "h1", "kind": "entry"}, "village_cadre", ordinary,
                 POLICY, TODAY).field == "category"
    for name in ("source", "risk_types"):
        missing = move(entry("reviewed", notice_start=None, notice_end=None, **{name: None}),
                       "notice", "village_cadre")
        assert missing.code == ErrorCode.validation_field_required and missing.field == name
    no_method = move(elimination("reviewed", method=None), "notice", "village_cadre", MONITORED)
    assert no_method.field == "method"
    assert category_fits("sudden_hardship", None)
    assert not category_fits("unstable", None)


ELIM = {"household_id": "h1", "kind": "elimination", "method": "natural"}


def _facts(**kw: Any) -> HouseholdFacts:
    values: dict[str, Any] = {"household_type": "exited", "monitoring_status": "monitored",
                              "monitoring_since": TODAY - dt.timedelta(days=200),
                              "labor_abilities": ("normal",), "income_per_capita": {2025: 9000}}
    values.update(kw)
    return HouseholdFacts(**values)


def test_elimination_rules() -> None:
    assert judge(None, ELIM, "village_cadre", _facts(), POLICY, TODAY).ok
    cases = [
        (_facts(monitoring_status="none"), ErrorCode.procedure_not_monitored),
        (_facts(monitoring_status="eliminated"), ErrorCode.procedure_not_monitored),
        (_facts(monitoring_since=TODAY - dt.timedelta(days=179)), ErrorCode.procedure_too_early),
        (_facts(monitoring_since=None), ErrorCode.procedure_too_early),
        (_facts(labor_abilities=("lost", "none")), ErrorCode.procedure_no_labor_household),
        (_facts(labor_abilities=()), ErrorCode.procedure_no_labor_household),
        (_facts(income_per_capita={2024: 9000}), ErrorCode.procedure_income_missing),
        (_facts(income_per_capita={2025: 6999.99}), ErrorCode.procedure_income_below_line),
    ]
    for facts, code in cases:
        assert judge(None, ELIM, "first_secretary", facts, POLICY, TODAY).code == code, code
    assert judge(None, ELIM, "village_cadre", _facts(monitoring_since=TODAY - dt.timedelta(
        days=180)), POLICY, TODAY).ok
    assert judge(None, ELIM, "village_cadre", _facts(labor_abilities=("weak", "lost")), POLICY,
                 TODAY).ok
    assert judge(None, ELIM, "village_cadre", _facts(), ProcedurePolicy(),
                 TODAY).code == ErrorCode.procedure_income_line_missing
    assert judge(None, {**ELIM, "method": None}, "village_cadre", _facts(), POLICY, TODAY).ok
    # too early comes first: a household just monitored has no labour or income to judge yet
    assert judge(None, ELIM, "village_cadre", _facts(
        monitoring_since=TODAY, labor_abilities=(), income_per_capita={}), POLICY,
        TODAY).code == ErrorCode.procedure_too_early
    early = judge(None, ELIM, "village_cadre",
                  _facts(monitoring_since=dt.date(2026, 11, 1)), POLICY, TODAY)
    assert "2027-04-30" in early.message


def test_elimination_rules_apply_again_at_approval() -> None:
    young = _facts(monitoring_since=TODAY - dt.timedelta(days=30))
    assert move(elimination("notice"), "township_approved", "township_clerk", young).code == \
        ErrorCode.procedure_too_early
    assert move(elimination("township_approved"), "approved", "county_admin", young).code == \
        ErrorCode.procedure_too_early
    no_labor = _facts(labor_abilities=("none",))
    assert move(elimination("township_approved"), "approved", "county_admin",
                no_labor).code == ErrorCode.procedure_no_labor_household
    # a return or a rejection needs no such condition
    assert move(elimination("township_approved"), "rejected", "county_admin", young).ok
    assert move(elimination("township_approved"), "returned", "county_admin", young).ok


def test_entry_approval_rechecks_the_household() -> None:
    assert move(entry("township_approved"), "approved", "county_admin", MONITORED).code == \
        ErrorCode.procedure_already_monitored
    marginal = entry("township_approved", category="marginal")
    exited = HouseholdFacts(household_type="exited", monitoring_status="none")
    assert move(marginal, "approved", "county_admin", exited).code == \
        ErrorCode.procedure_category_mismatch


# --- derived fields, facts, overdue ------------------------------------------------------------


def test_derived_fields_of_an_approved_entry_and_elimination() -> None:
    d = derived_household_fields(entry("approved", decision_note="同意纳入"), TODAY)
    assert d.household == {"monitoring_status": "monitored", "monitoring_category":
                           "sudden_hardship", "risk_types": ["illness", "large_expense"],
                           "monitoring_since": "2026-11-30", "eliminated_on": None,
                           "elimination_method": None}
    assert d.event_kind == "monitoring_started" and d.event_note == "同意纳入"
    e = derived_household_fields(elimination("approved"), TODAY)
    assert e.household == {"monitoring_status": "eliminated", "eliminated_on": "2026-11-30",
                           "elimination_method": "assisted"}
    assert e.event_kind == "risk_eliminated"
    assert set(d.household) == set(DERIVED_FIELDS)


def test_derived_field_refusal() -> None:
    assert derived_field_refusal(None, {"head_name": "张三", "monitoring_status": "none",
                                        "monitoring_category": "none", "risk_types": []}) is None
    refused = derived_field_refusal(None, {"monitoring_category": "marginal"})
    assert refused is not None and refused.code == ErrorCode.procedure_field_derived
    assert "发起" in refused.message and refused.field == "monitoring_category"
    cur = {"monitoring_status": "monitored", "monitoring_since": dt.date(2026, 1, 1),
           "risk_types": ["illness"]}
    assert derived_field_refusal(cur, {"monitoring_since": "2026-01-01",
                                       "risk_types": ["illness"]}) is None
    for name, value in [("monitoring_status", "none"), ("monitoring_since", "2026-02-01"),
                        ("eliminated_on", "2026-02-01"), ("elimination_method", "natural"),
                        ("risk_types", ["disaster"])]:
        r = derived_field_refusal(cur, {name: value})
        assert r is not None and r.code == ErrorCode.procedure_field_derived, name


def test_household_facts_from_rows() -> None:
    facts = household_facts(
        {"household_type": "exited", "monitoring_status": "monitored",
         "monitoring_since": "2026-01-02"},
        [{"labor_ability": "lost"}, {"labor_ability": "normal", "deleted": True},
         {"labor_ability": "normal", "left_on": "2026-03-01"}, {"labor_ability": None}],
        [{"year": 2025, "category": "wage", "amount": 10000},
         {"year": 2025, "category": "transfer", "amount": "2000"},
         {"year": 2025, "category": "business_cost", "amount": 1000},
         {"year": 2024, "category": "wage", "amount": 100, "deleted": True}],
        [{"id": "a", "kind": "entry", "stage": "approved"},
         {"id": "b", "kind": "elimination", "stage": "notice"},
         {"id": "c", "kind": "entry", "stage": "proposed", "deleted": True}],
    )
    assert facts.monitoring_since == dt.date(2026, 1, 2)
    assert facts.no_labor and facts.monitored
    # 2025 divides by the members of 2025: the one who left in March 2026 still counts
    assert facts.income_per_capita == {2025: 11000 / 3}
    assert facts.open_procedures == (OpenProcedure("b", "elimination"),)
    assert per_capita_net_income([], 0) == {}


def test_overdue_entry_is_flagged() -> None:
    assert is_overdue(entry("notice", proposed_on="2026-11-14"), POLICY, TODAY)
    assert not is_overdue(entry("notice", proposed_on="2026-11-15"), POLICY, TODAY)
    assert not is_overdue(entry("approved", proposed_on="2026-01-01"), POLICY, TODAY)
    assert not is_overdue(elimination("notice", proposed_on="2026-01-01"), POLICY, TODAY)


def test_every_refusal_has_a_chinese_message() -> None:
    for code in ErrorCode:
        if str(code).startswith("procedure."):
            assert any("\u4e00" <= ch <= "\u9fff" for ch in MESSAGES[code])


def test_roles_enum_has_village_secretary() -> None:
    assert Role("village_secretary").value == "village_secretary"


def test_is_monitored_follows_the_monitoring_status():
    from sync_protocol import policy

    assert policy.is_monitored({"monitoring_status": "monitored", "monitoring_category": "none"})
    assert not policy.is_monitored({"monitoring_status": "eliminated",
                                    "monitoring_category": "unstable"})
    assert not policy.is_monitored({"monitoring_status": "none"})
    assert policy.is_monitored({"monitoring_category": "marginal"})  # data from before v2
