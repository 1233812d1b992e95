"""Procedures on the real server (real Postgres): pushes judged by the state machine against the
server's current row, derived household fields refused, approval writing the household and the
status event in the same transaction, the office's transition API and the county policy API."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from server.sync.procedures import china_today
from tests.conftest import COUNTY, TOWNSHIP_A, VILLAGE_A1, VILLAGE_B1
from tests.sync.syncutil import change, new_household, pull_all, push


@pytest.fixture
def staff(make_user, login):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    make_user("secretary", "village_secretary", [VILLAGE_A1])
    make_user("clerk", "township_clerk", [TOWNSHIP_A])
    make_user("admin", "county_admin", [COUNTY])
    make_user("cadre_b", "village_cadre", [VILLAGE_B1])
    return {name: login(name, device_id=f"dev-{name}")
            for name in ("cadre", "secretary", "clerk", "admin", "cadre_b")}


def _household(client, headers, **fields: Any) -> str:
    hid, ch = new_household(household_type="ordinary", **fields)
    member = change("member", uuid.uuid4(), {"household_id": hid, "name": "张三",
                                             "labor_ability": "normal"}, device="dev-cadre")
    res = push(client, headers, [{**ch, "hlc": member["hlc"]}, member], device="dev-cadre")
    assert [r["status"] for r in res] == ["applied", "applied"], res
    return hid


def _propose(client, headers, hid: str, device: str = "dev-cadre", **fields: Any
             ) -> tuple[str, dict]:
    pid = str(uuid.uuid4())
    res = push(client, headers, [change("procedure", pid, {
        "household_id": hid, "kind": "entry", "source": "screening", "category": "marginal",
        "risk_types": ["illness"], **fields}, device=device)], device=device)
    return pid, res[0]


def _to_notice(client, headers, pid: str, device: str = "dev-cadre") -> list[dict]:
    start = china_today() - dt.timedelta(days=8)
    return push(client, headers, [
        change("procedure", pid, {"stage": "verified", "verifiers": ["张卫东", "王志远"],
                                  "verified_at": "2026-11-01T02:00:00Z"}, device=device),
        change("procedure", pid, {"stage": "reviewed", "review_note": "村民代表会议评议同意"},
               device=device),
        change("procedure", pid, {"stage": "notice", "notice_start": start.isoformat(),
                                  "notice_end": (start + dt.timedelta(days=5)).isoformat()},
               device=device),
    ], device=device)


def _row(db, table: str, rid: str) -> dict:
    with db.connect() as conn:
        return dict(conn.execute(sa.text(f"SELECT * FROM {table} WHERE id = :id"),
                                 {"id": rid}).mappings().one())


def test_derived_monitoring_fields_are_refused(client, staff, db):
    h = staff["cadre"]
    hid = _household(client, h)
    for name, value in [("monitoring_category", "marginal"), ("monitoring_status", "monitored"),
                        ("risk_types", ["illness"]), ("monitoring_since", "2026-01-01")]:
        res = push(client, h, [change("household", hid, {name: value}, base=1,
                                      device="dev-cadre")], device="dev-cadre")
        assert res[0]["status"] == "rejected"
        assert res[0]["error"]["code"] == "procedure.field_derived"
        assert "发起" in res[0]["error"]["message"]
    rid, ch = new_household(monitoring_category="unstable")
    res = push(client, h, [ch], device="dev-cadre")
    assert res[0]["error"]["code"] == "procedure.field_derived"
    # a new household may say it is not monitored; other fields still change freely
    rid, ch = new_household(monitoring_category="none", monitoring_status="none",
                            reservoir_migrant=True)
    assert push(client, h, [ch], device="dev-cadre")[0]["status"] == "applied"


def test_entry_from_tablet_to_county_approval(client, staff, db):
    h = staff["cadre"]
    hid = _household(client, h)
    pid, res = _propose(client, h, hid)
    assert res["status"] == "applied", res
    row = _row(db, "procedure", pid)
    assert row["stage"] == "proposed" and row["proposed_on"] == china_today()
    assert row["stage_by"] is not None and row["stage_at"] is not None
    assert [r["status"] for r in _to_notice(client, h, pid)] == ["applied"] * 3
    assert _row(db, "procedure", pid)["stage"] == "notice"

    # village roles cannot approve; the clerk can, through the same push path
    res = push(client, h, [change("procedure", pid, {"stage": "township_approved"}, base=4,
                                  device="dev-cadre")], device="dev-cadre")
    assert res[0]["error"]["code"] == "procedure.role_forbidden"
    resp = client.post(f"/api/v1/procedures/{pid}/transition", headers=staff["clerk"],
                       json={"stage": "township_approved"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["procedure"]["stage"] == "township_approved"
    clerk_id = _row(db, "procedure", pid)["stage_by"]
    resp = client.post(f"/api/v1/procedures/{pid}/transition", headers=staff["admin"],
                       json={"stage": "approved"})
    assert resp.status_code == 409
    assert resp.json()["error"]["code"] == "procedure.decision_note_missing"
    before = china_today()  # the approval's day: this one unless China's midnight passes
    resp = client.post(f"/api/v1/procedures/{pid}/transition", headers=staff["admin"],
                       json={"stage": "approved", "fields": {"decision_note": "同意纳入监测"}})
    assert resp.status_code == 200, resp.text
    row = _row(db, "procedure", pid)
    assert row["stage"] == "approved" and row["stage_by"] != clerk_id

    house = _row(db, "household", hid)
    assert house["monitoring_status"] == "monitored"
    assert house["monitoring_category"] == "marginal"
    assert house["risk_types"] == ["illness"]
    approved_on = house["monitoring_since"]
    assert before <= approved_on <= china_today()
    with db.connect() as conn:
        events = conn.execute(sa.text(
            "SELECT kind, date, note FROM status_event WHERE household_id = :h"),
            {"h": hid}).all()
        logged = conn.execute(sa.text(
            "SELECT entity, op FROM change_log WHERE household_id = :h AND source = 'api' "
            "ORDER BY id"), {"h": hid}).all()
    assert [tuple(e) for e in events] == [("monitoring_started", approved_on, "同意纳入监测")]
    assert ("household", "update") in logged and ("status_event", "create") in logged

    # the village's devices get the derived fields and the event on their next pull
    records, _, _ = pull_all(client, staff["secretary"])
    by_entity = {(r["entity"], r["record_id"]): r for r in records}
    assert by_entity[("household", hid)]["fields"]["monitoring_status"] == "monitored"
    assert by_entity[("procedure", pid)]["fields"]["stage"] == "approved"
    assert any(r["entity"] == "status_event" and r["fields"]["household_id"] == hid
               for r in records)
    # a closed procedure does not move again; a second entry is refused (already monitored)
    resp = client.post(f"/api/v1/procedures/{pid}/transition", headers=staff["admin"],
                       json={"stage": "returned", "fields": {"return_reason": "x"}})
    assert resp.json()["error"]["code"] == "procedure.closed"
    _, res = _propose(client, h, hid, category="sudden_hardship")
    assert res["error"]["code"] == "procedure.already_monitored"
    # the read API and the console's household page show the procedure
    detail = client.get(f"/api/v1/households/{hid}", headers=staff["clerk"]).json()
    assert [(p["id"], p["stage"]) for p in detail["procedures"]] == [(pid, "approved")]
    assert detail["household"]["monitoring_status"] == "monitored"


def test_one_open_procedure_and_scope(client, staff, db):
    h = staff["cadre"]
    hid = _household(client, h)
    assert _propose(client, h, hid)[1]["status"] == "applied"
    assert _propose(client, h, hid)[1]["error"]["code"] == "procedure.already_open"
    # two in one batch: the second sees the first
    pid1, pid2 = str(uuid.uuid4()), str(uuid.uuid4())
    hid2 = _household(client, h)
    fields = {"household_id": hid2, "kind": "entry", "source": "self_report",
              "category": "marginal", "risk_types": ["disaster"]}
    res = push(client, h, [change("procedure", pid1, fields, device="dev-cadre"),
                           change("procedure", pid2, fields, device="dev-cadre")],
               device="dev-cadre")
    assert res[0]["status"] == "applied"
    assert res[1]["error"]["code"] == "procedure.already_open"
    # another village's cadre cannot see or move it
    res = push(client, staff["cadre_b"], [change("procedure", pid1, {"stage": "withdrawn"},
                                                 base=1, device="dev-cadre_b")],
               device="dev-cadre_b")
    assert res[0]["error"]["code"] == "scope.out_of_scope"
    resp = client.post(f"/api/v1/procedures/{pid1}/transition", headers=staff["cadre_b"],
                       json={"stage": "withdrawn"})
    assert resp.status_code == 404
    # procedures are never deleted
    res = push(client, h, [change("procedure", pid1, {}, op="delete", base=1,
                                  device="dev-cadre")], device="dev-cadre")
    assert res[0]["error"]["code"] == "procedure.delete_forbidden"


def test_two_devices_move_the_same_procedure(client, staff, db):
    hid = _household(client, staff["cadre"])
    pid, _ = _propose(client, staff["cadre"], hid)
    _to_notice(client, staff["cadre"], pid)
    # both devices last saw the procedure at `reviewed` (version 3) ... the cadre's device was
    # the one that started the notice; the secretary's, holding version 3, withdraws it
    res = push(client, staff["secretary"], [change("procedure", pid, {"stage": "withdrawn"},
                                                   base=3, device="dev-secretary")],
               device="dev-secretary")
    assert res[0]["status"] == "rejected"
    assert res[0]["error"]["code"] == "procedure.stage_changed"
    assert _row(db, "procedure", pid)["stage"] == "notice"

    # truly concurrent: two threads move the same `proposed` procedure at once
    hid2 = _household(client, staff["cadre"])
    pid2, _ = _propose(client, staff["cadre"], hid2)
    results: dict[str, list[dict]] = {}

    def go(name: str, fields: dict) -> None:
        results[name] = push(client, staff[name], [change(
            "procedure", pid2, fields, base=1, device=f"dev-{name}")], device=f"dev-{name}")

    threads = [threading.Thread(target=go, args=("cadre", {"stage": "withdrawn"})),
               threading.Thread(target=go, args=("secretary", {
                   "stage": "verified", "verifiers": ["甲", "乙"]}))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(r[0]["status"] for r in results.values())
    assert statuses == ["applied", "rejected"], results
    loser = next(r[0] for r in results.values() if r[0]["status"] == "rejected")
    assert loser["error"]["code"] == "procedure.stage_changed"
    assert loser["error"]["message"]
    assert _row(db, "procedure", pid2)["version"] == 2


def test_elimination_too_early_and_conditions(client, staff, db):
    h = staff["cadre"]
    hid = _household(client, h)
    # an import (county admin) may set monitoring fields: the household is monitored since
    # 30 days ago
    since = china_today() - dt.timedelta(days=30)
    with db.begin() as conn:
        conn.execute(sa.text("UPDATE household SET monitoring_status = 'monitored', "
                             "monitoring_category = 'marginal', monitoring_since = :d "
                             "WHERE id = :h"), {"d": since, "h": hid})
    pid = str(uuid.uuid4())
    res = push(client, h, [change("procedure", pid, {
        "household_id": hid, "kind": "elimination", "method": "assisted"},
        device="dev-cadre")], device="dev-cadre")
    assert res[0]["error"]["code"] == "procedure.too_early"
    assert "最短监测天数" in res[0]["error"]["message"]
    # an entry household not monitored cannot start an elimination
    hid2 = _household(client, h)
    res = push(client, h, [change("procedure", str(uuid.uuid4()), {
        "household_id": hid2, "kind": "elimination", "method": "assisted"},
        device="dev-cadre")], device="dev-cadre")
    assert res[0]["error"]["code"] == "procedure.not_monitored"


def test_policy_api(client, staff):
    for name in ("cadre", "secretary", "clerk"):
        assert client.get("/api/v1/policy", headers=staff[name]).status_code == 403
        assert client.put("/api/v1/policy", headers=staff[name],
                          json={"notice_days": 7}).status_code == 403
    body = client.get("/api/v1/policy", headers=staff["admin"]).json()
    assert (body["notice_days"], body["entry_deadline_days"], body["min_monitored_days"]) == \
        (5, 15, 180)
    resp = client.put("/api/v1/policy", headers=staff["admin"],
                      json={"notice_days": 7, "monitoring_lines": {"2025": 7600}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["notice_days"] == 7 and resp.json()["monitoring_lines"]["2025"] == 7600
    assert client.get("/api/v1/policy", headers=staff["admin"]).json()["notice_days"] == 7
    bad = client.put("/api/v1/policy", headers=staff["admin"], json={"notice_days": 0})
    assert bad.status_code == 422 and bad.json()["error"]["code"]
    bad = client.put("/api/v1/policy", headers=staff["admin"], json={"x": 1})
    assert bad.status_code == 422
    ref = client.get("/api/v1/reference", headers=staff["cadre"]).json()
    assert ref["county_policies"][0]["notice_days"] == 7


def test_office_moves_through_sync_push_too(client, staff, db):
    hid = _household(client, staff["cadre"])
    pid, _ = _propose(client, staff["cadre"], hid)
    _to_notice(client, staff["cadre"], pid)
    res = push(client, staff["clerk"], [change("procedure", pid, {"stage": "township_approved"},
                                               base=4, device="dev-clerk")], device="dev-clerk")
    assert res[0]["status"] == "applied", res
    res = push(client, staff["admin"], [change("procedure", pid, {
        "stage": "rejected", "decision_note": "经核实收入高于监测范围"}, base=5,
        device="dev-admin")], device="dev-admin")
    assert res[0]["status"] == "applied", res
    row = _row(db, "procedure", pid)
    assert row["stage"] == "rejected" and row["decision_note"] == "经核实收入高于监测范围"
    assert _row(db, "household", hid)["monitoring_status"] in (None, "none")
    # the stamp is the server's, whatever a device sends
    res = push(client, staff["cadre"], [change("procedure", str(uuid.uuid4()), {
        "household_id": hid, "kind": "entry", "category": "marginal",
        "stage_by": str(uuid.uuid4()), "stage_at": "2020-01-01T00:00:00Z"},
        device="dev-cadre")], device="dev-cadre")
    assert res[0]["status"] == "applied"
    with db.connect() as conn:
        stamp = conn.execute(sa.text(
            "SELECT p.stage_at, u.username FROM procedure p JOIN app_user u ON u.id = p.stage_by "
            "WHERE p.id = :id"), {"id": res[0]["record_id"]}).one()
    assert stamp[1] == "cadre" and stamp[0].year >= 2026
