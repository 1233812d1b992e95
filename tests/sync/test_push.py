"""Push: per-change results, merge statuses, receipts, rejections, scope, duplicates, clock skew."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from server.scope import Principal
from server.sync import push as push_service
from server.sync.load import field_maps
from sync_protocol.errors import RuhuError
from tests.conftest import TOWNSHIP_A, VILLAGE_A1, VILLAGE_A2, VILLAGE_B1
from tests.sync.syncutil import change, hlc, id_number, new_household, push, two_cadres


def test_create_and_merge_and_conflict(client, make_user, login):
    h1, h2 = two_cadres(make_user, login)
    rid, create = new_household(phone="13800000000")
    [res] = push(client, h1, [create], "tab-1")
    assert res["status"] == "applied" and res["version"] == 1
    # different fields -> merged
    [r1] = push(client, h1, [change("household", rid, {"address": "一组", }, base=1,
                                    device="tab-1")], "tab-1")
    assert r1["status"] == "applied" and r1["version"] == 2
    [r2] = push(client, h2, [change("household", rid, {"group_name": "二组"}, base=1,
                                    device="tab-2")], "tab-2")
    assert r2["status"] == "merged" and r2["version"] == 3
    # same field, different values -> conflict, later hlc provisional
    [r3] = push(client, h1, [change("household", rid, {"phone": "13900000001"}, base=3,
                                    device="tab-1")], "tab-1")
    assert r3["status"] == "applied"
    late = hlc("tab-2", offset_ms=1000)
    [r4] = push(client, h2, [change("household", rid, {"phone": "13900000002"}, base=3,
                                    device="tab-2", hlc_text=late)], "tab-2")
    assert r4["status"] == "conflict" and r4["conflict_id"]
    assert r4["version"] == 5


def test_replay_returns_original_results(client, make_user, login, db):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    h = login("cadre")
    rid, create = new_household()
    edit = change("household", rid, {"phone": "13800000000"}, base=1)
    first = push(client, h, [create, edit])
    assert [r["status"] for r in first] == ["applied", "applied"]
    again = push(client, h, [edit, create])  # reordered replay after a lost response
    assert [r["status"] for r in again] == ["duplicate", "duplicate"]
    assert again[0]["version"] == first[1]["version"]
    assert again[1]["version"] == first[0]["version"]
    with db.connect() as conn:
        assert conn.execute(sa.text("select count(*) from household")).scalar() == 1
        assert conn.execute(sa.text("select version from household")).scalar() == 2
        assert conn.execute(sa.text("select count(*) from change_log")).scalar() == 2
    # partial replay plus a new change in the same batch
    more = change("household", rid, {"address": "三组"}, base=2)
    mixed = push(client, h, [edit, more, more])
    assert [r["status"] for r in mixed] == ["duplicate", "applied", "duplicate"]


def test_change_id_reused_by_other_device(client, make_user, login):
    h1, h2 = two_cadres(make_user, login)
    rid, create = new_household()
    push(client, h1, [create], "tab-1")
    [res] = push(client, h2, [create], "tab-2")
    assert res["status"] == "rejected"
    assert res["error"]["code"] == "sync.change_id_reused"


def test_bad_change_rejected_others_apply(client, make_user, login, db):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    h = login("cadre")
    ok_id, ok = new_household()
    _, bad_id = new_household(head_id_number="110101199001011234")
    _, unknown = new_household(colour="red")
    _, wrong_type = new_household(lat="north")
    bad_hlc = change("household", uuid.uuid4(), {"village_code": VILLAGE_A1, "head_name": "李四"},
                     hlc_text="yesterday")
    bad_op = change("household", uuid.uuid4(), {}, op="merge")
    bad_entity = change("dragon", uuid.uuid4(), {})
    missing = change("household", uuid.uuid4(), {"village_code": VILLAGE_A1})
    results = push(client, h, [bad_id, ok, unknown, wrong_type, bad_hlc, bad_op, bad_entity,
                               missing, {"nonsense": True}])
    codes = [r.get("error", {}).get("code") for r in results]
    assert results[1]["status"] == "applied"
    assert codes[0].startswith("validation.id_number")
    assert results[0]["error"]["field"] == "head_id_number" and results[0]["error"]["message"]
    assert codes[2:] == ["validation.field_unknown", "validation.type_invalid",
                         "sync.hlc_invalid", "sync.op_invalid", "sync.entity_unknown",
                         "validation.field_required", "validation.uuid_invalid"]
    with db.connect() as conn:
        assert conn.execute(sa.text("select count(*) from household")).scalar() == 1
        assert conn.execute(sa.text("select count(*) from change_log")).scalar() == 1
        assert conn.execute(sa.text("select count(*) from sync_receipt")).scalar() == 1


def test_readonly_and_null_required(client, make_user, login):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    h = login("cadre")
    hid, create = new_household()
    hid2, create2 = new_household()
    mid = uuid.uuid4()
    member = change("member", mid, {"household_id": hid, "name": "张小三"})
    push(client, h, [create, create2, member])
    [moved, nulled] = push(client, h, [change("member", mid, {"household_id": hid2}, base=1),
                                      change("household", hid, {"head_name": None}, base=1)])
    assert moved["error"]["code"] == "validation.field_readonly"
    assert nulled["error"]["code"] == "validation.field_required"


def test_out_of_scope_is_identical_for_existing_and_missing(client, make_user, login):
    make_user("cadre_a", "village_cadre", [VILLAGE_A1])
    make_user("cadre_b", "village_cadre", [VILLAGE_B1])
    ha = login("cadre_a", "tab-a")
    hb = login("cadre_b", "tab-b")
    rid_b, create_b = new_household(VILLAGE_B1)
    assert push(client, hb, [create_b], "tab-b")[0]["status"] == "applied"
    existing = push(client, ha, [change("household", rid_b, {"phone": "13800000000"}, base=1)],
                    "tab-a")[0]
    missing = push(client, ha, [change("household", uuid.uuid4(), {"phone": "13800000000"},
                                       base=1)], "tab-a")[0]
    created = push(client, ha, [new_household(VILLAGE_B1)[1]], "tab-a")[0]
    deleted = push(client, ha, [change("household", rid_b, op="delete", base=1)], "tab-a")[0]
    for res in (existing, missing, deleted):
        assert res["status"] == "rejected"
        assert res["error"] == missing["error"]
    assert missing["error"]["code"] == "scope.out_of_scope"
    assert created["error"]["code"] == "scope.out_of_scope"
    # moving a household into a village outside the scope
    rid_a, create_a = new_household(VILLAGE_A1)
    push(client, ha, [create_a], "tab-a")
    moved = push(client, ha, [change("household", rid_a, {"village_code": VILLAGE_B1}, base=1)],
                 "tab-a")[0]
    assert moved["error"]["code"] == "scope.out_of_scope"
    # a child of a household of another scope
    child = push(client, ha, [change("member", uuid.uuid4(), {"household_id": rid_b,
                                                              "name": "王五"})], "tab-a")[0]
    assert child["error"]["code"] == "sync.parent_missing"


def test_child_needs_parent_in_db_or_batch(client, make_user, login):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    h = login("cadre")
    orphan = change("member", uuid.uuid4(), {"household_id": str(uuid.uuid4()), "name": "甲"})
    hid, create = new_household()
    child = change("member", uuid.uuid4(), {"household_id": hid, "name": "乙"})
    results = push(client, h, [orphan, create, child])
    assert results[0]["error"]["code"] == "sync.parent_missing"
    assert [r["status"] for r in results[1:]] == ["applied", "applied"]


def test_household_move_moves_children(client, make_user, login, db):
    make_user("clerk", "township_clerk", [TOWNSHIP_A])
    h = login("clerk")
    hid, create = new_household(VILLAGE_A1)
    child = change("member", uuid.uuid4(), {"household_id": hid, "name": "乙"})
    push(client, h, [create, child])
    [res] = push(client, h, [change("household", hid, {"village_code": VILLAGE_A2}, base=1)])
    assert res["status"] == "applied"
    with db.connect() as conn:
        assert conn.execute(sa.text("select village_code from member")).scalar() == VILLAGE_A2


def test_delete_and_delete_vs_edit(client, make_user, login, db):
    h1, h2 = two_cadres(make_user, login)
    rid, create = new_household()
    push(client, h1, [create], "tab-1")
    push(client, h1, [change("household", rid, {"phone": "13800000000"}, base=1,
                             device="tab-1")], "tab-1")
    [res] = push(client, h2, [change("household", rid, op="delete", base=1, device="tab-2")],
                 "tab-2")
    assert res["status"] == "conflict" and res["conflict_id"]
    with db.connect() as conn:
        row = conn.execute(sa.text("select deleted, version from household")).one()
        assert row == (False, 3)
        kind = conn.execute(sa.text("select kind from conflict")).scalar()
        assert kind == "delete_edit"
    [ok] = push(client, h2, [change("household", rid, op="delete", base=3, device="tab-2")],
                "tab-2")
    assert ok["status"] == "applied" and ok["version"] == 4
    # editing the tombstone resurrects it provisionally, as a conflict
    [edit] = push(client, h1, [change("household", rid, {"address": "四组"}, base=2,
                                      device="tab-1")], "tab-1")
    assert edit["status"] == "conflict" and edit["version"] == 5
    with db.connect() as conn:
        assert conn.execute(sa.text("select deleted from household")).scalar() is False


def test_duplicate_household(client, make_user, login, db):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    h = login("cadre")
    number = id_number()
    first_id, first = new_household(head_id_number=number)
    push(client, h, [first])
    second_id, second = new_household(VILLAGE_A1, head_id_number=number)
    [res] = push(client, h, [second])
    assert res["status"] == "conflict" and res["version"] == 1
    # within one batch, by household number
    a_id, a = new_household(household_number="HN-1")
    b_id, b = new_household(household_number="HN-1")
    results = push(client, h, [a, b])
    assert [r["status"] for r in results] == ["applied", "conflict"]
    with db.connect() as conn:
        rows = conn.execute(sa.text(
            "select record_id, other_record_id from conflict where kind='duplicate_record' "
            "order by detected_at")).all()
    assert {(str(r[0]), str(r[1])) for r in rows} == {(second_id, first_id), (b_id, a_id)}


def test_edit_that_makes_a_duplicate_household(client, make_user, login, db):
    """Correcting a head's ID number or a household number to one another active household of
    the county holds is a duplicate too; edits of other fields do not raise it again."""
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    h = login("cadre")
    number = id_number()
    first_id, first = new_household(head_id_number=number, household_number="HN-7")
    second_id, second = new_household(head_id_number=id_number())
    assert [r["status"] for r in push(client, h, [first, second])] == ["applied", "applied"]
    [res] = push(client, h, [change("household", second_id, {"head_id_number": number}, base=1)])
    assert res["status"] == "conflict" and res["version"] == 2
    # another field, or a number nobody has: nothing new
    results = push(client, h, [
        change("household", second_id, {"phone": "13800000009"}, base=2),
        change("household", first_id, {"household_number": "HN-8"}, base=1)])
    assert [r["status"] for r in results] == ["applied", "applied"]
    # taking the number the other household has just been given
    [res] = push(client, h, [change("household", second_id, {"household_number": "HN-8"},
                                    base=3)])
    assert res["status"] == "conflict"
    with db.connect() as conn:
        rows = conn.execute(sa.text(
            "select record_id, other_record_id, field from conflict "
            "where kind='duplicate_record' order by detected_at")).all()
    assert [(str(r[0]), str(r[1]), r[2]) for r in rows] == [
        (second_id, first_id, "head_id_number"), (second_id, first_id, "household_number")]


def test_future_clock_clamped_and_recorded(client, make_user, login, db):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    h = login("cadre", "tab-skew")
    rid, create = new_household()
    create["hlc"] = hlc("tab-skew", offset_ms=3600_000)
    [res] = push(client, h, [create], "tab-skew")
    assert res["status"] == "applied"
    with db.connect() as conn:
        skew = conn.execute(sa.text(
            "select max_clock_skew_ms from device where device_id='tab-skew'")).scalar()
        stored = conn.execute(sa.text("select field_hlcs->>'head_name' from household")).scalar()
    assert skew >= 3600_000 - 5000
    assert stored < hlc("tab-skew", offset_ms=1000)


def test_envelope_errors(client, make_user, login):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    h = login("cadre")
    too_many = [change("household", uuid.uuid4(), {}) for _ in range(501)]
    resp = client.post("/api/v1/sync/push", headers=h,
                       json={"protocol": 1, "device_id": "tab-test", "changes": too_many})
    assert resp.status_code == 413
    assert resp.json()["error"]["code"] == "request.too_many_changes"
    resp = client.post("/api/v1/sync/push", headers=h,
                       content=b'{"protocol":1,"device_id":"tab-test","changes":["'
                       + b"x" * (2 * 1024 * 1024) + b'"]}')
    assert resp.status_code == 413 and resp.json()["error"]["code"] == "request.too_large"
    resp = client.post("/api/v1/sync/push", headers=h, content=b"{not json")
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "request.malformed"
    resp = client.post("/api/v1/sync/push", headers=h, json={"device_id": "tab-test"})
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "request.malformed"
    resp = client.post("/api/v1/sync/push", headers=h,
                       json={"protocol": 1, "device_id": "other", "changes": []})
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "sync.device_mismatch"
    resp = client.post("/api/v1/sync/push", headers={k: v for k, v in h.items()
                                                     if k != "Authorization"},
                       json={"protocol": 1, "device_id": "tab-test", "changes": []})
    assert resp.status_code == 401


def test_server_operation_is_audited_and_pulled(client, make_user, login, db):
    from sqlmodel import Session

    from server.scope import Principal
    from server.sync.operations import Origin, ServerChange, apply

    make_user("cadre", "village_cadre", [VILLAGE_A1])
    h = login("cadre")
    rid, create = new_household()
    push(client, h, [create])
    admin = Principal(user_id=uuid.uuid4(), username="admin", name="管理员", role="county_admin",
                      scopes=("411702",), device_id="console", scope_version=1)
    new_id = uuid.uuid4()
    with Session(db) as session:
        results = apply(session, admin, [
            ServerChange("household", rid, {"phone": "13600000000"}),
            ServerChange("household", new_id, {"village_code": VILLAGE_A1, "head_name": "导入户"}),
            ServerChange("household", uuid.uuid4(),
                         {"village_code": VILLAGE_B1[:6] + "999999999", "head_name": "外县"}),
        ], Origin.IMPORT)
        session.commit()
    assert [r.status for r in results[:2]] == ["applied", "applied"]
    assert results[2].error is not None and results[2].error.code in (
        "scope.out_of_scope", "validation.region_code_invalid")
    with db.connect() as conn:
        # written as the admin from their own device, with the operation named as its source
        assert conn.execute(sa.text(
            "select count(*) from change_log where source = 'import' and device_id = 'console'"
        )).scalar() == 2
    from tests.sync.syncutil import pull_all
    records, _, _ = pull_all(client, h)
    phones = {r["record_id"]: r["fields"]["phone"] for r in records}
    assert phones[rid] == "13600000000" and str(new_id) in phones


def test_garbage_changes_are_rejected_never_500(client, make_user, login):
    """Whatever a change holds, the answer is a per-change result, never a server error."""
    import random

    make_user("cadre", "village_cadre", [VILLAGE_A1])
    h = login("cadre")
    rnd = random.Random(7)
    junk = [None, 1, -1, 2**70, 1.5, "", "x" * 300, [], {}, [1, "a"], {"a": {"b": []}}, True,
            str(uuid.uuid4()), "1763884800123-0002-tab-test", "\u0000", VILLAGE_A1]
    keys = ["change_id", "seq", "entity", "record_id", "op", "base_version", "fields", "hlc"]
    changes = []
    for _ in range(120):
        c = change("household", uuid.uuid4(), {"village_code": VILLAGE_A1, "head_name": "甲"})
        for key in rnd.sample(keys, rnd.randint(1, 3)):
            c[key] = rnd.choice(junk)
        if rnd.random() < 0.3:
            c["fields"] = {rnd.choice(["phone", "lat", "causes", "head_id_number", "village_code",
                                       "identified_year", "household_number"]): rnd.choice(junk)}
        changes.append(c)
    huge = new_household()[1]
    huge["seq"] = 2**70
    changes.append(huge)
    results = push(client, h, changes)
    assert len(results) == len(changes)
    assert results[-1]["status"] == "applied"
    for r in results:
        assert r["status"] in ("applied", "rejected", "duplicate", "conflict"), r
        if r["status"] == "rejected":
            assert r["error"]["code"] and r["error"]["message"]


def test_receipt_from_before_slim_receipts_still_replays(client, make_user, login, db):
    """Receipts written before migration 0004 hold the whole result in ``result``."""
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    h = login("cadre")
    rid, create = new_household()
    [first] = push(client, h, [create])
    with db.begin() as conn:
        conn.execute(sa.text("UPDATE sync_receipt SET version = NULL, result = CAST(:r AS jsonb)"),
                     {"r": json.dumps(first)})
    [again] = push(client, h, [create])
    assert again == {**first, "status": "duplicate", "original_status": "applied"}


def test_same_change_id_from_two_devices_at_once(make_user, db):
    """Another device's push with the same change id waits for the first to commit, then gets a
    503 (nothing of it written) and, on its retry, ``sync.change_id_reused``."""
    users = [make_user(f"cadre{n}", "village_cadre", [VILLAGE_A1]) for n in (1, 2)]
    principals = [Principal(u.id, u.username, u.name, u.role, tuple(u.scopes), f"tab-{n}", 1)
                  for n, u in enumerate(users, 1)]
    change_id = str(uuid.uuid4())
    bodies = []
    for p in principals:
        _, create = new_household()
        create["change_id"] = change_id
        bodies.append(json.dumps({"protocol": 1, "device_id": p.device_id,
                                  "changes": [create]}).encode())
    first = Session(db)
    push_service.push(first, principals[0], bodies[0])  # not committed yet
    outcome: list[Any] = []

    def second() -> None:
        with Session(db) as session:
            try:
                outcome.append(push_service.push(session, principals[1], bodies[1]))
            except RuhuError as exc:
                outcome.append(exc)

    thread = threading.Thread(target=second)
    thread.start()
    with db.connect() as conn:  # until the second waits on the first's receipt
        for _ in range(500):
            waiting = conn.execute(sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database()")).scalar()
            if waiting:
                break
            time.sleep(0.01)
    first.commit()
    first.close()
    thread.join(timeout=30)
    [err] = outcome
    assert isinstance(err, RuhuError) and err.status_code == 503
    with Session(db) as session:
        [res] = push_service.push(session, principals[1], bodies[1])["results"]
        session.commit()
    assert res["status"] == "rejected" and res["error"]["code"] == "sync.change_id_reused"
    with db.connect() as conn:
        assert conn.execute(sa.text("select count(*) from household")).scalar() == 1
        assert conn.execute(sa.text("select count(*) from change_log")).scalar() == 1


def _stored_maps(db, rid: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The household's per-field versions and clocks as the next merge sees them."""
    with Session(db) as session:
        return field_maps(session, "household", rid)


def test_resending_a_current_value_keeps_the_later_clock(client, make_user, login, db):
    """The lock query skips the version maps of a record still at the change's base version;
    the clock of a field sent again unchanged must still be read (the later one is kept)."""
    make_user("cadre1", "village_cadre", [VILLAGE_A1])
    make_user("cadre2", "village_cadre", [VILLAGE_A1])
    h1, h2 = login("cadre1", "tab-1"), login("cadre2", "tab-2")
    rid, create = new_household(phone="13800000000")
    push(client, h1, [create], "tab-1")
    ahead = hlc("tab-2", offset_ms=60_000)  # within the allowed skew: not clamped
    [r2] = push(client, h2, [change("household", rid, {"phone": "13900000009"}, base=1,
                                    device="tab-2", hlc_text=ahead)], "tab-2")
    assert r2["status"] == "applied" and r2["version"] == 2
    # tab-1 has pulled version 2 and saves its form again: same phone, an earlier clock
    [r3] = push(client, h1, [change("household", rid, {"phone": "13900000009",
                                                       "address": "三组"}, base=2,
                                    device="tab-1")], "tab-1")
    assert r3["status"] == "applied" and r3["version"] == 3
    versions, clocks = _stored_maps(db, rid)
    assert clocks["phone"] == ahead  # not the earlier clock of the repeat
    assert versions["phone"] == 3 and versions["address"] == 3
    untouched = create["hlc"].replace("tab-test", "tab-1")  # the server names the real device
    assert versions["head_name"] == 1 and clocks["head_name"] == untouched


def test_an_agreement_on_typed_values_keeps_the_later_clock_after_a_db_round_trip(
        client, make_user, login, db):
    """Record updates do not store the per-field clocks: the change log's old and new values
    decide whether a write was an agreement (migration 0016). A date, a number and a flag sent
    again with their stored values keep the colleague's later clock, so a later edit made
    without seeing it conflicts instead of passing as the device's own write."""
    h1, h2 = two_cadres(make_user, login)
    hid, create = new_household()
    mid = str(uuid.uuid4())
    member = change("member", mid, {"household_id": hid, "name": "李四", "relation": "spouse",
                                     "birth_date": "1960-05-01", "migrant_months": 3},
                    device="tab-1")
    push(client, h1, [create, member], "tab-1")
    ahead = hlc("tab-2", offset_ms=60_000)
    typed = {"birth_date": "1960-05-02", "migrant_months": 6, "public_welfare_job": True}
    [r2] = push(client, h2, [change("member", mid, typed, base=1, device="tab-2",
                                    hlc_text=ahead)], "tab-2")
    assert (r2["status"], r2["version"]) == ("applied", 2)
    [r3] = push(client, h1, [change("member", mid, typed, base=2, device="tab-1")], "tab-1")
    assert (r3["status"], r3["version"]) == ("applied", 3)
    with Session(db) as session:
        versions, clocks = field_maps(session, "member", mid)
    assert {k: (versions[k], clocks[k]) for k in typed} == {k: (3, ahead) for k in typed}
    # tab-1 edits again on version 2: the last writes are tab-2's (an agreement is no one's own)
    [r4] = push(client, h1, [change("member", mid, {"migrant_months": 7}, base=2,
                                    device="tab-1")], "tab-1")
    assert r4["status"] == "conflict"


def test_two_changes_to_one_record_in_a_batch_with_an_older_base(client, make_user, login, db):
    """Several offline edits of one record arrive together, all made on the version the device
    had; a colleague's change in between must still be detected."""
    make_user("cadre1", "village_cadre", [VILLAGE_A1])
    make_user("cadre2", "village_cadre", [VILLAGE_A1])
    h1, h2 = login("cadre1", "tab-1"), login("cadre2", "tab-2")
    rid, create = new_household()
    push(client, h1, [create], "tab-1")
    [other] = push(client, h2, [change("household", rid, {"phone": "13900000002"}, base=1,
                                       device="tab-2", hlc_text=hlc("tab-2", 30_000))],
                   "tab-2")
    assert other["version"] == 2
    first = change("household", rid, {"address": "一组"}, base=1, device="tab-1")
    second = change("household", rid, {"phone": "13900000001"}, base=1, device="tab-1",
                    hlc_text=hlc("tab-1", offset_ms=1))
    r1, r2 = push(client, h1, [first, second], "tab-1")
    assert r1["status"] == "merged" and r1["version"] == 3
    assert r2["status"] == "conflict" and r2["version"] == 4  # tab-2's phone is later: kept
    versions, clocks = _stored_maps(db, rid)
    assert versions["address"] == 3 and versions["phone"] == 2  # the losing value is not written
    assert clocks["phone"].endswith("tab-2")


def test_a_time_without_a_zone_is_china_time(client, make_user, login, db):
    """``visited_at`` sent without an offset is read as China time (UTC+8) by the one rule in
    sync_protocol, never in whatever zone the database session has; with an offset it is kept."""
    make_user("cadre_tz", "village_cadre", [VILLAGE_A1])
    h = login("cadre_tz")
    hid, create = new_household()
    naive, aware = str(uuid.uuid4()), str(uuid.uuid4())
    results = push(client, h, [
        create,
        change("visit", naive, {"household_id": hid, "visited_at": "2026-11-30T10:00:00",
                               "notes": "了解家庭收入情况"}),
        change("visit", aware, {"household_id": hid, "visited_at": "2026-11-30T10:00:00Z",
                               "notes": "了解家庭收入情况"}),
    ])
    assert [r["status"] for r in results] == ["applied"] * 3, results
    with db.connect() as conn:
        conn.execute(sa.text("SET TIME ZONE 'UTC'"))
        got = dict(conn.execute(sa.text(
            "SELECT id::text, to_char(visited_at, 'YYYY-MM-DD HH24:MI') FROM visit "
            "WHERE id::text IN (:a, :b)"), {"a": naive, "b": aware}).all())
    assert got == {naive: "2026-11-30 02:00", aware: "2026-11-30 10:00"}
