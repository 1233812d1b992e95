"""What the tablet says and does in the field (issue 16), through the presenters against the real
server: a conflict decided against a cadre's value is announced on their next sync and kept in
the household's history; photos from another tablet are downloaded on demand and kept; the access
token is renewed without the password; an unreachable server is retried with a hint and can be
stopped; a wrong server address is told apart from no signal; offline unlock is throttled."""

from __future__ import annotations

import datetime as dt
import http.server
import threading
import time

import pytest

from kivy_client.ui.presenters import Presenters
from sync_protocol.errors import ErrorCode
from tests.conftest import PASSWORD, SYNC_HEADERS, TOWNSHIP_A, VILLAGE_A1

from .util import household

JPEG = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffd9")


def _presenters(dev) -> Presenters:
    presenters = Presenters(dev.store, str(dev.session.http.base_url), transport=dev.wire)
    presenters.ctx.session = dev.session
    return presenters


def test_a_cadre_whose_value_lost_is_told_on_the_next_sync(client, make_user, make_device,
                                                            login):
    make_user("cadre", "village_cadre", [VILLAGE_A1], name="王村干")
    make_user("secretary", "first_secretary", [VILLAGE_A1], name="李书记")
    make_user("clerk", "township_clerk", [TOWNSHIP_A], name="赵专干")
    a, b = make_device("cadre", "tab-a"), make_device("secretary", "tab-b")
    hid = a.store.create_household(household("张德明", phone="13800000001"))
    a.sync()
    b.sync()
    a.store.update("household", hid, {"phone": "13711112222"})
    b.store.update("household", hid, {"phone": "13922223333"})
    b.sync()
    a.sync()  # the cadre's value arrives second: a conflict for the clerk
    [issue] = [i for i in a.store.issues(open_only=True) if i.kind == "conflict"]
    clerk = login("clerk", "pc-clerk")
    resp = client.post(f"/api/v1/conflicts/{issue.id}/resolve", headers=clerk,
                       json={"resolution": "keep_server", "note": "已电话核实，以书记填写为准"})
    assert resp.status_code == 200, resp.text
    a.sync()
    presenters = _presenters(a)
    notices = presenters.sync.lost_notices()
    assert len(notices) == 1
    notice = notices[0]
    assert "张德明户" in notice and "联系电话" in notice and "13711112222" in notice
    assert "13922223333" in notice and "赵专干" in notice and "已电话核实" in notice
    assert presenters.sync.lost_notices() == []  # told once
    # the winner is not told anything; the household's history keeps the decision for both
    assert _presenters(b).sync.lost_notices() == []
    # a new tablet of the same cadre: the first download leaves decided conflicts out, no notice
    c = make_device("cadre", "tab-c")
    c.sync()
    assert _presenters(c).sync.lost_notices() == []
    [line] = presenters.household.view(hid)["decisions"]
    assert "乡镇乡村振兴（防返贫）专干赵专干已处理" in line and "已电话核实，以书记填写为准" in line
    assert a.store.get("household", hid).fields["phone"] == "13922223333"


def test_photos_from_another_tablet_are_downloaded_on_demand_and_kept(make_user, make_device,
                                                                      tmp_path):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    make_user("secretary", "first_secretary", [VILLAGE_A1])
    a, b = make_device("cadre", "tab-a"), make_device("secretary", "tab-b")
    hid = a.store.create_household(household("张德明"))
    photo = tmp_path / "visit.jpg"
    photo.write_bytes(JPEG)
    taker = _presenters(a)
    result = taker.visits.record(
        hid, visited_at=dt.datetime.now(dt.UTC), lat=None, lng=None, purpose="日常走访",
        notes="家中情况稳定", co_visitor="刘强", photos=[str(photo)], household_confirmed=True)
    assert result.ok
    [sha] = a.store.get("visit", result.record_id).fields["attachment_ids"]
    assert taker.visits.photo_file(sha) is not None  # its own photo: shown at once
    assert taker.visits.last_co_visitor() == "刘强"  # remembered for the next visit
    a.sync()
    b.sync()
    viewer = _presenters(b)
    assert viewer.visits.photo_file(sha) is None  # not on this tablet yet
    assert viewer.visits.fetch_photo(sha) is None
    path = viewer.visits.photo_file(sha)
    assert path is not None and open(path, "rb").read() == JPEG
    assert b.store.pending_attachments() == []  # kept, never uploaded back
    assert viewer.visits.fetch_photo("0" * 64) is not None  # unknown: a message, no crash


def test_the_token_is_renewed_without_the_password(client, make_user, make_device, login):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    dev = make_device("cadre", "tab-a")
    old = dev.session.token
    assert dev.session.renew_if_due() is False  # far from expiry: nothing to do
    assert dev.session.renew_if_due(within_s=10**9) is True
    new = dev.session.token
    assert new and new != old
    # the old token is revoked, the new one works, a sync goes on with it
    headers = SYNC_HEADERS
    assert client.get("/api/v1/sync/pull", headers={**headers,
                                                     "Authorization": f"Bearer {old}"}
                      ).status_code == 401
    dev.sync()
    # a revoked token cannot renew itself
    resp = client.post("/api/v1/auth/refresh",
                       headers={**SYNC_HEADERS, "Authorization": f"Bearer {old}"})
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] in ("auth.session_ended", "auth.token_invalid")
    # the endpoint answers the same shape as a login
    fresh = login("cadre", "tab-b")
    resp = client.post("/api/v1/auth/refresh", headers=fresh)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["user"]["scopes"] == [VILLAGE_A1] and body["expires_in"] > 0


def test_a_disabled_user_cannot_renew(client, make_user, login, db):
    import sqlalchemy as sa

    make_user("cadre", "village_cadre", [VILLAGE_A1])
    headers = login("cadre", "tab-a")
    with db.begin() as conn:
        conn.execute(sa.text("UPDATE app_user SET disabled = true WHERE username = 'cadre'"))
    resp = client.post("/api/v1/auth/refresh", headers=headers)
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "auth.user_disabled"


def test_an_unreachable_server_is_retried_with_a_hint_and_can_be_stopped(tmp_path):
    from kivy_client.store import Store

    store = Store(tmp_path / "t.sqlite3", device_id="tab-x")
    store.set_current_user("u1", "王村干", [VILLAGE_A1])
    store.create_household(household("张德明"))
    presenters = Presenters(store, "http://127.0.0.1:9",
                            sync_options={"max_retries": 50, "backoff": 0.05,
                                          "max_backoff": 0.05})
    retries: list[int] = []
    done: list[Exception | None] = []

    def retrying(attempt: int, _wait: float) -> None:
        retries.append(attempt)
        if attempt == 2:
            presenters.sync.stop()  # the 停止 button

    worker = presenters.sync.sync_worker(lambda *_a: None, lambda _r, e: done.append(e),
                                         retrying)
    worker.start()
    worker.join(30)
    assert retries[:2] == [1, 2] and len(retries) <= 3
    assert presenters.sync.retry_text(2) == "无法连接服务器，正在重试（第2次）…"
    [error] = done
    assert getattr(error, "code", None) == ErrorCode.client_sync_stopped
    assert "不会丢失" in presenters.sync.sync_failed(error)
    assert store.pending_count() == 1  # nothing lost
    store.close()


class _NotRuhu(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = b"<html><body>Welcome to nginx!</body></html>"
        self.send_response(404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def not_ruhu():
    server = http.server.HTTPServer(("127.0.0.1", 0), _NotRuhu)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_wrong_server_address_is_not_taken_for_no_signal(make_user, make_device, not_ruhu,
                                                           tmp_path):
    from kivy_client.store import Store

    store = Store(tmp_path / "t.sqlite3", device_id="tab-x")
    presenters = Presenters(store)
    refused = presenters.login.login("http://127.0.0.1:9", "cadre", PASSWORD)
    assert refused is not None and "没有响应" in refused and "地址" in refused
    malformed = presenters.login.login("127.0.0.1:8000", "cadre", PASSWORD)
    assert malformed is not None and "服务器地址" in malformed
    other = presenters.login.login(not_ruhu, "cadre", PASSWORD)
    assert other == "该地址不是入户通服务器，请核对“服务器地址”是否输入正确"
    assert not presenters.signed_in
    store.close()


def test_netcheck_tells_no_signal_from_a_wrong_address():
    import socket

    import httpx

    from kivy_client.netcheck import classify

    def wrapped(cause: BaseException) -> httpx.ConnectError:
        try:
            try:
                raise cause
            except BaseException as inner:
                raise httpx.ConnectError(str(inner)) from inner
        except httpx.ConnectError as exc:
            return exc

    no_name = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    no_dns = socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
    assert classify(wrapped(no_name)) == ErrorCode.client_server_address_invalid
    assert classify(wrapped(no_dns)) == ErrorCode.client_network_unavailable
    assert classify(wrapped(ConnectionRefusedError(111, "Connection refused"))) == \
        ErrorCode.client_server_refused
    assert classify(wrapped(OSError(101, "Network is unreachable"))) == \
        ErrorCode.client_network_unavailable
    assert classify(httpx.ConnectTimeout("timed out")) == ErrorCode.client_network_unavailable
    assert classify(httpx.UnsupportedProtocol("no scheme")) == \
        ErrorCode.client_server_address_invalid


def test_offline_unlock_attempts_wait_longer_after_failures(make_user, make_device):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    dev = make_device("cadre", "tab-a")
    dev.session.logout()
    presenters = _presenters(dev)
    for _ in range(2):
        assert presenters.login.unlock("cadre", "wrong-password") == "用户名或密码错误"
    third = presenters.login.unlock("cadre", "wrong-password")
    assert third is not None and "30 秒后再试" in third
    # the right password must wait too, and the wait survives a restart of the app
    throttled = presenters.login.unlock("cadre", PASSWORD)
    assert throttled is not None and "错误次数过多" in throttled
    assert 25 <= dev.session.unlock_wait_s("cadre") <= 30
    # once the wait is over (moved back in time here) the right password unlocks and resets
    import json

    key = "unlock_failures:cadre"
    count, at = json.loads(dev.store.get_meta(key) or "[0, 0]")
    dev.store.set_meta(key, json.dumps([count, at - 31]))
    assert presenters.login.unlock("cadre", PASSWORD) is None
    assert dev.session.unlock_wait_s("cadre") == 0
    assert dev.store.get_meta(key) is None
    assert time.time() > 0
