"""Conflicts API: listing by role and scope, resolution as an audited change, convergence."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from server.scope import Principal
from server.sync.conflicts import resolve_conflict
from sync_protocol.wire import ResolveRequest
from tests.conftest import TOWNSHIP_A, TOWNSHIP_B, VILLAGE_A1, VILLAGE_A2
from tests.sync.syncutil import change, hlc, id_number, new_household, pull_all, push


def _field_conflict(client, login):
    h1 = login("cadre1", "tab-1")
    h2 = login("cadre2", "tab-2")
    rid, create = new_household()
    push(client, h1, [create], "tab-1")
    _, _, c1 = pull_all(client, h1)
    _, _, c2 = pull_all(client, h2)
    push(client, h1, [change("household", rid, {"phone": "13800000001", "address": "一组"},
                             base=1, device="tab-1")], "tab-1")
    [res] = push(client, h2, [change("household", rid, {"phone": "13800000002"}, base=1,
                                     device="tab-2", hlc_text=hlc("tab-2", 5000))], "tab-2")
    assert res["status"] == "conflict"
    return rid, res["conflict_id"], (h1, c1), (h2, c2)


def _users(make_user):
    make_user("cadre1", "village_cadre", [VILLAGE_A1], name="李村干")
    make_user("cadre2", "village_cadre", [VILLAGE_A1], name="王书记")
    make_user("clerk", "township_clerk", [TOWNSHIP_A], name="赵专干")
    make_user("clerk_b", "township_clerk", [TOWNSHIP_B])


def test_clerk_resolves_and_devices_converge(client, make_user, login):
    _users(make_user)
    rid, cid, (h1, c1), (h2, c2) = _field_conflict(client, login)
    hc = login("clerk", "pc-1")
    listing = client.get("/api/v1/conflicts", headers=hc, params={"status": "open"})
    assert listing.status_code == 200
    [item] = listing.json()["items"]
    assert item["id"] == cid and item["field"] == "phone" and item["kind"] == "field"
    assert item["server"]["value"] == "13800000001" and item["client"]["value"] == "13800000002"
    assert item["server"]["device_id"] == "tab-1" and item["client"]["device_id"] == "tab-2"
    assert item["server"]["user_name"] == "李村干" and item["client"]["user_name"] == "王书记"
    assert item["base_value"] is None and item["server"]["hlc"] and item["client"]["hlc"]
    assert client.get(f"/api/v1/conflicts/{cid}", headers=hc).json()["id"] == cid
    # other township: not found; village cadre: forbidden
    hb = login("clerk_b", "pc-2")
    assert client.get(f"/api/v1/conflicts/{cid}", headers=hb).status_code == 404
    assert client.get("/api/v1/conflicts", headers=hb).json()["items"] == []
    assert client.get("/api/v1/conflicts", headers=h1).status_code == 403

    resp = client.post(f"/api/v1/conflicts/{cid}/resolve", headers=hc,
                       json={"resolution": "keep_server", "note": "电话核实"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "resolved" and resp.json()["resolved_value"] == "13800000001"
    again = client.post(f"/api/v1/conflicts/{cid}/resolve", headers=hc,
                        json={"resolution": "take_client"})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict.already_resolved"

    views = []
    for headers, cursor in ((h1, c1), (h2, c2)):
        records, conflicts, _ = pull_all(client, headers, cursor)
        [rec] = [r for r in records if r["record_id"] == rid]
        views.append((rec["version"], rec["fields"]["phone"], rec["fields"]["address"]))
        assert conflicts[-1]["status"] == "resolved"
    assert views[0] == views[1] == (4, "13800000001", "一组")


def test_custom_and_invalid_resolutions(client, make_user, login, db):
    _users(make_user)
    rid, cid, _, _ = _field_conflict(client, login)
    hc = login("clerk", "pc-1")
    bad = client.post(f"/api/v1/conflicts/{cid}/resolve", headers=hc,
                      json={"resolution": "custom", "value": "not a phone"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation.phone_invalid"
    wrong = client.post(f"/api/v1/conflicts/{cid}/resolve", headers=hc,
                        json={"resolution": "merge"})
    assert wrong.status_code == 422
    ok = client.post(f"/api/v1/conflicts/{cid}/resolve", headers=hc,
                     json={"resolution": "custom", "value": "13700000000"})
    assert ok.status_code == 200
    with db.connect() as conn:
        phone, version = conn.execute(sa.text("select phone, version from household")).one()
        source = conn.execute(sa.text(
            "select source from change_log order by id desc limit 1")).scalar()
    assert (phone, version, source) == ("13700000000", 4, "resolution")
    missing = client.post(f"/api/v1/conflicts/{uuid.uuid4()}/resolve", headers=hc,
                          json={"resolution": "keep_server"})
    assert missing.status_code == 404


def _delete_edit_conflict(client, login) -> dict:
    """Cadre 1 creates and edits a household; cadre 2 deletes it from version 1: a delete-edit
    conflict (its push result)."""
    h1 = login("cadre1", "tab-1")
    rid, create = new_household()
    push(client, h1, [create], "tab-1")
    push(client, h1, [change("household", rid, {"phone": "13800000000"}, base=1)], "tab-1")
    h2 = login("cadre2", "tab-2")
    [res] = push(client, h2, [change("household", rid, op="delete", base=1)], "tab-2")
    return res


def test_resolution_keeping_the_record_is_written_like_a_push(client, make_user, login, db):
    """A delete-edit conflict resolved by keeping the record changes no value, yet the record
    gets version +1 and a ``resolution`` entry in the change log, written by the clerk from
    their own device (every device pulls it again)."""
    _users(make_user)
    res = _delete_edit_conflict(client, login)
    hc = login("clerk", "pc-1")
    resp = client.post(f"/api/v1/conflicts/{res['conflict_id']}/resolve", headers=hc,
                       json={"resolution": "keep_server"})
    assert resp.status_code == 200, resp.text
    with db.connect() as conn:
        log = conn.execute(sa.text("select op, device_id, source, version, changes "
                                   "from change_log order by id desc limit 1")).one()
        row = conn.execute(sa.text("select deleted, version, updated_device from household")
                           ).one()
    assert tuple(log) == ("resolution", "pc-1", "resolution", 4, {})
    assert tuple(row) == (False, 4, "pc-1")


def test_delete_edit_resolution(client, make_user, login, db):
    _users(make_user)
    res = _delete_edit_conflict(client, login)
    assert res["status"] == "conflict"
    hc = login("clerk", "pc-1")
    resp = client.post(f"/api/v1/conflicts/{res['conflict_id']}/resolve", headers=hc,
                       json={"resolution": "take_client"})
    assert resp.status_code == 200
    with db.connect() as conn:
        assert conn.execute(sa.text("select deleted, version from household")).one() == (True, 4)


def test_duplicate_merge_moves_children(client, make_user, login, db):
    _users(make_user)
    h1 = login("cadre1", "tab-1")
    number = id_number()
    a, ca = new_household(head_id_number=number)
    b, cb = new_household(head_id_number=number)
    member = change("member", uuid.uuid4(), {"household_id": b, "name": "成员"})
    results = push(client, h1, [ca, cb, member], "tab-1")
    assert results[1]["status"] == "conflict"
    hc = login("clerk", "pc-1")
    resp = client.post(f"/api/v1/conflicts/{results[1]['conflict_id']}/resolve", headers=hc,
                       json={"resolution": "merge", "survivor_id": a})
    assert resp.status_code == 200, resp.text
    with db.connect() as conn:
        assert str(conn.execute(sa.text("select household_id from member")).scalar()) == a
        assert conn.execute(sa.text("select deleted from household where id = :b"),
                            {"b": b}).scalar() is True
        assert conn.execute(sa.text("select version from member")).scalar() == 2


def test_merge_across_villages_tells_the_losers_village(client, make_user, login, db):
    """Children moving to a survivor in another village leave the old village's devices, and
    their history goes with them."""
    _users(make_user)
    make_user("cadre_a2", "village_cadre", [VILLAGE_A2])
    h1, h2 = login("cadre1", "tab-1"), login("cadre_a2", "tab-a2")
    number = id_number()
    a, ca = new_household(VILLAGE_A1, head_id_number=number)
    push(client, h1, [ca], "tab-1")
    b, cb = new_household(VILLAGE_A2, head_id_number=number)
    mid = str(uuid.uuid4())
    [res, _] = push(client, h2, [cb, change("member", mid, {"household_id": b, "name": "成员"},
                                            device="tab-a2")], "tab-a2")
    assert res["status"] == "conflict"
    _, _, cursor = pull_all(client, h2)
    _, _, cursor_a1 = pull_all(client, h1)
    resp = client.post(f"/api/v1/conflicts/{res['conflict_id']}/resolve",
                       headers=login("clerk", "pc-1"),
                       json={"resolution": "merge", "survivor_id": a})
    assert resp.status_code == 200, resp.text
    body = client.get("/api/v1/sync/pull", headers=h2, params={"cursor": cursor}).json()
    assert body["removed"] == [{"entity": "member", "record_id": mid}]
    assert [(c["record_id"], c["deleted"]) for c in body["changes"]] == [(b, True)]
    # the survivor's village receives the member on its next incremental pull (change-log feed)
    records, _, _ = pull_all(client, h1, cursor_a1)
    moved = [r for r in records if r["entity"] == "member"]
    assert [(r["record_id"], r["fields"]["household_id"]) for r in moved] == [(mid, a)]
    with db.connect() as conn:
        history = conn.execute(sa.text("select household_id from change_log where record_id = :m"),
                               {"m": mid}).scalars().all()
    assert {str(h) for h in history} == {a}


def test_service_function_and_distinct(client, make_user, login, db):
    _users(make_user)
    h1 = login("cadre1", "tab-1")
    a, ca = new_household(household_number="7")
    b, cb = new_household(household_number="7")
    results = push(client, h1, [ca, cb], "tab-1")
    clerk = Principal(user_id=None, username="x", name="x", role="township_clerk",
                      scopes=(TOWNSHIP_A,), device_id="console", scope_version=1)
    from sqlmodel import Session
    with Session(db) as session:
        out = resolve_conflict(session, clerk, uuid.UUID(results[1]["conflict_id"]),
                               ResolveRequest(resolution="distinct"))
        session.commit()
    assert out["status"] == "resolved" and out["resolution"] == "distinct"


def test_resolution_is_a_server_operation_not_a_device(client, make_user, login, db):
    """A value-changing resolution is written as the clerk from their own device with the
    origin ``resolution``: no device of the server's (no ``server-*`` device in the change log,
    the records or the receipts), version +1 once, and the audit row names the clerk."""
    _users(make_user)
    rid, cid, _, _ = _field_conflict(client, login)
    hc = login("clerk", "pc-1")
    resp = client.post(f"/api/v1/conflicts/{cid}/resolve", headers=hc,
                       json={"resolution": "take_client"})
    assert resp.status_code == 200, resp.text
    with db.connect() as conn:
        log = conn.execute(sa.text(
            "select op, device_id, source, version, changes, u.username from change_log c "
            "join app_user u on u.id = c.user_id order by c.id desc limit 1")).one()
        row = conn.execute(sa.text("select phone, version, updated_device from household")
                           ).one()
        devices = {d for (d,) in conn.execute(sa.text(
            "select device_id from change_log union select updated_device from household "
            "union select device_id from sync_receipt"))}
    assert (log.op, log.device_id, log.source, log.version, log.username) == (
        "update", "pc-1", "resolution", 4, "clerk")
    assert log.changes["phone"][1] == "13800000002"
    assert tuple(row) == ("13800000002", 4, "pc-1")
    assert not any(d.startswith("server") for d in devices if d)
