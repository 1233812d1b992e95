"""Failover to a synchronous streaming-replication standby loses no acknowledged change.

A primary and a standby from Postgres's own replication (``pg_basebackup -R``, the standby named in
``synchronous_standby_names``, ``synchronous_commit = remote_apply``; tests/sync/pgcluster.py),
the ruhu migrations on the primary and a live ruhu server on it. Simulated devices push edits in a
loop on threads; at a random (seeded) moment the primary is killed (``pg_ctl stop -m immediate``,
a crash). The standby is promoted, a new server is started on it, and then:

* every change a device was told was ``applied``/``merged``/``conflict`` is on the standby with
  the same status, record and version (0 lost), and so is every record version a device pulled;
* the devices carry on with the cursors, outboxes and tokens they had: the in-flight push (sent,
  never answered) is retried unchanged and processed exactly once, a replay of an answered push
  returns the original results, the pull resumes from the old cursor without a reset, and each
  device ends with exactly the server's records (the end-state checks of tests/sync/harness.py).

A second test loses a rolled-back transaction's abort record in the crash (a slowed WAL writer)
and shows that a pull cursor handed out just before it still brings what the promoted server
writes afterwards (server/sync/pull.py makes a round's ids durable before answering).

Seed: ``RUHU_FAILOVER_SEED`` (default below); the seed is in the failure message.
"""

from __future__ import annotations

import os
import random
import threading
import time
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from server.app import create_app
from server.db import migrate
from server.db.engine import make_engine
from server.db.tables import Device, User
from server.security import hash_password
from server.sessions import start_session
from server.settings import Settings
from tests.conftest import PASSWORD, SYNC_HEADERS, VILLAGE_A1, make_settings
from tests.live import serve
from tests.sync.harness import (
    check_device_equals_server,
    check_exactly_once,
    check_nothing_vanished,
    read_server_state,
)
from tests.sync.pgcluster import bin_dir, cluster
from tests.sync.sim_device import SimDevice, SyncFailure

BINS = bin_dir()
pytestmark = pytest.mark.skipif(
    BINS is None, reason="the pgserver package's Postgres binaries (initdb, pg_ctl, pg_basebackup, "
                         "postgres, psql in pgserver/pginstall/bin) are not installed")

SEED = int(os.environ.get("RUHU_FAILOVER_SEED", "17"))
DEVICES = 3
ACKNOWLEDGED = ("applied", "merged", "conflict")


def _add_device(engine: Engine, settings: Settings, username: str,
                device_id: str) -> dict[str, str]:
    """A field user of VILLAGE_A1 with a registered device and a token (no argon2 login)."""
    with Session(engine) as session:
        user = User(username=username, name=username, role="village_cadre", scopes=[VILLAGE_A1],
                    password_hash=hash_password(PASSWORD))
        session.add(user)
        session.flush()
        session.add(Device(device_id=device_id, user_id=user.id))
        session.flush()
        token = start_session(session, settings, user.id, device_id, user.scope_version)
        session.commit()
    return {"Authorization": f"Bearer {token}", **SYNC_HEADERS}


def _edit(dev: SimDevice, rnd: random.Random, tag: str) -> None:
    """One local edit: a new household, a new member, or a change to a record."""
    households = dev.live_ids("household")
    roll = rnd.random()
    if roll < 0.25 or not households:
        dev.create("household", {"village_code": VILLAGE_A1, "head_name": f"户主{tag}"})
    elif roll < 0.5:
        dev.create("member", {"household_id": rnd.choice(households), "name": f"成员{tag}"})
    else:
        field = rnd.choice(["address", "phone", "head_name"])
        value = {"address": f"幸福路{tag}号", "phone": f"139{rnd.randrange(10**8):08d}",
                 "head_name": f"户主{tag}"}[field]
        dev.update("household", rnd.choice(households), {field: value})


def _work(dev: SimDevice, rnd: random.Random, stop: threading.Event,
          failures: list[str]) -> None:
    """Edit, push, sometimes pull, until told to stop; errors (the database is gone) are noted
    and the device keeps trying, as a tablet would."""
    step = 0
    while not stop.is_set():
        step += 1
        for _ in range(rnd.randint(1, 3)):
            _edit(dev, rnd, f"{dev.device_id[-4:]}-{step}")
        try:
            dev.push(limit=rnd.randint(1, 6))
            if rnd.random() < 0.3:
                dev.pull()
        except (SyncFailure, httpx.HTTPError) as exc:
            failures.append(f"{dev.device_id}: {type(exc).__name__} {str(exc)[:150]}")
            time.sleep(0.05)


def _acknowledged(devices: list[SimDevice]) -> dict[str, dict[str, Any]]:
    return {cid: result for dev in devices for cid, result in dev.results.items()
            if result["status"] in ACKNOWLEDGED}


def test_failover_to_synchronous_standby_loses_nothing() -> None:
    assert BINS is not None
    rnd = random.Random(SEED)
    settings = make_settings()
    with cluster(BINS) as pg:
        migrate.upgrade(pg.primary.url())
        primary = make_engine(pg.primary.url(), pool_size=5)
        headers = [_add_device(primary, settings, f"cadre_ha{i}", f"tab-ha{i}")
                   for i in range(DEVICES)]
        failures: list[str] = []
        with serve(create_app(settings=settings, engine=primary), lifespan="off") as base:
            devices = [SimDevice(httpx.Client(base_url=base, timeout=30), h, f"tab-ha{i}")
                       for i, h in enumerate(headers)]
            for dev in devices:
                _edit(dev, rnd, "seed")
                dev.sync()
            stop = threading.Event()
            threads = [threading.Thread(target=_work, daemon=True,
                                        args=(dev, random.Random(rnd.random()), stop, failures))
                       for dev in devices]
            for thread in threads:
                thread.start()
            time.sleep(rnd.uniform(1.0, 3.0))
            pg.kill_primary()  # a crash at a random moment of the pushes
            time.sleep(0.5)  # the devices keep trying against the dead primary
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
                assert not thread.is_alive(), "a device thread hung after the primary died"
        primary.dispose()
        acknowledged = _acknowledged(devices)
        pulled = {key: rec.version for dev in devices for key, rec in dev.records.items()}
        in_flight = {cid for dev in devices for cid in dev.sent if cid not in dev.results}
        assert acknowledged, f"seed {SEED}: no push was acknowledged before the kill"
        assert failures, f"seed {SEED}: the kill never reached a device"

        pg.promote()
        standby = make_engine(pg.standby.url(), pool_size=5)
        try:
            # 0 lost: every acknowledged change and every pulled version is on the standby
            state = read_server_state(standby)
            lost = [cid for cid, result in acknowledged.items()
                    if state.receipts.get(cid, {}).get("status") != result["status"]
                    or state.receipts[cid]["version"] != result["version"]
                    or state.receipts[cid]["record_id"] != result["record_id"]]
            assert not lost, f"seed {SEED}: {len(lost)} acknowledged changes lost: {lost[:5]}"
            behind = [key for key, version in pulled.items()
                      if key not in state.records or state.records[key]["version"] < version]
            assert not behind, f"seed {SEED}: pulled versions missing on the standby: {behind[:5]}"

            # the devices resume against a server on the promoted standby, nothing reset
            with serve(create_app(settings=settings, engine=standby), lifespan="off") as base:
                for dev in devices:
                    dev.http = httpx.Client(base_url=base, timeout=30)
                replay = next((dev, ex) for dev in devices for ex in dev.exchanges if ex.response)
                for dev in devices:
                    dev.push_all()  # the in-flight changes first, unchanged, same ids
                    _edit(dev, rnd, f"{dev.device_id[-4:]}-after")
                    dev.sync()
                for dev in devices:
                    dev.pull()
                again = replay[0].http.post("/api/v1/sync/push", json=replay[1].body,
                                            headers=replay[0].headers)
                assert again.status_code == 200, again.text
                answered = replay[1].response
                assert answered is not None
                for old, new in zip(answered["results"], again.json()["results"], strict=True):
                    assert (new["record_id"], new["version"]) == (old["record_id"], old["version"])
                    assert (new["status"], new["original_status"]) == ("duplicate",
                                                                       old["status"]), (old, new)
            state = read_server_state(standby)
            assert all(cid in state.receipts for cid in in_flight), (
                f"seed {SEED}: an in-flight change was not processed on retry")
            check_exactly_once(devices, state, standby)
            for dev in devices:
                assert dev.resets == 0, f"seed {SEED}: {dev.device_id} was told to reset"
                assert not dev.outbox
                check_device_equals_server(dev, state, [VILLAGE_A1])
            problems = check_nothing_vanished(devices, state, [])
            assert not problems, f"seed {SEED}: " + "\n".join(problems[:10])
        finally:
            standby.dispose()


def test_pull_cursor_survives_the_loss_of_unflushed_aborts() -> None:
    """A cursor handed out just before the crash stays below every txid of the promoted server.

    A rolled-back transaction's abort record is written to the WAL asynchronously (the WAL writer
    flushes it within ``wal_writer_delay``), so a crash can lose it, and the promoted standby then
    hands out that transaction id again. A pull round opened after the rollback has ``hi`` above
    that id; unless the pull makes its WAL durable on the standby before it answers, the device's
    cursor would skip whatever the new primary writes under the reused id. The WAL writer is
    slowed down here so that the abort is lost for sure.
    """
    assert BINS is not None
    settings = make_settings()
    with cluster(BINS, {"wal_writer_delay": "'10s'"}) as pg:
        migrate.upgrade(pg.primary.url())
        primary = make_engine(pg.primary.url(), pool_size=2)
        watcher_headers = _add_device(primary, settings, "cadre_watch", "tab-watch")
        writer_headers = _add_device(primary, settings, "cadre_write", "tab-write")
        with serve(create_app(settings=settings, engine=primary), lifespan="off") as base:
            watcher = SimDevice(httpx.Client(base_url=base, timeout=30), watcher_headers,
                                "tab-watch")
            watcher.pull()
            time.sleep(0.3)  # the WAL writer's last round is over; the next is 10 s away
            # any transaction that took an id and rolled back (a 503, a failed request)
            pg.sql(pg.primary, "BEGIN; CREATE TEMP TABLE scratch (x int); ROLLBACK", "ruhu")
            watcher.pull()  # opens a round whose hi is above the rolled-back id
            pg.kill_primary()
        primary.dispose()
        pg.promote()
        standby = make_engine(pg.standby.url(), pool_size=2)
        try:
            with serve(create_app(settings=settings, engine=standby), lifespan="off") as base:
                writer = SimDevice(httpx.Client(base_url=base, timeout=30), writer_headers,
                                   "tab-write")
                writer.create("household", {"village_code": VILLAGE_A1, "head_name": "户主新"})
                writer.push_all()
                watcher.http = httpx.Client(base_url=base, timeout=30)
                watcher.pull()
            state = read_server_state(standby)
            assert watcher.resets == 0
            check_device_equals_server(watcher, state, [VILLAGE_A1])
        finally:
            standby.dispose()
