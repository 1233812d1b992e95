"""A 走访记录 needs notes and a time; its author may correct or withdraw it on the day (China
time), an audited, synced change; withdrawn visits do not count; visits are never deleted.
The rule is in ``sync_protocol.visits`` and holds on the tablet and on the server alike."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from sync_protocol import visits, wuqing
from sync_protocol.errors import ErrorCode, RuhuError
from sync_protocol.hlc import Hlc
from tests.conftest import VILLAGE_A1

from .util import household

CHINA = dt.timezone(dt.timedelta(hours=8))


def test_rule_needs_notes_and_time():
    assert [e.code for e in visits.visit_errors({}, creating=True)] == [
        ErrorCode.validation_field_required, ErrorCode.visit_notes_required]
    assert visits.visit_errors({"visited_at": "2026-11-30T09:00:00+08:00", "notes": "了解 情况"},
                               creating=True) == []
    assert [e.field for e in visits.visit_errors({"notes": " 走 访 "}, creating=False)] == ["notes"]
    assert visits.visit_errors({"withdrawn": True}, creating=False) == []  # notes not sent


def test_author_same_china_day_only():
    me, other = uuid.uuid4(), uuid.uuid4()
    # 23:30 China time on the 30th is 15:30 UTC; 00:30 on the 1st is 16:30 UTC the 30th
    visit = {"visitor_id": str(me), "visited_at": "2026-11-30T15:30:00+00:00"}
    same_day = dt.datetime(2026, 11, 30, 15, 59, tzinfo=dt.UTC)
    next_day = dt.datetime(2026, 11, 30, 16, 30, tzinfo=dt.UTC)
    assert visits.edit_refusal(visit, me, same_day) is None
    assert visits.edit_refusal(visit, me, next_day) == ErrorCode.visit_edit_window_closed
    assert visits.edit_refusal(visit, other, same_day) == ErrorCode.visit_not_author
    assert visits.edit_refusal(visit, me, same_day, "delete") == ErrorCode.visit_delete_not_allowed
    hlc = Hlc(int(same_day.timestamp() * 1000), 0, "tab-a")
    assert visits.change_refusal({"withdrawn": True}, "upsert", visit, me, hlc) is None
    assert visits.change_refusal({}, "upsert", visit, other, hlc, force=True) is None


def test_withdrawn_visits_do_not_count():
    today = dt.date(2026, 11, 30)
    bundle = wuqing.HouseholdBundle(household={"id": "h"}, visits=[
        {"visited_at": "2026-11-30T09:00:00+08:00", "withdrawn": True}])
    hint = wuqing.compute_hints(bundle, wuqing.HintPolicy(today, 30))
    assert any("没有走访记录" in m for m in hint["secretary_knows"].messages +
               sum((h.messages for h in hint.values()), []))


def test_tablet_refuses_an_empty_visit_and_withdraws_its_own(make_user, make_device):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    dev = make_device("cadre", "tab-a")
    hid = dev.store.create_household(household())
    with pytest.raises(RuhuError) as err:
        dev.store.record_visit(hid, {})
    assert err.value.code == ErrorCode.visit_notes_required
    vid = dev.store.record_visit(hid, {"notes": "了解务工情况"})
    with pytest.raises(RuhuError) as err:
        dev.store.delete("visit", vid)
    assert err.value.code == ErrorCode.visit_delete_not_allowed
    before = dev.store.roster()[0].last_visit_at
    assert before is not None
    dev.store.update("visit", vid, {"notes": "了解务工情况，已核实收入"})  # a correction
    assert dev.sync().pushed == {"applied": 2}
    dev.store.withdraw_visit(vid)  # after upload: an edit of the synced visit
    assert dev.store.roster()[0].last_visit_at is None  # no longer counts
    assert dev.sync().pushed == {"applied": 1}
    other = make_device("cadre", "tab-b")
    other.sync()
    visit = other.store.get("visit", vid)
    assert visit.fields["withdrawn"] is True and visit.fields["notes"].endswith("已核实收入")


def _push(client, headers, device, changes):
    resp = client.post("/api/v1/sync/push", json={"device_id": device, "changes": changes},
                       headers=headers)
    assert resp.status_code == 200, resp.text
    return resp.json()["results"]


def _change(record_id, fields, *, base=None, op="upsert", device="tab-a"):
    millis = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    return {"change_id": str(uuid.uuid4()), "entity": "visit", "record_id": record_id,
            "op": op, "base_version": base, "fields": fields,
            "hlc": f"{millis:013d}-0000-{device}"}


def test_server_refuses_empty_foreign_late_and_deleted(make_user, login, client):
    cadre = make_user("cadre", "village_cadre", [VILLAGE_A1])
    make_user("second", "village_cadre", [VILLAGE_A1])
    token = login("cadre", device_id="tab-a")
    other = login("second", device_id="tab-b")
    hid = str(uuid.uuid4())
    now = dt.datetime.now(dt.UTC)
    [h] = _push(client, token, "tab-a", [{
        "change_id": str(uuid.uuid4()), "entity": "household", "record_id": hid,
        "op": "upsert", "base_version": None, "fields": household(),
        "hlc": f"{int(now.timestamp() * 1000):013d}-0000-tab-a"}])
    assert h["status"] == "applied"
    empty, real, old = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    at = now.astimezone(CHINA).isoformat(timespec="seconds")
    yesterday = (now - dt.timedelta(days=1)).astimezone(CHINA).isoformat(timespec="seconds")
    results = _push(client, token, "tab-a", [
        _change(empty, {"household_id": hid, "visited_at": at}),
        _change(real, {"household_id": hid, "visited_at": at, "notes": "了解务工情况",
                       "visitor_id": str(cadre.id)}),
        _change(old, {"household_id": hid, "visited_at": yesterday, "notes": "昨天的走访记录",
                      "visitor_id": str(cadre.id)})])
    assert results[0]["status"] == "rejected"
    assert results[0]["error"]["code"] == "visit.notes_required"
    assert [r["status"] for r in results[1:]] == ["applied", "applied"]
    # someone else may not withdraw it; nobody deletes it; a day later it is fixed
    [r] = _push(client, other, "tab-b", [_change(real, {"withdrawn": True}, base=1,
                                                 device="tab-b")])
    assert r["error"]["code"] == "visit.not_author"
    [r] = _push(client, token, "tab-a", [_change(real, {}, base=1, op="delete")])
    assert r["error"]["code"] == "visit.delete_not_allowed"
    [r] = _push(client, token, "tab-a", [_change(old, {"withdrawn": True}, base=1)])
    assert r["error"]["code"] == "visit.edit_window_closed"
    [r] = _push(client, token, "tab-a", [_change(real, {"notes": "空"}, base=1)])
    assert r["error"]["code"] == "visit.notes_required"
    [r] = _push(client, token, "tab-a", [_change(real, {"withdrawn": True}, base=1)])
    assert r["status"] == "applied"
