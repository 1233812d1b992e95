"""Resolving conflicts from the console: one at a time, several similar at once, duplicates —
each an audited change that reaches the devices."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from tests.conftest import VILLAGE_A1
from tests.console.conftest import console_login, csrf_of
from tests.devices import Tablet, field_conflict


def _conflicts(db, status: str = "open") -> list:
    with db.connect() as conn:
        return list(conn.execute(sa.text(
            "select id, record_id, resolution, resolved_value, note from conflict "
            "where status = :s and village_code = :v order by detected_at"),
            {"s": status, "v": VILLAGE_A1}).all())


def test_resolve_custom_value_reaches_devices(client, world, db):
    hid, t1, t2 = field_conflict(client, VILLAGE_A1)
    conflict = next(c for c in _conflicts(db) if str(c.record_id) == hid)
    token = console_login(client, "clerk_a")
    page = client.get(f"/console/conflicts/{conflict.id}")
    assert "13911112222" in page.text and "13733334444" in page.text and "tab-two" in page.text
    bad = client.post(f"/console/conflicts/{conflict.id}/resolve", data={
        "csrf_token": token, "resolution": "custom", "value": "12345"})
    assert bad.status_code == 400 and "电话号码格式不正确" in bad.text
    resp = client.post(f"/console/conflicts/{conflict.id}/resolve", data={
        "csrf_token": token, "resolution": "custom", "value": "13855556666",
        "note": "电话核实"}, follow_redirects=False)
    assert resp.status_code == 303, resp.text
    done = next(c for c in _conflicts(db, "resolved") if c.id == conflict.id)
    assert done.resolution == "custom" and done.note == "电话核实"
    t1.pull()
    t2.pull()
    assert t1.records[hid]["phone"] == t2.records[hid]["phone"] == "13855556666"
    again = client.post(f"/console/conflicts/{conflict.id}/resolve", data={
        "csrf_token": token, "resolution": "keep_server"})
    assert again.status_code == 409 and "已由他人处理" in again.text


def test_similar_conflicts_resolved_at_once(client, world, db):
    t1 = Tablet(client, "cadre_a", "tab-one").login()
    t2 = Tablet(client, "cadre_a", "tab-two").login()
    hids = [field_conflict(client, VILLAGE_A1, f"户{i}", tablets=(t1, t2))[0] for i in range(3)]
    mine = [c for c in _conflicts(db) if str(c.record_id) in hids]
    assert len(mine) == 3
    token = console_login(client, "clerk_a")
    inbox = client.get("/console/conflicts")
    assert "同类 3 条" in inbox.text and "批量处理" in inbox.text
    page = client.get(f"/console/conflicts/{mine[0].id}?select=all")
    assert page.text.count('name="also"') == 2
    resp = client.post(f"/console/conflicts/{mine[0].id}/resolve", data={
        "csrf_token": csrf_of(page.text), "resolution": "take_client",
        "also": [str(mine[1].id), str(mine[2].id), str(world["conflict_b1"].id)]},
        follow_redirects=False)
    assert resp.status_code == 303 and "resolved=3" in resp.headers["location"]
    assert "failed=1" in resp.headers["location"]  # township B's conflict is not touched
    t1.pull()
    assert all(t1.records[h]["phone"] == "13733334444" for h in hids)
    with db.connect() as conn:
        still_open = conn.execute(sa.text("select status from conflict where id = :i"),
                                  {"i": world["conflict_b1"].id}).scalar()
    assert still_open == "open"
    assert token


def test_duplicate_household_merge(client, world, db):
    t1 = Tablet(client, "cadre_a", "tab-one").login()
    number = world["a1"].head_id_number
    dup = str(uuid.uuid4())
    result = t1.push("household", dup, {"village_code": VILLAGE_A1, "head_name": "赵大山",
                                        "head_id_number": number}, None)
    assert result["status"] == "conflict", result
    conflict = next(c for c in _conflicts(db) if str(c.record_id) in (dup, str(world["a1"].id))
                    and c.resolution is None and c.id != world["conflict_a1"].id)
    token = console_login(client, "clerk_a")
    page = client.get(f"/console/conflicts/{conflict.id}")
    assert "疑似重复户" in page.text and "保留<strong>甲户</strong>" in page.text
    survivor = str(world["a1"].id)
    resp = client.post(f"/console/conflicts/{conflict.id}/resolve", data={
        "csrf_token": token, "resolution": f"merge:{survivor}"}, follow_redirects=False)
    assert resp.status_code == 303, resp.text
    with db.connect() as conn:
        deleted = conn.execute(sa.text("select deleted from household where id = :i"),
                               {"i": dup}).scalar()
    assert deleted is True


def test_custom_enum_and_list_values(client, world, db):
    from sqlmodel import Session

    from server.db.tables import Conflict

    a1 = world["a1"]
    ids = {}
    with Session(db) as s:
        for field, server, client_value in (("poverty_status", "exited", "pre_exit"),
                                            ("causes", ["illness"], ["no_capital"])):
            ids[field] = uuid.uuid4()
            s.add(Conflict(id=ids[field], kind="field", entity="household", record_id=a1.id,
                           household_id=a1.id, village_code=a1.village_code, field=field,
                           server_value=server, client_value=client_value))
        s.commit()
    token = console_login(client, "clerk_a")
    page = client.get(f"/console/conflicts/{ids['poverty_status']}")
    assert "已脱贫" in page.text and "预脱贫" in page.text
    assert '<option value="returned">' in page.text
    resp = client.post(f"/console/conflicts/{ids['poverty_status']}/resolve", data={
        "csrf_token": token, "resolution": "custom", "value": "returned"}, follow_redirects=False)
    assert resp.status_code == 303, resp.text
    page = client.get(f"/console/conflicts/{ids['causes']}")
    assert 'type="checkbox" name="value" value="disaster"' in page.text
    resp = client.post(f"/console/conflicts/{ids['causes']}/resolve", data={
        "csrf_token": token, "resolution": "custom", "value": ["illness", "no_capital"]},
        follow_redirects=False)
    assert resp.status_code == 303, resp.text
    with db.connect() as conn:
        row = conn.execute(sa.text("select poverty_status, causes from household where id = :i"),
                           {"i": a1.id}).one()
    assert row.poverty_status == "returned" and row.causes == ["illness", "no_capital"]
