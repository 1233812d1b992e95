"""Monitoring procedures end to end on real Postgres: a cadre's tablet (the headless store)
proposes, verifies, reviews and starts the notice offline and syncs; the township clerk and the
county admin approve through the API; the household's derived fields reach the second village
tablet. An elimination too early is refused (offline and by the server), and two tablets moving
the same procedure: one wins, the other gets a clear refusal."""

from __future__ import annotations

import datetime as dt

import pytest

from kivy_client import procedures as proc
from kivy_client.store import StoreValidationError
from server.sync.procedures import china_today
from tests.conftest import COUNTY, TOWNSHIP_A, VILLAGE_A1


@pytest.fixture
def village(make_user, make_device, login):
    make_user("cadre", "village_cadre", [VILLAGE_A1], name="张卫东")
    make_user("secretary", "village_secretary", [VILLAGE_A1], name="张书记")
    make_user("clerk", "township_clerk", [TOWNSHIP_A])
    make_user("admin", "county_admin", [COUNTY])
    tab1 = make_device("cadre", "tab-1")
    tab2 = make_device("secretary", "tab-2")
    office = {"clerk": login("clerk", "web-clerk"), "admin": login("admin", "web-admin")}
    return tab1, tab2, office


def _household(store, name: str = "王建国") -> str:
    hid = store.create_household({"village_code": VILLAGE_A1, "head_name": name,
                                  "household_type": "ordinary"})
    store.add_member(hid, {"name": name, "relation": "head", "labor_ability": "normal"})
    return hid


def _code(exc: pytest.ExceptionInfo[StoreValidationError]) -> str:
    return str(exc.value.code)


def test_entry_from_tablet_to_county_and_back_to_both_tablets(village, client):
    tab1, tab2, office = village
    hid = _household(tab1.store)
    tab1.sync()
    tab2.sync()
    # offline on tablet 1: the rules are judged before anything is saved
    store = tab1.store
    with pytest.raises(StoreValidationError) as exc:
        store.update("household", hid, {"monitoring_category": "marginal"})
    assert _code(exc) == "procedure.field_derived"
    pid = proc.propose(store, hid, "entry", {"source": "screening", "category": "marginal",
                                             "risk_types": ["illness", "large_expense"]})
    with pytest.raises(StoreValidationError) as exc:
        proc.propose(store, hid, "entry", {"source": "self_report", "category": "marginal",
                                           "risk_types": ["illness"]})
    assert _code(exc) == "procedure.already_open"
    with pytest.raises(StoreValidationError) as exc:
        proc.move(store, pid, "verified", {"verifiers": ["张卫东"]})
    assert _code(exc) == "procedure.verifiers_missing"
    proc.move(store, pid, "verified", {"verifiers": ["张卫东", "张书记"],
                                       "verified_at": "2026-11-20T02:00:00Z"})
    proc.move(store, pid, "reviewed", {"review_note": "村民代表会议评议，同意纳入"})
    start = china_today() - dt.timedelta(days=7)
    with pytest.raises(StoreValidationError) as exc:
        proc.move(store, pid, "notice", {"notice_start": start.isoformat(),
                                         "notice_end": (start + dt.timedelta(days=2)).isoformat()})
    assert _code(exc) == "procedure.notice_too_short"
    proc.move(store, pid, "notice", {"notice_start": start.isoformat(),
                                     "notice_end": (start + dt.timedelta(days=5)).isoformat()})
    with pytest.raises(StoreValidationError) as exc:
        proc.move(store, pid, "township_approved")
    assert _code(exc) == "procedure.role_forbidden"
    assert len(store.outbox()) == 4  # created and moved three times, all offline

    report = tab1.sync()
    assert report.rejected == 0 and store.pending_count() == 0
    text = proc.describe(store.get("procedure", pid), {})
    assert text["title"].startswith("纳入监测：公示中")

    resp = client.post(f"/api/v1/procedures/{pid}/transition", headers=office["clerk"],
                       json={"stage": "township_approved"})
    assert resp.status_code == 200, resp.text
    before = china_today()  # the approval's day: this one unless China's midnight passes
    resp = client.post(f"/api/v1/procedures/{pid}/transition", headers=office["admin"],
                       json={"stage": "approved", "fields": {"decision_note": "同意纳入监测"}})
    assert resp.status_code == 200, resp.text

    for tab in (tab2, tab1):
        tab.sync()
        house = tab.store.get("household", hid).fields
        assert house["monitoring_status"] == "monitored"
        assert house["monitoring_category"] == "marginal"
        assert house["risk_types"] == ["illness", "large_expense"]
        assert before.isoformat() <= house["monitoring_since"] <= china_today().isoformat()
        assert tab.store.get("procedure", pid).fields["stage"] == "approved"
        events = [r.fields["kind"] for r in tab.store.children(hid, "status_event")]
        assert events == ["monitoring_started"]

    # an elimination now is too early: refused offline, and by the server when sent anyway
    with pytest.raises(StoreValidationError) as exc:
        proc.propose(tab2.store, hid, "elimination", {"method": "assisted"})
    assert _code(exc) == "procedure.too_early"
    assert "最短监测天数" in exc.value.message
    rogue = tab2.store.create("procedure", {"household_id": hid, "kind": "elimination",
                                            "method": "assisted"})
    report = tab2.sync()
    assert report.rejected == 1
    issues = tab2.store.issues("procedure", rogue)
    assert issues and "procedure.too_early" in str(issues[0].payload), issues[0].payload
    assert "最短监测天数" in issues[0].message


def test_two_tablets_move_the_same_procedure(village):
    tab1, tab2, _office = village
    hid = _household(tab1.store, "李长江")
    pid = proc.propose(tab1.store, hid, "entry", {"source": "self_report",
                                                  "category": "sudden_hardship",
                                                  "risk_types": ["disaster"]})
    tab1.sync()
    tab2.sync()
    # both offline: one withdraws, the other records the home verification
    proc.move(tab1.store, pid, "withdrawn")
    proc.move(tab2.store, pid, "verified", {"verifiers": ["张书记", "王志远"]})
    assert tab1.sync().rejected == 0
    report = tab2.sync()
    assert report.rejected == 1
    issue = tab2.store.issues("procedure", pid)[0]
    assert "已被他人办理" in issue.message
    # after the pull, tablet 2 shows the server's stage: withdrawn, nothing of both applied
    assert tab2.store.get("procedure", pid).fields["stage"] == "withdrawn"
    assert not tab2.store.get("procedure", pid).fields.get("verifiers")
    # and a withdrawn procedure stays closed
    with pytest.raises(StoreValidationError) as exc:
        proc.move(tab2.store, pid, "proposed")
    assert _code(exc) == "procedure.closed"


def test_entry_started_from_a_visit(village):
    """发起纳入监测 from a visit: the visit's household, source 干部排查, the visit linked; a
    withdrawn visit or another household's visit cannot be cited."""
    tab1, _tab2, _office = village
    store = tab1.store
    hid = _household(store, "赵红梅")
    other = _household(store, "钱多多")
    visit = store.record_visit(hid, {"purpose": "入户排查", "notes": "家中有人突发重病"})
    elsewhere = store.record_visit(other, {"purpose": "日常走访", "notes": "一切正常，无风险"})
    with pytest.raises(StoreValidationError) as exc:
        proc.propose(store, hid, "entry", {"category": "marginal", "visit_id": elsewhere})
    assert _code(exc) == "procedure.visit_invalid"
    pid = proc.propose_from_visit(store, visit, {"category": "sudden_hardship",
                                                 "risk_types": ["illness"]})
    rec = store.get("procedure", pid)
    assert rec.fields["household_id"] == hid
    assert (rec.fields["source"], rec.fields["visit_id"]) == ("screening", visit)
    visits = {visit: store.get("visit", visit).fields["visited_at"]}
    lines = proc.describe(rec, {}, visits=visits)["lines"]
    assert "识别来源：干部排查" in lines[1]
    assert any(line.startswith("已关联走访记录（") for line in lines), lines
    assert tab1.sync().rejected == 0  # the visit and the procedure citing it, in one push
    # a withdrawn visit no longer counts, so it cannot be cited by a move either
    store.withdraw_visit(visit)
    with pytest.raises(StoreValidationError) as exc:
        proc.move(store, pid, "verified", {"verifiers": ["张卫东", "张书记"], "visit_id": visit})
    assert _code(exc) == "procedure.visit_invalid"
    # the server judges the same rule: a device that skips the check is refused
    rogue = store.create("procedure", {"household_id": other, "kind": "entry",
                                       "category": "marginal", "visit_id": visit})
    report = tab1.sync()
    assert report.rejected == 1
    issue = store.issues("procedure", rogue)[0]
    assert "procedure.visit_invalid" in str(issue.payload) and "走访" in issue.message
