"""Randomised offline sessions of two tablets against the real server: whatever the order of
edits and syncs, both devices end equal to the server and no local work disappears."""

from __future__ import annotations

import random

import pytest

from tests.conftest import TOWNSHIP_A, VILLAGE_A1

from .conftest import snapshot
from .util import household

ITEMS = ("base_file", "measures", "secretary_knows", "helper_duty", "trajectory")


def _step(rng: random.Random, dev, created: list[str], serial: list[int]) -> None:
    store = dev.store
    households = [r.id for r in store.roster()]
    op = rng.choice(["hh", "hh", "member", "member_edit", "visit", "verdict", "income",
                     "delete_member", "create"])
    if op == "create" or not households:
        serial[0] += 1
        created.append(store.create_household(household(f"新户{serial[0]}", serial=serial[0])))
        return
    hid = rng.choice(households)
    if op == "hh":
        field, values = rng.choice([("phone", ["13800000001", "13800000002", "13800000003"]),
                                    ("address", ["一组", "二组", "三组"]),
                                    ("group_name", ["东队", "西队"])])
        store.update("household", hid, {field: rng.choice(values)})
    elif op == "member":
        created.append(store.add_member(hid, {"name": rng.choice(["甲", "乙", "丙"]) + "某"}))
    elif op == "member_edit":
        members = store.children(hid, "member")
        if members:
            store.update("member", rng.choice(members).id, {"name": rng.choice(["丁某", "戊某"])})
    elif op == "visit":
        created.append(store.record_visit(hid, {"purpose": rng.choice(["走访", "回访"]),
                                                     "notes": "了解家庭情况"}))
    elif op == "verdict":
        store.set_checklist_verdict(hid, rng.choice(ITEMS), rng.choice(["clear", "unclear"]))
    elif op == "income":
        created.append(store.add_income(hid, {"year": 2026, "category": "wage",
                                              "amount": rng.randint(1, 9) * 1000}))
    elif op == "delete_member":
        members = store.children(hid, "member")
        if members:
            store.delete("member", rng.choice(members).id)


@pytest.mark.parametrize("seed", [1, 2])
def test_random_sessions_converge(seed, client, make_user, make_device, login):
    rng = random.Random(seed)
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    make_user("secretary", "first_secretary", [VILLAGE_A1])
    make_user("clerk", "township_clerk", [TOWNSHIP_A])
    a = make_device("cadre", "tab-a")
    b = make_device("secretary", "tab-b")
    serial = [0]
    created: list[str] = []
    for _ in range(2):
        serial[0] += 1
        a.store.create_household(household(f"老户{serial[0]}", serial=serial[0]))
    a.sync()
    b.sync()
    for _ in range(40):
        dev = rng.choice([a, b])
        _step(rng, dev, created, serial)
        if rng.random() < 0.25:
            rng.choice([a, b]).sync()
    for dev in (a, b, a, b):
        dev.sync()
    snap = snapshot(a.store)
    assert snapshot(b.store) == snap
    assert a.store.pending_count() == b.store.pending_count() == 0
    ids = {rid for _, rid in snap}
    rejected = {i.record_id for d in (a, b) for i in d.store.issues() if i.kind == "rejection"}
    assert set(created) - rejected <= ids  # nothing created on a tablet went missing
    # a clerk settles every open conflict; both devices then agree again, with nothing open
    clerk = login("clerk", "pc-clerk")
    for issue in a.store.issues(open_only=True):
        if issue.kind == "conflict":
            kind = (issue.payload.get("conflict") or {}).get("kind")
            body = {"resolution": "distinct"} if kind == "duplicate_record" else \
                {"resolution": "keep_server"}
            resp = client.post(f"/api/v1/conflicts/{issue.id}/resolve", headers=clerk, json=body)
            assert resp.status_code in (200, 409), resp.text
    for dev in (a, b, a):
        dev.sync()
    assert snapshot(a.store) == snapshot(b.store)
    for dev in (a, b):
        assert dev.store.conflict_count() == 0
        assert {r.sync_state.value for r in dev.store.roster()} <= {"synced", "rejected"}
