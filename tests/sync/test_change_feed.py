"""The pull fed by the change log (migration 0015): children that follow a moved household,
initial downloads by household interleaved with pushes, HOT record updates."""

from __future__ import annotations

import random
import time
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from server.db.tables import SYNCED_TABLES
from tests.conftest import TOWNSHIP_A, VILLAGE_A1, VILLAGE_A2, VILLAGE_B1
from tests.sync.syncutil import change, new_household, pull_all, push

VISIT = {"visited_at": "2026-11-01T08:00:00Z", "purpose": "走访", "notes": "了解家庭收入情况"}


def test_children_that_followed_a_moved_household_reach_the_new_village(client, db, make_user,
                                                                        login):
    make_user("clerk", "township_clerk", [TOWNSHIP_A])
    make_user("cadre_a2", "village_cadre", [VILLAGE_A2])
    hc = login("clerk", "tab-clerk")
    h2 = login("cadre_a2", "tab-a2")
    hid, create = new_household(VILLAGE_A1)
    mid, vid = str(uuid.uuid4()), str(uuid.uuid4())
    results = push(client, hc, [
        create, change("member", mid, {"household_id": hid, "name": "李四"}, device="tab-clerk"),
        change("visit", vid, {"household_id": hid, **VISIT}, device="tab-clerk")], "tab-clerk")
    assert [r["status"] for r in results] == ["applied"] * 3, results
    records, _, cursor = pull_all(client, h2)
    assert records == []
    # only the household is pushed: its children follow it on the server
    [res] = push(client, hc, [change("household", hid, {"village_code": VILLAGE_A2}, base=1,
                                     device="tab-clerk")], "tab-clerk")
    assert res["status"] == "applied"
    records, _, _ = pull_all(client, h2, cursor, limit=1)
    got = {(r["entity"], r["record_id"]): r for r in records}
    assert set(got) == {("household", hid), ("member", mid), ("visit", vid)}
    with db.connect() as conn:
        follow = conn.execute(sa.text(
            "SELECT entity, village_code, household_id, source FROM change_log "
            "WHERE op = 'follow' ORDER BY entity")).all()
    # the children's feed rows: in the new village, in no household's history
    assert follow == [("member", VILLAGE_A2, None, "sync"), ("visit", VILLAGE_A2, None, "sync")]
    history = client.get(f"/api/v1/households/{hid}", headers=hc).json()
    assert all(h.get("op") != "follow" for h in history.get("history", []))


# --- an initial download interleaved with pushes -----------------------------------------------


class _Device:
    """What a tablet keeps of its pulls: (entity, id) -> version; drops tombstones and removals
    (a household's removal takes its children)."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], int] = {}
        self.household: dict[str, str] = {}

    def apply(self, body: dict[str, Any]) -> None:
        for r in body["changes"]:
            key = (r["entity"], r["record_id"])
            if r["deleted"]:
                self.records.pop(key, None)
            elif r["version"] >= self.records.get(key, 0):
                self.records[key] = r["version"]
                if r["entity"] != "household":
                    self.household[r["record_id"]] = r["fields"]["household_id"]
        for gone in body["removed"]:
            self.records.pop((gone["entity"], gone["record_id"]), None)
            if gone["entity"] == "household":
                for key in [k for k in self.records
                            if self.household.get(k[1]) == gone["record_id"]]:
                    del self.records[key]


def _in_scope(db, prefix: str) -> dict[tuple[str, str], int]:
    with db.connect() as conn:
        out = {}
        for entity, model in SYNCED_TABLES.items():
            table = model.__tablename__
            for rid, version in conn.execute(sa.text(
                    f"SELECT id::text, version FROM {table} "
                    "WHERE NOT deleted AND village_code LIKE :p"), {"p": prefix + "%"}):
                out[(entity, rid)] = version
        return out


class _Writer:
    """Random pushes of another tablet: new households in and out of the scope, children,
    edits, moves between villages (out of the scope too), deletions."""

    def __init__(self, client, headers, rng: random.Random) -> None:
        self.client, self.headers, self.rng = client, headers, rng
        self.households: dict[str, list[Any]] = {}  # id -> [village, version]
        self.children: dict[str, list[Any]] = {}  # id -> [household, version]

    def step(self) -> None:
        rng, dev = self.rng, "tab-writer"
        live = [h for h, (v, _) in self.households.items() if v is not None]
        roll = rng.random()
        if roll < 0.25 or not live:
            hid, c = new_household(rng.choice([VILLAGE_A1, VILLAGE_A2, VILLAGE_B1]))
            c["hlc"] = c["hlc"][:-len("tab-test")] + dev
            changes = [c]
            self.households[hid] = [c["fields"]["village_code"], 1]
            for _ in range(rng.randint(0, 3)):
                cid = str(uuid.uuid4())
                changes.append(change("member", cid, {"household_id": hid, "name": "成员"},
                                      device=dev))
                self.children[cid] = [hid, 1]
        elif roll < 0.45:
            hid, cid = rng.choice(live), str(uuid.uuid4())
            changes = [change("visit", cid, {"household_id": hid, **VISIT}, device=dev)]
        elif roll < 0.65:
            hid = rng.choice(live)
            changes = [change("household", hid, {"phone": f"138{rng.randint(0, 10**8):08d}"},
                              base=self.households[hid][1], device=dev)]
        elif roll < 0.85:
            hid = rng.choice(live)
            village = rng.choice([VILLAGE_A1, VILLAGE_A2, VILLAGE_B1])
            changes = [change("household", hid, {"village_code": village},
                              base=self.households[hid][1], device=dev)]
        elif roll < 0.93 and self.children:
            cid = rng.choice(list(self.children))
            changes = [change("member", cid, op="delete", base=self.children[cid][1],
                              device=dev)]
        else:
            hid = rng.choice(live)
            changes = [change("household", hid, op="delete", base=self.households[hid][1],
                              device=dev)]
        results = push(self.client, self.headers, changes, dev)
        for c, r in zip(changes, results, strict=True):
            if r["status"] not in ("applied", "merged"):
                continue
            book = self.households if c["entity"] == "household" else self.children
            if c["record_id"] in book:
                book[c["record_id"]][1] = r["version"]
            if c["entity"] == "household" and "village_code" in c["fields"]:
                book[c["record_id"]][0] = c["fields"]["village_code"]
            if c["op"] == "delete" and c["entity"] == "household":
                book[c["record_id"]][0] = None


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_initial_download_interleaved_with_pushes_misses_nothing(client, db, make_user, login,
                                                                 seed):
    make_user("clerk", "township_clerk", [TOWNSHIP_A])
    make_user("county", "county_admin", [TOWNSHIP_A[:6]])
    writer = _Writer(client, login("county", "tab-writer"), random.Random(seed))
    for _ in range(25):
        writer.step()
    reader = login("clerk", "tab-reader")
    device, cursor = _Device(), None
    rng = random.Random(seed * 7)
    for _ in range(3):  # the download, then incremental rounds, each interleaved with pushes
        for _ in range(500):
            params: dict[str, Any] = {"limit": rng.choice([1, 2, 5])}
            if cursor:
                params["cursor"] = cursor
            body = client.get("/api/v1/sync/pull", headers=reader, params=params).json()
            device.apply(body)
            cursor = body["next_cursor"]
            for _ in range(rng.randint(0, 2)):
                writer.step()
            if not body["has_more"]:
                break
    # the last pushes happened after the last page: one more sync catches up with them
    while True:
        body = client.get("/api/v1/sync/pull", headers=reader, params={"cursor": cursor}).json()
        device.apply(body)
        cursor = body["next_cursor"]
        if not body["has_more"]:
            break
    assert device.records == _in_scope(db, TOWNSHIP_A)


# --- HOT updates ---------------------------------------------------------------------------------


def _update_counts(db) -> dict[str, tuple[int, int]]:
    with db.connect() as conn:
        conn.execute(sa.text("SELECT pg_stat_clear_snapshot()"))
        return {r[0]: (r[1], r[2]) for r in conn.execute(sa.text(
            "SELECT relname, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables "
            "WHERE relname IN ('household', 'member')"))}


def test_record_updates_are_hot(client, db, make_user, login):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    h = login("cadre", "tab-hot")
    households = [new_household(VILLAGE_A1) for _ in range(20)]
    members = [(str(uuid.uuid4()), hid) for hid, _ in households]
    push(client, h, [c for _, c in households] + [
        change("member", mid, {"household_id": hid, "name": "王五"}, device="tab-hot")
        for mid, hid in members], "tab-hot")
    before = _update_counts(db)
    # one household and its member per push: a batch that rewrites every row of a page needs
    # room for all their new versions at once, more than the fill factor keeps free
    for version in (1, 2, 3):
        for (hid, _), (mid, _) in zip(households, members, strict=True):
            results = push(client, h, [
                change("household", hid, {"phone": f"1380000{version:04d}"}, base=version,
                       device="tab-hot"),
                change("member", mid, {"name": f"王{version}"}, base=version, device="tab-hot"),
            ], "tab-hot")
            assert {r["status"] for r in results} == {"applied"}
    deadline = time.monotonic() + 30  # the server's backends report their counts when idle
    while True:
        after = _update_counts(db)
        done = {t: after[t][0] - before.get(t, (0, 0))[0] for t in after}
        if all(n >= 60 for n in done.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    for table in ("household", "member"):
        updates = after[table][0] - before.get(table, (0, 0))[0]
        hot = after[table][1] - before.get(table, (0, 0))[1]
        assert updates >= 60, (table, updates)
        # heap-only unless the page has no room left (pruning its dead versions can be held
        # back by another transaction's snapshot): before migration 0015 none was
        assert hot >= 0.9 * updates, (table, hot, updates)
