"""Convergence and replay properties of sync protocol v1, on the real app and real Postgres.

Simulated devices (two field users of one village and a township clerk) edit offline, create and
delete, and push and pull in random interleavings; requests fail (never reach the server) or their
responses get lost (the server processed them; the device retries the same changes later). When
everyone has synced until quiet:

* every device holds exactly the server's current live records of its scope, at the same version;
* every change was processed exactly once and no record exists twice;
* no value a device pushed vanished: it is current, in a conflict record, or was overwritten by
  someone who had already seen it.

A replay property checks that re-sending any subset of earlier pushes, in any order, returns
``duplicate`` with the original results and writes nothing.
"""

from __future__ import annotations

import itertools
import os
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from stdnum.cn import ric

from tests.conftest import PASSWORD, TOWNSHIP_A, VILLAGE_A1
from tests.devices import SimDevice
from tests.sync.harness import (
    Resolution,
    World,
    check_device_equals_server,
    check_exactly_once,
    check_nothing_vanished,
    make_world,
    read_server_state,
)


def _id_number(n: int) -> str:
    body = f"41170220010101{n:03d}"
    return body + ric.calc_check_digit(body + "0")


ID_POOL = [_id_number(n) for n in range(1, 4)]  # shared by creates, so duplicates happen
_unique = itertools.count(1)
UNIQUE = object()  # a fresh value every time: makes "which edit is this" unambiguous

FIELD_VALUES: dict[str, dict[str, list[Any]]] = {
    "household": {
        "address": [UNIQUE],
        "phone": ["13800000001", "13900000002", "13700000003"],
        "poverty_status": ["not_exited", "pre_exit", "exited"],
        "group_name": ["一组", "二组", "三组"],
        "causes": [["illness"], ["schooling", "no_labor"], []],
        "housing_grade": ["A", "B", "C"],
        "drinking_water_safe": [True, False],
    },
    "member": {
        "name": [UNIQUE],
        "health": [["healthy"], ["chronic"], ["serious_illness", "disabled"]],
        "employment": [["in_county"], ["out_of_province", "public_welfare_job"], []],
        "left_on": ["2025-03-01", None],
        "labor_ability": ["normal", "weak", "none"],
        "migrant_months": [0, 3, 12],
        "dibao": [True, False],
    },
}
ENTITIES = ("household", "member")


def value_for(entity: str, name: str, index: int) -> Any:
    pool = FIELD_VALUES[entity][name]
    value = pool[index % len(pool)]
    if value is UNIQUE:
        return f"{'住址' if name == 'address' else '成员'}{next(_unique)}"
    return value


# --- the random program ---------------------------------------------------------------------

small = st.integers(0, 50)
device_ix = st.integers(0, 3)  # field devices only; taken modulo their number
op = st.one_of(
    st.tuples(st.just("edit"), device_ix, st.integers(0, 1), small, small, small),
    st.tuples(st.just("edit"), device_ix, st.integers(0, 1), small, small, small),
    # the same field of the first records, on any device: concurrent edits meet often
    st.tuples(st.just("edit"), device_ix, st.integers(0, 1), st.integers(0, 1), st.just(0),
              small),
    st.tuples(st.just("edit"), device_ix, st.just(0), st.integers(0, 1), st.integers(0, 2),
              small),
    st.tuples(st.just("create_household"), device_ix, st.integers(0, 5)),
    st.tuples(st.just("create_member"), device_ix, small),
    st.tuples(st.just("delete"), device_ix, st.integers(0, 1), small),
    st.tuples(st.just("push"), device_ix, st.sampled_from(["ok", "ok", "fail", "lost"]),
              st.sampled_from([None, 1, 3])),
    st.tuples(st.just("push"), device_ix, st.sampled_from(["ok", "lost"]), st.just(None)),
    st.tuples(st.just("pull"), device_ix, st.sampled_from(["ok", "ok", "lost"])),
    st.tuples(st.just("resolve"), small, small),
)


def seed(world: World) -> None:
    """Two households with two members each, known to every device."""
    dev = world.field_devices[0]
    for h in range(2):
        hh = dev.create("household", {"village_code": VILLAGE_A1, "head_name": f"户主{h}",
                                      "head_id_number": _id_number(10 + h)})
        for m in range(2):
            dev.create("member", {"household_id": hh, "name": f"成员{h}{m}"})
    dev.push_all()
    for d in world.devices:
        d.pull()


def run_op(world: World, step: tuple[Any, ...]) -> None:
    kind = step[0]
    if kind == "resolve":
        resolve(world, step[1], step[2])
        return
    dev = world.field_devices[step[1] % len(world.field_devices)]
    if kind == "edit":
        entity = ENTITIES[step[2]]
        ids = dev.live_ids(entity)
        if not ids:
            return
        names = list(FIELD_VALUES[entity])
        name = names[step[4] % len(names)]
        dev.update(entity, ids[step[3] % len(ids)], {name: value_for(entity, name, step[5])})
    elif kind == "create_household":
        fields = {"village_code": VILLAGE_A1, "head_name": f"新户{next(_unique)}"}
        if step[2] < len(ID_POOL):
            fields["head_id_number"] = ID_POOL[step[2]]
        dev.create("household", fields)
    elif kind == "create_member":
        households = dev.live_ids("household")
        if households:
            hh = households[step[2] % len(households)]
            dev.create("member", {"household_id": hh, "name": f"新成员{next(_unique)}",
                                  "health": ["healthy"]})
    elif kind == "delete":
        entity = ENTITIES[step[2]]
        ids = dev.live_ids(entity)
        if ids:
            dev.delete(entity, ids[step[3] % len(ids)])
    elif kind == "push":
        dev.push(fail=step[2] == "fail", lose_response=step[2] == "lost", limit=step[3])
    elif kind == "pull":
        dev.pull(lose_page=0 if step[2] == "lost" else None)


def _open_conflicts(clerk: SimDevice) -> list[dict[str, Any]]:
    resp = clerk.http.get("/api/v1/conflicts", params={"status": "open"}, headers=clerk.headers)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    items = body if isinstance(body, list) else body.get("conflicts", body.get("items", []))
    return sorted(items, key=lambda c: c["id"])


def resolve(world: World, which: int, choice: int) -> None:
    """The clerk looks at the open conflicts (after a pull) and decides one of them."""
    clerk = world.clerk
    clerk.pull()
    conflicts = _open_conflicts(clerk)
    if not conflicts:
        return
    conflict = conflicts[which % len(conflicts)]
    entity, record_id = conflict["entity"], conflict["record_id"]
    body: dict[str, Any]
    name = conflict.get("field")
    if conflict["kind"] == "duplicate_record":
        body = {"resolution": "distinct", "note": "核实为不同农户"}
        name = None
    elif conflict["kind"] == "delete_edit":
        body = {"resolution": ["keep_server", "take_client"][choice % 2]}
        name = None
    else:
        resolution = ["keep_server", "take_client", "custom"][choice % 3]
        body = {"resolution": resolution, "note": "入户核实"}
        if resolution == "custom":
            if name in FIELD_VALUES.get(entity, {}):
                body["value"] = value_for(entity, name, choice // 3)
            else:
                body["resolution"] = "keep_server"
    local = clerk.records.get((entity, record_id))
    base = local.version if local else 0
    resp = clerk.http.post(f"/api/v1/conflicts/{conflict['id']}/resolve", json=body,
                           headers=clerk.headers)
    assert resp.status_code == 200, f"resolve {conflict} with {body}: {resp.text}"
    clerk.pull()
    after = clerk.records.get((entity, record_id))
    world.resolutions.append(Resolution(entity, record_id, name, body.get("value"), base,
                                        after.version if after else None))


def settle(world: World) -> None:
    """Everyone pushes and pulls until quiet (no request fails any more)."""
    for _ in range(3):
        for dev in world.field_devices:
            dev.push_all()
        for dev in world.devices:
            dev.pull()
    assert all(not dev.outbox for dev in world.devices)


# Shrinking a failing program takes minutes on the real server; set RUHU_SHRINK=1 to get a minimal
# one locally. Without it the failing program is printed as generated (still reproducible).
PHASES = tuple(Phase) if os.environ.get("RUHU_SHRINK") else tuple(p for p in Phase
                                                                   if p != Phase.shrink)
SEEN: Counter[str] = Counter()  # what the examples exercised, printed by the tests


def _events(world: World, state: Any) -> None:
    labels = {f"status {r['status']}" for r in state.receipts.values()}
    labels |= {f"conflict {c['kind']}" for c in state.conflicts}
    labels |= {"resolved"} if world.resolutions else set()
    labels |= {"tombstone"} if any(r["deleted"] for r in state.records.values()) else set()
    labels |= {"lost response"} if any(
        ex.response is None for d in world.devices for ex in d.exchanges) else set()
    for label in labels:
        event(label)
        SEEN[label] += 1


def check_converged(world: World) -> None:
    state = read_server_state(world.engine)
    _events(world, state)
    for dev in world.field_devices:
        check_device_equals_server(dev, state, [VILLAGE_A1])
    check_device_equals_server(world.clerk, state, [TOWNSHIP_A])
    fresh = SimDevice(world.clerk.http, world.clerk.headers, world.clerk.device_id, pull_limit=7)
    fresh.pull()
    check_device_equals_server(fresh, state, [TOWNSHIP_A])
    check_exactly_once(world.devices, state, world.engine)
    problems = check_nothing_vanished(world.devices, state, world.resolutions)
    assert not problems, "\n".join(problems)


def _convergence(world: World, max_examples: int, max_ops: int) -> None:
    SEEN.clear()
    @settings(max_examples=max_examples, deadline=None, phases=PHASES,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(program=st.lists(op, min_size=10, max_size=max_ops))
    def run(program: list[tuple[Any, ...]]) -> None:
        world.restart()
        seed(world)
        for step in program:
            run_op(world, step)
        for dev in world.field_devices:  # everything reaches the server, then the clerk decides
            dev.push_all()
        for i in range(3):
            resolve(world, i, len(program) + i)
        settle(world)
        check_converged(world)

    run()
    print("examples exercised:", dict(sorted(SEEN.items())))
    assert SEEN["conflict field"] or SEEN["status merged"], "no concurrent edit was exercised"


def test_convergence(client, db, make_user) -> None:
    world = make_world(client, db, make_user, PASSWORD, field_users=2)
    world.field_devices[1].pull_limit = 3  # paging on one device
    _convergence(world, max_examples=12, max_ops=40)


@pytest.mark.slow
def test_convergence_heavy(client, db, make_user) -> None:
    world = make_world(client, db, make_user, PASSWORD, field_users=3, pull_limit=5)
    _convergence(world, max_examples=40, max_ops=100)


# --- replay -----------------------------------------------------------------------------------


def _fingerprint(engine) -> tuple[Any, ...]:
    """Everything a replay could touch: row counts, versions, txids of the sync tables."""
    with engine.connect() as conn:
        rows = []
        for table in ("household", "member", "change_log", "sync_receipt", "conflict"):
            rows.append(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar())
        for table in ("household", "member"):
            rows.append(tuple(conn.execute(sa.text(
                f"SELECT id, version FROM {table} ORDER BY id")).all()))
        rows.append(conn.execute(sa.text("SELECT max(txid) FROM change_log")).scalar())
        rows.append(conn.execute(sa.text("SELECT max(txid) FROM conflict")).scalar())
    return tuple(rows)


def test_replay_returns_original_results(client, db, make_user) -> None:
    world = make_world(client, db, make_user, PASSWORD, field_users=2)

    @settings(max_examples=10, deadline=None, phases=PHASES,
              suppress_health_check=[HealthCheck.too_slow])
    @given(program=st.lists(op.filter(lambda s: s[0] != "resolve"), min_size=5, max_size=25),
           replays=st.lists(st.tuples(small, st.lists(small, max_size=8), st.randoms()),
                            min_size=1, max_size=6))
    def run(program: list[tuple[Any, ...]], replays: list[Any]) -> None:
        world.restart()
        seed(world)
        for step in program:
            run_op(world, step)
        settle(world)
        originals: dict[str, dict[str, Any]] = {}
        bodies = []
        for dev in world.field_devices:
            originals.update(dev.results)
            bodies += [(dev, ex.body) for ex in dev.exchanges]
        before = _fingerprint(world.engine)
        for which, picks, rnd in replays:
            dev, body = bodies[which % len(bodies)]
            changes = [body["changes"][p % len(body["changes"])] for p in picks] or body["changes"]
            changes = list({c["change_id"]: c for c in changes}.values())
            rnd.shuffle(changes)
            resp = dev.http.post("/api/v1/sync/push", headers=dev.headers,
                                 json={**body, "changes": changes})
            assert resp.status_code == 200, resp.text
            for change, result in zip(changes, resp.json()["results"], strict=True):
                original = originals[change["change_id"]]
                assert result["status"] == "duplicate", (change, result, original)
                for key in ("change_id", "record_id", "version", "conflict_id"):
                    assert result.get(key) == original.get(key), (key, result, original)
        assert _fingerprint(world.engine) == before

    run()
