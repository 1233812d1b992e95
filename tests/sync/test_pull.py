"""Pull: scoped current state, paging, incremental cursor, tombstones, scope reset, bad cursors."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from tests.conftest import TOWNSHIP_A, VILLAGE_A1, VILLAGE_A2, VILLAGE_B1
from tests.sync.syncutil import change, new_household, pull_all, push, two_cadres


def test_initial_download_paged_and_scoped(client, make_user, login):
    make_user("clerk", "township_clerk", [TOWNSHIP_A])
    make_user("cadre_b", "village_cadre", [VILLAGE_B1])
    make_user("cadre_a2", "village_cadre", [VILLAGE_A2])
    hc = login("clerk", "tab-c")
    creates = []
    for i in range(7):
        rid, c = new_household(VILLAGE_A1 if i % 2 else VILLAGE_A2, phone="13800000000")
        creates.append(c)
        creates.append(change("member", uuid.uuid4(), {"household_id": rid, "name": f"成员{i}"},
                              device="tab-c"))
    assert all(r["status"] == "applied" for r in push(client, hc, creates, "tab-c"))
    hb = login("cadre_b", "tab-b")
    push(client, hb, [new_household(VILLAGE_B1)[1]], "tab-b")

    records, _, cursor = pull_all(client, hc, limit=3)
    assert len(records) == 14
    assert len({(r["entity"], r["record_id"]) for r in records}) == 14
    assert all(r["fields"].get("village_code", VILLAGE_A1).startswith(TOWNSHIP_A)
               for r in records)
    member = next(r for r in records if r["entity"] == "member")
    assert set(member["fields"]) >= {"household_id", "name", "id_number"}
    # the cadre of another village sees none of them
    a2 = login("cadre_a2", "tab-a2")
    theirs, _, _ = pull_all(client, a2)
    assert len(theirs) == 8 and all(
        r["fields"].get("village_code", VILLAGE_A2) == VILLAGE_A2 for r in theirs
        if r["entity"] == "household")
    b_records, _, _ = pull_all(client, hb)
    assert len(b_records) == 1
    # nothing new: empty incremental pull
    again, _, cursor2 = pull_all(client, hc, cursor)
    assert again == []
    # a change appears once, with its current state
    rid = records[0]["record_id"]
    entity = records[0]["entity"]
    fields = {"phone": "13900000000"} if entity == "household" else {"name": "改名"}
    [res] = push(client, hc, [change(entity, rid, fields, base=1, device="tab-c")], "tab-c")
    assert res["status"] == "applied"
    newer, _, _ = pull_all(client, hc, cursor2)
    assert [(r["record_id"], r["version"]) for r in newer] == [(rid, 2)]


def test_tombstones_and_conflicts_in_incremental_pull(client, make_user, login):
    h1, h2 = two_cadres(make_user, login)
    keep, c1 = new_household()
    gone, c2 = new_household()
    push(client, h1, [c1, c2], "tab-1")
    _, _, cursor = pull_all(client, h2)
    push(client, h1, [change("household", gone, op="delete", base=1, device="tab-1"),
                      change("household", keep, {"phone": "13800000001"}, base=1,
                             device="tab-1")], "tab-1")
    [res] = push(client, h2, [change("household", keep, {"phone": "13800000002"}, base=1,
                                     device="tab-2")], "tab-2")
    assert res["status"] == "conflict"
    records, conflicts, _ = pull_all(client, h2, cursor)
    by_id = {r["record_id"]: r for r in records}
    assert by_id[gone]["deleted"] is True
    assert by_id[keep]["version"] == 3
    assert [c["id"] for c in conflicts] == [res["conflict_id"]]
    conflict = conflicts[0]
    assert conflict["field"] == "phone" and conflict["base_value"] is None or True
    assert {conflict["server"]["value"], conflict["client"]["value"]} == {"13800000001",
                                                                        "13800000002"}
    # a fresh device does not get the tombstone
    fresh, _, _ = pull_all(client, login("cadre1", "tab-3"))
    assert {r["record_id"] for r in fresh} == {keep}


def test_scope_change_resets(client, make_user, login, db):
    user = make_user("cadre", "village_cadre", [VILLAGE_A1])
    h = login("cadre")
    push(client, h, [new_household(VILLAGE_A1)[1]])
    _, _, cursor = pull_all(client, h)
    with db.begin() as conn:
        conn.execute(sa.text("update app_user set scopes = :s, scope_version = scope_version + 1 "
                             "where id = :id"), {"s": f'["{VILLAGE_A2}"]', "id": user.id})
    resp = client.get("/api/v1/sync/pull", headers=h, params={"cursor": cursor})
    assert resp.status_code == 200
    body = resp.json()
    assert body["reset"] is True and body["changes"] == []
    # with the new cursor, no reset any more
    resp = client.get("/api/v1/sync/pull", headers=h, params={"cursor": body["next_cursor"]})
    assert resp.json()["reset"] is False


def test_bad_cursor(client, make_user, login):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    make_user("other", "village_cadre", [VILLAGE_A1])
    h = login("cadre")
    import base64
    import json

    _, _, mine = pull_all(client, h)
    data = json.loads(base64.urlsafe_b64decode(mine + "=" * (-len(mine) % 4)))
    huge = base64.urlsafe_b64encode(json.dumps({**data, "lo": 2**70}).encode()).decode()
    for bad in ("garbage", "eyJ2IjoxfQ", "!!!", huge):
        resp = client.get("/api/v1/sync/pull", headers=h, params={"cursor": bad})
        assert resp.status_code == 400
        assert resp.json()["error"]["code"] == "request.cursor_invalid"
    _, _, cursor = pull_all(client, login("other", "tab-o"))
    resp = client.get("/api/v1/sync/pull", headers=h, params={"cursor": cursor})
    assert resp.status_code == 400


def test_pull_limit_bounds(client, make_user, login):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    h = login("cadre")
    push(client, h, [new_household()[1] for _ in range(3)])
    resp = client.get("/api/v1/sync/pull", headers=h, params={"limit": 0})
    assert resp.status_code == 200 and len(resp.json()["changes"]) == 1
    resp = client.get("/api/v1/sync/pull", headers=h, params={"limit": 99999})
    assert resp.status_code == 200 and len(resp.json()["changes"]) == 3


def test_changes_committed_during_a_paged_round_are_not_skipped(client, make_user, login):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    h = login("cadre")
    push(client, h, [new_household()[1] for _ in range(3)])
    first = client.get("/api/v1/sync/pull", headers=h, params={"limit": 1}).json()
    assert first["has_more"] is True
    late_id, late = new_household()
    push(client, h, [late])  # commits after the round began: txid >= the round's watermark
    records, _, _ = pull_all(client, h, first["next_cursor"], limit=1)
    assert late_id in {r["record_id"] for r in records}
    # the late household may come twice (in the download's pages, where it sorts, and in the
    # next round, from its change-log row): harmless, the device keeps the higher version
    assert len({r["record_id"] for r in first["changes"] + records}) == 4
    assert len(first["changes"]) + len(records) <= 5


def test_reference_data_on_first_page_of_initial_download(client, make_user, login):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    h = login("cadre")
    push(client, h, [new_household()[1] for _ in range(2)])
    first = client.get("/api/v1/sync/pull", headers=h, params={"limit": 1}).json()
    assert "checklist_templates" in first["reference"]
    second = client.get("/api/v1/sync/pull", headers=h,
                        params={"limit": 1, "cursor": first["next_cursor"]}).json()
    assert second.get("reference") is None


def _pull_removed(client, headers, cursor):
    """Pull to the end from ``cursor``: (record ids in changes, removed ids, cursor)."""
    changed, removed = set(), set()
    while True:
        body = client.get("/api/v1/sync/pull", headers=headers, params={"cursor": cursor}).json()
        changed |= {c["record_id"] for c in body["changes"]}
        removed |= {r["record_id"] for r in body["removed"]}
        cursor = body["next_cursor"]
        if not body["has_more"]:
            return changed, removed, cursor


def test_household_moved_away_is_removed_from_the_old_villages_devices(client, make_user, login):
    make_user("both", "village_cadre", [VILLAGE_A1, VILLAGE_A2])
    make_user("cadre_a1", "village_cadre", [VILLAGE_A1])
    make_user("cadre_a2", "village_cadre", [VILLAGE_A2])
    hb = login("both", "tab-both")
    h1 = login("cadre_a1", "tab-a1")
    h2 = login("cadre_a2", "tab-a2")
    hid, create = new_household(VILLAGE_A1)
    mid = str(uuid.uuid4())
    stays, create_other = new_household(VILLAGE_A1)
    push(client, hb, [create, create_other,
                      change("member", mid, {"household_id": hid, "name": "李四"},
                             device="tab-both")], "tab-both")
    records, _, c1 = pull_all(client, h1)
    assert {r["record_id"] for r in records} == {hid, mid, stays}
    _, _, c2 = pull_all(client, h2)

    [res] = push(client, hb, [change("household", hid, {"village_code": VILLAGE_A2}, base=1,
                                     device="tab-both")], "tab-both")
    assert res["status"] == "applied"
    changed, removed, c1 = _pull_removed(client, h1, c1)
    assert removed == {hid} and hid not in changed and mid not in changed
    changed, removed, c2 = _pull_removed(client, h2, c2)
    assert changed == {hid, mid} and removed == set()
    # nothing is announced twice
    assert _pull_removed(client, h1, c1)[:2] == (set(), set())

    # moved away and back before the old village's device pulled: it just gets the new state
    for village, base in ((VILLAGE_A1, 2), (VILLAGE_A2, 3), (VILLAGE_A1, 4)):
        [res] = push(client, hb, [change("household", hid, {"village_code": village}, base=base,
                                         device="tab-both")], "tab-both")
        assert res["status"] == "applied"
    changed, removed, _ = _pull_removed(client, h1, c1)
    assert hid in changed and mid in changed and removed == set()


def _pages(client, headers, cursor=None, limit=1):
    """Pull page by page: [(records, has_more)], and the last cursor."""
    pages = []
    while True:
        params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        body = client.get("/api/v1/sync/pull", headers=headers, params=params).json()
        pages.append(([r["record_id"] for r in body["changes"]], body["has_more"]))
        cursor = body["next_cursor"]
        if not body["has_more"]:
            return pages, cursor


def test_a_drained_round_sends_the_tablet_back_only_for_news_in_its_scope(client, make_user,
                                                                          login):
    """A round of several pages ends with ``has_more: false`` when the transactions that ended
    meanwhile touched only other villages, and with ``true`` (then the news) when one touched
    the tablet's own village."""
    make_user("cadre_a", "village_cadre", [VILLAGE_A1])
    make_user("cadre_b", "village_cadre", [VILLAGE_B1])
    ha, hb = login("cadre_a", "tab-a"), login("cadre_b", "tab-b")
    push(client, ha, [new_household(VILLAGE_A1)[1] for _ in range(3)], "tab-a")
    # the first page opens the round; another village's commit follows
    first = client.get("/api/v1/sync/pull", headers=ha, params={"limit": 1}).json()
    assert first["has_more"]
    push(client, hb, [new_household(VILLAGE_B1)[1]], "tab-b")
    rest, cursor = _pages(client, ha, first["next_cursor"])
    # the page that finds the end of the households ends the download: no empty round after it
    # (before, it said has_more and the tablet came back once more for nothing)
    assert [(len(ids), more) for ids, more in rest] == [(1, True), (1, True), (0, False)]
    # now a commit in the tablet's own village while its round is open
    push(client, ha, [new_household(VILLAGE_A1)[1] for _ in range(2)], "tab-a")
    first = client.get("/api/v1/sync/pull", headers=ha, params={"cursor": cursor,
                                                                "limit": 1}).json()
    assert len(first["changes"]) == 1 and first["has_more"]
    news, c2 = new_household(VILLAGE_A1)
    push(client, ha, [c2], "tab-a")
    rest, _ = _pages(client, ha, first["next_cursor"])
    assert rest[-2][1] is True  # the drained round says: more came meanwhile
    assert news in rest[-1][0]


def test_id_arrays_are_bound_untyped(engine):
    """The pull's id arrays reach Postgres as untyped parameters read as ``uuid[]`` once; a
    ``text`` parameter cast to ``uuid[]`` is re-parsed for every row of a sequential scan (a
    village's first download took 11 s instead of 1.5 s, docs/performance.md, session 9)."""
    from server.sync import pull as pull_mod

    for stmt in (pull_mod._children_sql(),
                 sa.select(sa.literal(1)).where(sa.literal(uuid.uuid4()) == pull_mod._any_uuid(
                     [str(uuid.uuid4())]))):
        sql = str(stmt.compile(dialect=engine.dialect))
        assert "AS UUID[]" in sql and "::VARCHAR AS UUID[]" not in sql
