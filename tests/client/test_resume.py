"""Killing the app mid-sync and restarting loses nothing and duplicates nothing; transient faults
are retried with the very same request."""

from __future__ import annotations

import sqlalchemy as sa

from tests.conftest import VILLAGE_A1
from tests.devices import Killed

from .conftest import snapshot
from .util import household


def _is(method: str, path: str):
    return lambda r: r.method == method and r.url.path == path


PUSH = _is("POST", "/api/v1/sync/push")
PULL = _is("GET", "/api/v1/sync/pull")


def _count(db, table: str) -> int:
    with db.connect() as conn:
        return conn.execute(sa.text(f'SELECT count(*) FROM "{table}"')).scalar_one()


def test_killed_between_push_and_response(db, make_user, make_device):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    a = make_device("cadre", "tab-a")
    hid = a.store.create_household(household())
    a.store.add_member(hid, {"name": "李四"})
    a.store.record_visit(hid, {"purpose": "走访", "notes": "了解家庭情况"})
    sent = [c.change_id for c in a.store.outbox()]
    a.wire.fail(PUSH, "kill")  # the server processes the push, the tablet never sees the answer
    try:
        a.sync()
    except Killed:
        pass
    else:
        raise AssertionError("sync should have been killed")
    assert a.store.pending_count() == 3
    a.restart()
    assert a.store.get("household", hid).sync_state.value == "uploading"
    # meanwhile the user keeps working
    a.store.update("household", hid, {"phone": "13800000000"})
    report = a.sync()
    assert report.pushed == {"duplicate": 3, "applied": 1}
    pushes = [r for r in a.wire.requests if PUSH(r)]
    assert [c["change_id"] for c in _changes(pushes[1])][:3] == sent  # same ids re-sent
    assert a.store.pending_count() == 0
    assert _count(db, "household") == 1 and _count(db, "member") == 1
    assert _count(db, "visit") == 1
    rec = a.store.get("household", hid)
    assert rec.fields["phone"] == "13800000000" and rec.sync_state.value == "synced"


def _changes(request):
    import gzip
    import json

    body = request.content
    if request.headers.get("content-encoding") == "gzip":
        body = gzip.decompress(body)
    return json.loads(body)["changes"]


def test_killed_between_pull_pages_resumes_from_cursor(make_user, make_device):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    make_user("secretary", "first_secretary", [VILLAGE_A1])
    b = make_device("secretary", "tab-b")
    for i in range(1, 8):
        hid = b.store.create_household(household(f"户主{i}", serial=i))
        b.store.add_member(hid, {"name": f"成员{i}"})
    b.sync()
    a = make_device("cadre", "tab-a", pull_limit=3)
    calls = {"n": 0}

    def third_pull(request):
        if PULL(request):
            calls["n"] += 1
            return calls["n"] == 3
        return False

    a.wire.fail(third_pull, "kill")
    try:
        a.sync()
    except Killed:
        pass
    stored = a.store.cursor
    partial = snapshot(a.store)
    assert stored and 0 < len(partial) < 14
    a.restart()
    before = len(a.wire.requests)
    a.sync()
    first_pull = next(r for r in a.wire.requests[before:] if PULL(r))
    assert first_pull.url.params.get("cursor") == stored  # resumed, not restarted
    full = snapshot(a.store)
    assert len(full) == 14
    assert all(full[k] == v for k, v in partial.items())
    assert snapshot(b.store) == full


def test_transient_faults_are_retried_unchanged(make_user, make_device):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    a = make_device("cadre", "tab-a")
    a.store.create_household(household())
    a.wire.fail(PUSH, "503")
    a.wire.fail(PUSH, "network")
    a.wire.fail(PULL, "network")
    phases = []
    report = a.sync(progress=lambda phase, done, total: phases.append((phase, done, total)))
    assert report.pushed == {"applied": 1}
    pushes = [r for r in a.wire.requests if PUSH(r)]
    assert len(pushes) == 3 and len({r.content for r in pushes}) == 1
    assert ("push", 1, 1) in phases and phases[-1] == ("done", 1, 1)


def test_network_down_keeps_everything(make_user, make_device):
    from kivy_client.sync import SyncError

    make_user("cadre", "village_cadre", [VILLAGE_A1])
    a = make_device("cadre", "tab-a")
    a.store.create_household(household())
    for _ in range(10):
        a.wire.fail(lambda r: True, "network")
    try:
        a.sync()
    except SyncError as exc:
        assert exc.code == "client.network_unavailable" and "不会丢失" in exc.message
    else:
        raise AssertionError("expected a network error")
    assert a.store.pending_count() == 1
    a.wire.faults.clear()
    assert a.sync().pushed == {"applied": 1}


def test_sync_worker_runs_in_background(make_user, make_device):
    from kivy_client.sync import SyncWorker

    make_user("cadre", "village_cadre", [VILLAGE_A1])
    a = make_device("cadre", "tab-a")
    a.store.create_household(household())
    done = []
    worker = SyncWorker(a.sync_client, on_done=lambda rep, err: done.append((rep, err)))
    assert worker.start()
    worker.join(60)
    [(report, error)] = done
    assert error is None and report.pushed == {"applied": 1}
    assert a.store.status_summary()["pending"] == 0


def test_outbox_is_pushed_in_batches_in_order(make_user, make_device):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    a = make_device("cadre", "tab-a")
    a.sync_client.push_batch = 3
    hid = a.store.create_household(household())
    for i in range(6):
        a.store.add_member(hid, {"name": f"成员{i}"})
    expected = [c.change_id for c in a.store.outbox()]
    assert a.sync().pushed == {"applied": 7}
    pushes = [r for r in a.wire.requests if PUSH(r)]
    batches = [_changes(r) for r in pushes]
    assert [len(b) for b in batches] == [3, 3, 1]
    assert [c["change_id"] for b in batches for c in b] == expected
    seqs = [c["seq"] for b in batches for c in b]
    assert seqs == sorted(seqs) and len(set(seqs)) == 7
    assert all(r.headers.get("content-encoding") in ("gzip", None) for r in pushes)


def test_device_clock_behind_server_moves_forward(make_user, make_device):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    a = make_device("cadre", "tab-a")
    a.store._clock._wall = lambda: 1_000_000_000_000  # 2001: a tablet with a flat RTC battery
    hid = a.store.create_household(household())
    a.sync()
    a.store.update("household", hid, {"phone": "13800000000"})
    [change] = a.store.outbox()
    assert change.hlc > "1700000000000"  # after the server time it saw, not 2001


def test_edits_while_the_worker_syncs_are_never_lost(db, make_user, make_device):
    import threading

    from kivy_client.sync import SyncWorker

    make_user("cadre", "village_cadre", [VILLAGE_A1])
    a = make_device("cadre", "tab-a")
    hid = a.store.create_household(household())
    in_push = threading.Event()
    release = threading.Event()

    def hold(request):
        if PUSH(request) and not in_push.is_set():
            in_push.set()
            release.wait(30)
        return False

    a.wire.fail(hold, "never")
    worker = SyncWorker(a.sync_client)
    worker.start()
    assert in_push.wait(30)
    # the UI thread keeps editing while the push is on the wire
    a.store.update("household", hid, {"phone": "13800000000"})
    members = [a.store.add_member(hid, {"name": f"成员{i}"}) for i in range(5)]
    release.set()
    worker.join(60)
    assert worker.error is None
    a.sync()
    assert a.store.pending_count() == 0
    assert _count(db, "member") == 5
    bundle = a.store.household_bundle(hid)
    assert sorted(m.id for m in bundle.members) == sorted(members)
    assert bundle.household.fields["phone"] == "13800000000"


def test_invalid_cursor_restarts_the_download_keeping_pending_work(make_user, make_device):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    a = make_device("cadre", "tab-a")
    h1 = a.store.create_household(household())
    a.sync()
    a.store.set_meta("cursor", "not-a-cursor")
    h2 = a.store.create_household(household("李四", serial=2))
    before = len(a.wire.requests)
    a.sync()
    pulls = [r for r in a.wire.requests[before:] if PULL(r)]
    assert pulls[0].url.params.get("cursor") == "not-a-cursor"
    assert "cursor" not in pulls[1].url.params  # started again from scratch
    assert {r.id for r in a.store.roster()} == {h1, h2}
    assert a.store.pending_count() == 0 and a.store.cursor not in (None, "", "not-a-cursor")


def test_first_download_in_big_pages_later_pulls_in_small_ones(db, make_user, make_device):
    """A tablet's first download asks for pages of 20,000 in column form (fewer bytes on a weak
    link); once a sync has finished, pulls ask for 500 (in a storm big pages hold the cores
    pushes wait for)."""
    from sync_protocol.wire import DEFAULT_PULL_LIMIT, TABLET_FIRST_PULL_LIMIT

    make_user("cadre", "village_cadre", [VILLAGE_A1])
    a = make_device("cadre", "tab-a")
    a.store.create_household(household())
    a.sync()
    b = make_device("cadre", "tab-b")

    def limits(dev) -> list[int]:
        return [int(r.url.params["limit"]) for r in dev.wire.requests if PULL(r)]

    b.sync()
    assert limits(b) and set(limits(b)) == {TABLET_FIRST_PULL_LIMIT}
    seen = len(limits(b))
    b.sync()
    assert set(limits(b)[seen:]) == {DEFAULT_PULL_LIMIT}
    assert a.store.query("SELECT count(*) AS n FROM records")[0]["n"] == \
        b.store.query("SELECT count(*) AS n FROM records")[0]["n"]


def test_a_first_download_that_drops_goes_on_in_smaller_pages(make_user, make_device):
    """A weak link that drops the first download's page of 20,000 twice (the first try and one
    retry) goes on in pages of 2,000, every one in column form, and ends with everything."""
    from sync_protocol.wire import MAX_PULL_LIMIT, TABLET_FIRST_PULL_LIMIT

    make_user("cadre", "village_cadre", [VILLAGE_A1])
    a = make_device("cadre", "tab-a")
    for i in range(1, 4):
        a.store.create_household(household(f"户主{i}", serial=i))
    a.sync()
    b = make_device("cadre", "tab-b")
    big = lambda r: PULL(r) and r.url.params.get("limit") == str(TABLET_FIRST_PULL_LIMIT)  # noqa: E731
    b.wire.fail(big, "network")
    b.wire.fail(big, "network")
    b.sync()
    pulls = [r for r in b.wire.requests if PULL(r)]
    assert [int(r.url.params["limit"]) for r in pulls[:3]] == [
        TABLET_FIRST_PULL_LIMIT, TABLET_FIRST_PULL_LIMIT, MAX_PULL_LIMIT]
    assert all(r.url.params["form"] == "columns" for r in pulls)
    assert snapshot(b.store) == snapshot(a.store)
