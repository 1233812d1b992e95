"""Concurrent pushes and pulls over real separate connections (a live uvicorn server).

* 20 devices push edits to the same few records at once (some to the same fields, some to others):
  no update is lost, versions in the change log go up by one with no gaps, and a puller running at
  the same time ends with exactly the server's state, never seeing a record's version go back.
* The same batch sent at once over several connections (a client that retried while the first
  attempt was still being processed) is applied exactly once.
* The pull cursor never skips a transaction that started earlier but committed later.
"""

from __future__ import annotations

import random
import threading
import uuid
from typing import Any

import httpx
from sqlmodel import Session

from server.db.tables import Device, User
from server.scope import Principal
from server.sessions import start_session
from tests.conftest import SYNC_HEADERS, TOWNSHIP_A, VILLAGE_A1
from tests.devices import SimDevice
from tests.sync.harness import (
    check_device_equals_server,
    check_exactly_once,
    check_nothing_vanished,
    read_server_state,
)

WRITERS = 20
ROUNDS = 6


def _device_headers(db, settings, user: User, device_id: str) -> dict[str, str]:
    """Register a device and sign a token for it directly (a login costs ~0.2 s of argon2)."""
    with Session(db) as session:
        session.add(Device(device_id=device_id, user_id=user.id))
        session.flush()
        token = start_session(session, settings, user.id, device_id, user.scope_version)
        session.commit()
    return {"Authorization": f"Bearer {token}", **SYNC_HEADERS}


def _device(base_url: str, headers: dict[str, str], device_id: str, **kw: Any) -> SimDevice:
    http = httpx.Client(base_url=base_url, timeout=60)
    return SimDevice(http, headers, device_id, **kw)


def _seed(dev: SimDevice, households: int = 3, members: int = 2) -> None:
    for h in range(households):
        hh = dev.create("household", {"village_code": VILLAGE_A1, "head_name": f"户主{h}"})
        for m in range(members):
            dev.create("member", {"household_id": hh, "name": f"成员{h}{m}"})
    dev.push_all()
    dev.pull()


def _edit(dev: SimDevice, rnd: random.Random, writer: int, round_: int) -> None:
    households = dev.live_ids("household")
    members = dev.live_ids("member")
    for k in range(rnd.randint(1, 3)):
        tag = f"{writer:02d}{round_:02d}{k}"
        if rnd.random() < 0.6:
            hh = rnd.choice(households)
            field = rnd.choice(["address", "phone", "poverty_status", "head_name",
                                f"shared_{writer % 4}"])
            value: dict[str, Any] = {
                "address": {"address": f"住址{tag}"},
                "phone": {"phone": f"138{tag:0>8}"},
                "poverty_status": {"poverty_status": rnd.choice(["not_exited", "exited"])},
                "head_name": {"head_name": f"户主{tag}"},
                # writers 0, 4, 8… share one field, writers 1, 5, 9… another, …
                "shared_0": {"group_name": f"一组{tag}"},
                "shared_1": {"road_type": f"水泥路{tag}"},
                "shared_2": {"toilet": f"水冲式{tag}"},
                "shared_3": {"cooking_fuel": f"液化气{tag}"},
            }[field]
            dev.update("household", hh, value)
        elif rnd.random() < 0.1 and len(members) > 2:  # deletes race edits of other devices
            dev.delete("member", rnd.choice(members))
        else:
            dev.update("member", rnd.choice(members), rnd.choice([
                {"name": f"成员{tag}"}, {"migrant_place": f"广州{tag}"},
                {"health": [rnd.choice(["healthy", "chronic"])]}]))


def test_concurrent_pushes_lose_nothing_and_puller_misses_nothing(db, settings, make_user,
                                                                  live_url) -> None:
    cadre = make_user("cadre_conc", "village_cadre", [VILLAGE_A1])
    clerk = make_user("clerk_conc", "township_clerk", [TOWNSHIP_A])
    seed = _device(live_url, _device_headers(db, settings, cadre, "seed"), "seed")
    _seed(seed)
    writers = []
    for i in range(WRITERS):
        dev_id = f"w{i:02d}"
        writers.append(_device(live_url, _device_headers(db, settings, cadre, dev_id), dev_id))
        writers[-1].pull()
    puller = _device(live_url, _device_headers(db, settings, clerk, "puller"), "puller",
                     pull_limit=4)
    puller.pull()

    start = threading.Barrier(WRITERS + 1)
    stop = threading.Event()
    errors: list[BaseException] = []
    seen: dict[tuple[str, str], list[int]] = {}

    def write(i: int) -> None:
        rnd = random.Random(i)
        dev = writers[i]
        try:
            start.wait()
            for r in range(ROUNDS):
                if rnd.random() < 0.5:
                    dev.pull()
                _edit(dev, rnd, i, r)
                dev.push()
        except BaseException as exc:  # noqa: B036 — reported in the main thread
            errors.append(exc)

    def pull_loop() -> None:
        try:
            while not stop.is_set():
                page = puller.pull_page()
                assert page is not None
                for change in page["changes"]:
                    seen.setdefault((change["entity"], change["record_id"]), []).append(
                        change["version"])
        except BaseException as exc:  # noqa: B036
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(WRITERS)]
    for t in threads:
        t.start()
    reader = threading.Thread(target=pull_loop)
    reader.start()
    start.wait()
    for t in threads:
        t.join(timeout=120)
    stop.set()
    reader.join(timeout=60)
    assert not errors, errors[:3]
    for dev in writers:
        dev.push_all()

    puller.pull()
    state = read_server_state(db)
    check_device_equals_server(puller, state, [TOWNSHIP_A])
    check_exactly_once([seed, *writers], state, db)
    problems = check_nothing_vanished([seed, *writers], state, [])
    assert not problems, "\n".join(problems)
    statuses = [r["status"] for dev in writers for r in dev.results.values()]
    assert "rejected" not in statuses
    assert {"merged", "conflict"} & set(statuses), "the writers never met: no contention tested"
    for key, versions in seen.items():
        assert versions == sorted(versions), f"puller saw {key} go back: {versions}"
    for w in writers:
        w.http.close()


def test_same_batch_on_parallel_connections_applies_once(db, settings, make_user,
                                                         live_url) -> None:
    """A device retries while its first attempt is still in flight: still exactly once."""
    cadre = make_user("cadre_retry", "village_cadre", [VILLAGE_A1])
    headers = _device_headers(db, settings, cadre, "retry")
    seeder = _device(live_url, headers, "retry")
    _seed(seeder, households=2, members=1)
    dev = _device(live_url, headers, "retry")
    dev.seq = seeder.seq
    dev.pull()
    for i in range(5):
        hh = dev.create("household", {"village_code": VILLAGE_A1, "head_name": f"新户{i}"})
        dev.create("member", {"household_id": hh, "name": f"新成员{i}"})
    for hh in dev.live_ids("household")[:2]:
        dev.update("household", hh, {"address": "东街1号"})
    body = {"protocol": 1, "device_id": "retry", "changes": [e.change for e in dev.outbox]}
    answers: list[dict[str, Any]] = []
    errors: list[BaseException] = []
    gate = threading.Barrier(4)

    def send() -> None:
        try:
            with httpx.Client(base_url=live_url, timeout=60) as http:
                gate.wait()
                resp = http.post("/api/v1/sync/push", json=body, headers=headers)
                assert resp.status_code == 200, resp.text
                answers.append(resp.json())
        except BaseException as exc:  # noqa: B036
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    for e in dev.outbox:
        dev.sent[e.change["change_id"]] = e.change
    state = read_server_state(db)
    check_exactly_once([seeder, dev], state, db)
    for i, change in enumerate(body["changes"]):
        results = [a["results"][i] for a in answers]
        assert {r["status"] for r in results} <= {"applied", "merged", "duplicate"}, results
        assert len({r["version"] for r in results}) == 1, results
        assert sum(r["status"] != "duplicate" for r in results) == 1, (
            f"change {change['change_id']} processed more than once: {results}")
    seeder.http.close()
    dev.http.close()


def test_cursor_waits_for_an_earlier_transaction_that_commits_later(db, settings, make_user,
                                                                    client) -> None:
    """T1 (earlier txid) holds its push open while T2 commits; a pull in between must not move
    the cursor past T1, so T1's change arrives on the next pull."""
    from server.sync import push as push_service

    cadre = make_user("cadre_cursor", "village_cadre", [VILLAGE_A1])
    headers = {d: _device_headers(db, settings, cadre, d) for d in ("t1", "t2", "reader")}
    seeder = SimDevice(client, headers["t2"], "t2")
    _seed(seeder, households=2, members=0)
    h1, h2 = seeder.live_ids("household")
    reader = SimDevice(client, headers["reader"], "reader")
    reader.pull()

    principal = Principal(cadre.id, cadre.username, cadre.name, cadre.role, tuple(cadre.scopes),
                          "t1", cadre.scope_version)
    t1_dev = SimDevice(client, headers["t1"], "t1")
    t1_dev.pull()
    t1_dev.update("household", h1, {"address": "T1 的修改"})
    body = httpx.Request("POST", "http://x", json={
        "protocol": 1, "device_id": "t1", "changes": [t1_dev.outbox[0].change]}).content
    written, release = threading.Event(), threading.Event()
    outcome: list[Any] = []

    def hold_t1() -> None:
        try:
            with Session(db, expire_on_commit=False) as session:
                outcome.append(push_service.push(session, principal, body))
                written.set()
                release.wait(30)
                session.commit()
        except BaseException as exc:  # noqa: B036
            outcome.append(exc)
            written.set()

    t1 = threading.Thread(target=hold_t1)
    t1.start()
    assert written.wait(30)
    assert not isinstance(outcome[0], BaseException), outcome
    assert outcome[0]["results"][0]["status"] == "applied", outcome

    seeder.update("household", h2, {"address": "T2 的修改"})  # T2: later txid, commits first
    assert seeder.push()[0]["status"] == "applied"
    reader.pull()  # runs while T1 is still open
    release.set()
    t1.join(timeout=30)
    reader.pull()
    assert reader.records[("household", h2)].fields["address"] == "T2 的修改"
    assert reader.records[("household", h1)].fields["address"] == "T1 的修改", (
        "the cursor skipped a transaction that committed after a later one")


def test_puller_never_goes_back_in_time(db, settings, make_user, client) -> None:
    """Interleaved pushes and pulls on one connection: each version seen only moves forward."""
    cadre = make_user("cadre_mono", "village_cadre", [VILLAGE_A1])
    writer = SimDevice(client, _device_headers(db, settings, cadre, "mono-w"), "mono-w")
    reader = SimDevice(client, _device_headers(db, settings, cadre, "mono-r"), "mono-r",
                       pull_limit=2)
    _seed(writer, households=3, members=1)
    last: dict[tuple[str, str], int] = {}
    for i in range(10):
        for hh in writer.live_ids("household")[: 1 + i % 3]:
            writer.update("household", hh, {"address": f"住址{i}{uuid.uuid4().hex[:4]}"})
        writer.push_all()
        while True:
            page = reader.pull_page()
            assert page is not None
            for change in page["changes"]:
                key = (change["entity"], change["record_id"])
                assert change["version"] >= last.get(key, 0)
                last[key] = change["version"]
            if not page["has_more"]:
                break
    state = read_server_state(db)
    check_device_equals_server(reader, state, [VILLAGE_A1])
