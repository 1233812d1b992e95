"""Back-pressure under overload (server/backpressure.py): a real server with a tiny limit answers
503 ``sync.busy`` with ``Retry-After`` (never a timeout or a 500), a queued request is served
once a slot frees, a pool that runs dry is a 503 too, and the tablet's real sync client waits the
``Retry-After`` out and succeeds.

The one slot is held by a real push: device A's push waits on its ``device`` row, which the test
locks in a transaction of its own (every push updates that row first)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uuid6
from sqlmodel import Session

from server.backpressure import retry_after_seconds
from server.db.tables import Device, User
from server.sessions import start_session
from tests.conftest import SYNC_HEADERS, VILLAGE_A1, make_settings
from tests.live import serve

PUSH = "/api/v1/sync/push"
PULL = "/api/v1/sync/pull"


def _token(db, settings, user: User, device_id: str) -> str:
    with Session(db) as session:
        session.add(Device(device_id=device_id, user_id=user.id))
        session.flush()
        token = start_session(session, settings, user.id, device_id, user.scope_version)
        session.commit()
    return token


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **SYNC_HEADERS}


def _push_body(device_id: str, name: str) -> dict[str, Any]:
    return {"protocol": 1, "device_id": device_id, "changes": [{
        "change_id": str(uuid6.uuid7()), "seq": 1, "entity": "household",
        "record_id": str(uuid6.uuid7()), "op": "upsert", "base_version": None,
        "fields": {"village_code": VILLAGE_A1, "head_name": name},
        "hlc": f"{int(time.time() * 1000):013d}-0000-{device_id}"}]}


@contextmanager
def _busy_server(db, make_user, **limits: Any) -> Iterator[dict[str, Any]]:
    """A live server with the given admission limits, whose only slot is taken by device A's push
    until ``release()`` is called."""
    from server.app import create_app

    settings = make_settings(**limits)
    app = create_app(settings=settings, engine=db)
    cadre = make_user("cadre_busy", "village_cadre", [VILLAGE_A1])
    tokens = {d: _token(db, settings, cadre, d) for d in ("tab-a", "tab-b")}
    lock = db.connect()
    tx = lock.begin()
    lock.execute(sa.text("SELECT 1 FROM device WHERE device_id = 'tab-a' FOR UPDATE"))
    held: dict[str, Any] = {"tokens": tokens, "user": cadre}

    def release() -> None:
        if tx.is_active:
            tx.commit()

    held["release"] = release
    with serve(app, lifespan="off") as url:
        held["url"] = url

        def push_a() -> None:
            held["a"] = httpx.post(url + PUSH, json=_push_body("tab-a", "甲"),
                                   headers=_headers(tokens["tab-a"]), timeout=60)

        thread = threading.Thread(target=push_a)
        thread.start()
        _wait_for_lock_waiter(db, held)
        held["thread"] = thread
        try:
            yield held
        finally:
            release()
            thread.join(timeout=30)
            lock.close()


def _wait_for_lock_waiter(db, held: dict[str, Any]) -> None:
    deadline = time.monotonic() + 20
    with db.connect() as conn:
        while True:
            waiting = conn.execute(sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database()")).scalar_one()
            conn.rollback()  # the activity view is a snapshot per transaction
            if waiting:
                return
            assert "a" not in held, held["a"].text  # A was answered without waiting
            assert time.monotonic() < deadline, "device A's push never reached the lock"
            time.sleep(0.05)


def test_busy_server_answers_503_with_retry_after(db, make_user) -> None:
    with _busy_server(db, make_user, sync_concurrency=1, sync_queue=0, sync_retry_after=3) as s:
        headers = _headers(s["tokens"]["tab-b"])
        push = httpx.post(s["url"] + PUSH, json=_push_body("tab-b", "乙"), headers=headers,
                          timeout=10)
        assert push.status_code == 503, push.text
        assert push.headers["retry-after"] == "3"
        error = push.json()["error"]
        assert error["code"] == "sync.busy" and error["retry_after"] == 3
        assert "服务器正忙" in error["message"]
        # pulls have their own slots (they are not stuck behind pushes), other routes no limit
        assert httpx.get(s["url"] + PULL, headers=headers, timeout=10).status_code == 200
        assert httpx.get(s["url"] + "/health", timeout=10).status_code == 200
        s["release"]()
        s["thread"].join(timeout=30)
        assert s["a"].status_code == 200
        assert s["a"].json()["results"][0]["status"] == "applied"
        # the slot is free again: B's push (refused earlier, so nothing of it was written) now
        # goes through
        again = httpx.post(s["url"] + PUSH, json=_push_body("tab-b", "乙"), headers=headers,
                           timeout=10)
        assert again.status_code == 200 and again.json()["results"][0]["status"] == "applied"
    with db.connect() as conn:
        names = sorted(conn.execute(sa.text("SELECT head_name FROM household")).scalars())
    assert names == ["乙", "甲"]


def test_a_busy_pull_is_503_too(db, make_user) -> None:
    """The one pull slot is held by a pull waiting on the household table, which the test locks."""
    from server.app import create_app

    settings = make_settings(sync_pull_concurrency=1, sync_queue=0, sync_retry_after=5)
    cadre = make_user("cadre_pull", "village_cadre", [VILLAGE_A1])
    tokens = {d: _token(db, settings, cadre, d) for d in ("tab-a", "tab-b")}
    held: dict[str, Any] = {}
    with serve(create_app(settings=settings, engine=db), lifespan="off") as url:
        with db.connect() as lock:
            tx = lock.begin()
            lock.execute(sa.text("LOCK TABLE household IN ACCESS EXCLUSIVE MODE"))

            def pull_a() -> None:
                held["a"] = httpx.get(url + PULL, headers=_headers(tokens["tab-a"]), timeout=60)

            thread = threading.Thread(target=pull_a)
            thread.start()
            _wait_for_lock_waiter(db, held)
            busy = httpx.get(url + PULL, headers=_headers(tokens["tab-b"]), timeout=10)
            tx.commit()
        thread.join(timeout=30)
    assert busy.status_code == 503 and busy.headers["retry-after"] == "5"
    assert busy.json()["error"]["code"] == "sync.busy"
    assert held["a"].status_code == 200


def test_a_queued_request_is_served_when_the_slot_frees(db, make_user) -> None:
    with _busy_server(db, make_user, sync_concurrency=1, sync_queue=4,
                      sync_wait_seconds=30) as s:
        answers: list[httpx.Response] = []
        waiter = threading.Thread(target=lambda: answers.append(httpx.post(
            s["url"] + PUSH, json=_push_body("tab-b", "乙"),
            headers=_headers(s["tokens"]["tab-b"]), timeout=60)))
        waiter.start()
        time.sleep(0.3)
        assert not answers  # it waits for the slot rather than piling onto the database
        s["release"]()
        waiter.join(timeout=30)
        assert answers[0].status_code == 200


def test_the_waiting_time_is_bounded(db, make_user) -> None:
    with _busy_server(db, make_user, sync_concurrency=1, sync_queue=4, sync_wait_seconds=0.3,
                      sync_retry_after=2) as s:
        t0 = time.monotonic()
        resp = httpx.post(s["url"] + PUSH, json=_push_body("tab-b", "乙"),
                          headers=_headers(s["tokens"]["tab-b"]), timeout=30)
        assert resp.status_code == 503 and time.monotonic() - t0 < 10
        assert resp.json()["error"]["code"] == "sync.busy"
        assert int(resp.headers["retry-after"]) >= 2


def test_a_dry_pool_is_503_not_500(db, db_url, make_user) -> None:
    """No connection within the pool's timeout: 503 with Retry-After (sync.busy on sync routes,
    server.unavailable elsewhere)."""
    from fastapi.testclient import TestClient

    from server.app import create_app
    from server.db.engine import make_engine

    # a pull uses two connections at once: the request's (who is asking) and its own snapshot
    engine = make_engine(db_url, pool_size=2, pool_timeout=0.2, max_overflow=0)
    settings = make_settings(sync_retry_after=4)
    cadre = make_user("cadre_pool", "village_cadre", [VILLAGE_A1])
    token = _token(db, settings, cadre, "tab-pool")
    try:
        with TestClient(create_app(settings=settings, engine=engine)) as client:
            with engine.connect(), engine.connect():  # the pool's connections are taken
                pull = client.get(PULL, headers=_headers(token))
                me = client.get("/api/v1/reference", headers=_headers(token))
            assert pull.status_code == 503 and pull.headers["retry-after"] == "4"
            assert pull.json()["error"]["code"] == "sync.busy"
            assert me.status_code == 503 and me.headers["retry-after"] == "4"
            assert me.json()["error"]["code"] == "server.unavailable"
            assert client.get(PULL, headers=_headers(token)).status_code == 200
    finally:
        engine.dispose()


def test_the_tablet_waits_out_retry_after_and_succeeds(db, make_user, tmp_path) -> None:
    from kivy_client.store import Store
    from kivy_client.sync import SyncClient
    from tests.client.util import household

    with _busy_server(db, make_user, sync_concurrency=1, sync_queue=0, sync_retry_after=2) as s:
        store = Store(tmp_path / "b.db", device_id="tab-b")
        hid = store.create_household(household("王五"))
        waits: list[float] = []

        def sleep(seconds: float) -> None:  # the tablet's wait; A finishes meanwhile
            waits.append(seconds)
            s["release"]()
            s["thread"].join(timeout=30)

        client = SyncClient(store, s["url"], token=s["tokens"]["tab-b"], sleep=sleep,
                            max_retries=0)  # busy waits must not use up the retry budget
        report = client.sync()
        assert report.pushed == {"applied": 1}
        assert len(waits) == 1 and 2 <= waits[0] <= 3  # Retry-After plus at most 50 % jitter
        assert store.pending_count() == 0
        assert store.get("household", hid).sync_state.value == "synced"
        store.close()


def test_the_tablet_caps_the_wait_and_gives_up_after_its_budget(db, make_user,
                                                                tmp_path) -> None:
    from kivy_client.store import Store
    from kivy_client.sync import SyncClient, SyncError
    from tests.client.util import household

    with _busy_server(db, make_user, sync_concurrency=1, sync_queue=0,
                      sync_retry_after=30) as s:
        store = Store(tmp_path / "b.db", device_id="tab-b")
        store.create_household(household("赵六"))
        waits: list[float] = []
        client = SyncClient(store, s["url"], token=s["tokens"]["tab-b"], sleep=waits.append,
                            max_retry_after=5, max_busy_wait=12)
        with pytest.raises(SyncError) as err:
            client.sync()
        assert err.value.code == "sync.busy" and err.value.status_code == 503
        assert all(5 <= w <= 7.5 for w in waits) and 2 <= len(waits) <= 3
        assert store.pending_count() == 1  # nothing lost: the next sync sends it
        store.close()


def test_login_lockout_is_not_waited_out() -> None:
    from kivy_client.sync import _retry_after

    request = httpx.Request("POST", "http://x/api/v1/auth/token")
    locked = httpx.Response(429, headers={"Retry-After": "900"}, request=request,
                            json={"error": {"code": "auth.locked_out", "message": "…"}})
    busy = httpx.Response(503, headers={"Retry-After": "7"}, request=request,
                          json={"error": {"code": "sync.busy", "message": "…"}})
    dated = httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"},
                           request=request)
    assert _retry_after(locked) is None
    assert _retry_after(busy) == 7
    assert _retry_after(dated) is None


def test_retry_after_grows_with_the_queue() -> None:
    assert retry_after_seconds(2, 0, 4) == 2
    assert retry_after_seconds(2, 8, 4) == 6
    # at most 10 s, measured or not (the first 503s of a storm come before any measurement)
    assert retry_after_seconds(2, 1000, 4) == 10
    assert retry_after_seconds(30, 1000, 4) == 30  # unless the configured base says more
    assert retry_after_seconds(30, 0, 2, service_s=0.4) == 30
    # with a measured service time: about when the waiting ones will have been served
    assert retry_after_seconds(2, 0, 2, service_s=0.4) == 2  # never sooner than the base
    assert retry_after_seconds(2, 31, 2, service_s=0.5) == 8
    assert retry_after_seconds(1, 3, 2, service_s=0.1) == 1
    assert retry_after_seconds(2, 500, 2, service_s=3.0) == 10  # the queue empties within the wait


def test_the_tablet_says_it_is_retrying_and_starts_afresh_for_the_next_request(
        db, make_user, tmp_path) -> None:
    """The tablet's real sync client against a real busy server: each retry of the same push
    carries ``X-Ruhu-Retry`` (times turned away, seconds since the first attempt); the pull that
    follows is a new request and starts without it."""
    from kivy_client.store import Store
    from kivy_client.sync import SyncClient
    from sync_protocol.retry import RETRY_HEADER, parse_retry
    from tests.client.util import household

    with _busy_server(db, make_user, sync_concurrency=1, sync_queue=0, sync_retry_after=2) as s:
        store = Store(tmp_path / "b.db", device_id="tab-b")
        store.create_household(household("钱七"))
        sent: list[tuple[str, str | None]] = []
        waits: list[float] = []

        def sleep(seconds: float) -> None:  # turned away twice, then A's push finishes
            waits.append(seconds)
            if len(waits) == 2:
                s["release"]()
                s["thread"].join(timeout=30)

        http = httpx.Client(base_url=s["url"], timeout=30, event_hooks={"request": [
            lambda request: sent.append((request.url.path, request.headers.get(RETRY_HEADER)))]})
        client = SyncClient(store, client=http, token=s["tokens"]["tab-b"], sleep=sleep)
        report = client.sync()
        http.close()
        assert report.pushed == {"applied": 1}
        pushes = [value for path, value in sent if path == PUSH]
        pulls = [value for path, value in sent if path == PULL]
        assert pushes[0] is None  # a first attempt says nothing
        first, second = parse_retry(pushes[1]), parse_retry(pushes[2])
        assert first is not None and second is not None
        assert first.count == 1 and second.count == 2
        # at least the Retry-After waits (2 s plus jitter each), whole seconds
        assert first.waited_s >= int(waits[0]) and second.waited_s >= int(waits[0] + waits[1])
        assert len(pushes) == 3 and pulls and all(value is None for value in pulls)
        store.close()
