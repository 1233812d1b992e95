"""Password guessing is throttled per account (at an address), per address and per account
(across addresses); the console and the token endpoint share the counters, which live in Postgres.
Limits here (tests/security/conftest.py): 5 per account at one address, 10 per address,
15 per account over all addresses; first lock-out 30 s, doubling, at most 15 min."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import re
import time

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

import server.api.routes.auth as auth_routes
from kivy_client.session import Session as TabletSession
from kivy_client.store import Store
from server.app import create_app
from server.settings import Settings
from sync_protocol.errors import ErrorCode, RuhuError
from tests.conftest import PASSWORD, TOWNSHIP_A, VILLAGE_A1
from tests.console.conftest import csrf_of
from tests.security.conftest import ACCOUNT_LIMIT, ADDRESS_LIMIT, api_login, expire_locks

CHINA = dt.timezone(dt.timedelta(hours=8))


def _error(resp: httpx.Response) -> dict[str, str]:
    return dict(resp.json()["error"])


def _fail(client: TestClient, username: str, times: int) -> None:
    for _ in range(times):
        resp = api_login(client, username, "wrong-password")
        assert resp.status_code == 401, resp.text
        assert _error(resp)["code"] == "auth.invalid_credentials"


def _assert_locked(resp: httpx.Response, max_seconds: float) -> int:
    assert resp.status_code == 429, resp.text
    body = _error(resp)
    assert body["code"] == "auth.locked_out"
    retry = int(resp.headers["Retry-After"])
    assert 0 < retry <= max_seconds and body["retry_after"] == retry
    assert "后再试" in body["message"] and "登录失败次数过多" in body["message"]
    return retry


def test_five_failures_lock_the_account_until_the_lock_runs_out(client, make_user, db):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    _fail(client, "cadre", 5)
    locked = api_login(client, "cadre")  # the right password, during the lock-out
    retry = _assert_locked(locked, 30)
    assert re.fullmatch(r"登录失败次数过多，为保护账号安全已暂停登录，请 \d+ 秒后再试",
                        _error(locked)["message"])
    expire_locks(db)
    assert api_login(client, "cadre").status_code == 200
    # the success reset the account's counter: four more failures do not lock it
    _fail(client, "cadre", 4)
    assert api_login(client, "cadre").status_code == 200
    assert retry > 0


def test_each_further_failure_doubles_the_lock_out_and_says_when(client, make_user, db):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    _fail(client, "cadre", 5)
    retries = [_assert_locked(api_login(client, "cadre"), 30)]
    for _ in range(3):  # after each lock-out, one more wrong guess: 60 s, 120 s, 240 s
        expire_locks(db)
        _fail(client, "cadre", 1)
        retries.append(_assert_locked(api_login(client, "cadre"), 900))
    assert [round(r / 30) for r in retries] == [1, 2, 4, 8]
    # beyond a minute and a half the message names the time, in China time
    resp = api_login(client, "cadre")
    message = _error(resp)["message"]
    match = re.search(r"请于 (\d\d:\d\d) 后再试", message)
    assert match, message
    until = dt.datetime.now(CHINA) + dt.timedelta(seconds=int(resp.headers["Retry-After"]))
    expected = {f"{until + dt.timedelta(minutes=m):%H:%M}" for m in (0, 1)}
    assert match.group(1) in expected
    # capped at the maximum
    for _ in range(5):
        expire_locks(db)
        _fail(client, "cadre", 1)
    assert _assert_locked(api_login(client, "cadre"), 900) > 840


def test_a_locked_out_attempt_spends_no_argon2(client, make_user, monkeypatch):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    calls: list[str] = []
    verify = auth_routes.verify_password

    def counting(password_hash: str, password: str) -> bool:
        calls.append(password_hash)
        return verify(password_hash, password)

    monkeypatch.setattr(auth_routes, "verify_password", counting)
    _fail(client, "cadre", 5)
    assert len(calls) == 5
    for _ in range(10):
        assert api_login(client, "cadre").status_code == 429
    assert len(calls) == 5


def test_unknown_and_locked_accounts_answer_alike(client_at, make_user):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    a, b = client_at("192.0.2.1"), client_at("192.0.2.2")
    known, unknown = api_login(a, "cadre", "wrong"), api_login(b, "nobody", "wrong")
    assert (known.status_code, known.json()) == (unknown.status_code, unknown.json())
    _fail(a, "cadre", 4)
    _fail(b, "nobody", 4)
    known, unknown = api_login(a, "cadre"), api_login(b, "nobody")
    assert known.status_code == unknown.status_code == 429
    assert _error(known)["code"] == _error(unknown)["code"] == "auth.locked_out"
    assert re.sub(r"\d", "", _error(known)["message"]) == \
        re.sub(r"\d", "", _error(unknown)["message"])
    assert set(known.headers) == set(unknown.headers)


def test_the_address_limit_stops_guessing_across_many_usernames(client_at, make_user, db):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    sprayer = client_at("203.0.113.7")
    for n in range(ADDRESS_LIMIT):  # one guess at each of many names: no account limit reached
        assert api_login(sprayer, f"user{n}", "123456").status_code == 401
    # the address is stopped, whatever the account and even with the right password
    _assert_locked(api_login(sprayer, "cadre"), 30)
    _assert_locked(api_login(sprayer, "someone-else", "123456"), 30)
    # other addresses are not
    assert api_login(client_at("198.51.100.20"), "cadre").status_code == 200
    # a success of one's own does not buy the address more guesses
    expire_locks(db)
    assert api_login(sprayer, "cadre").status_code == 200
    assert api_login(sprayer, "user99", "123456").status_code == 401
    _assert_locked(api_login(sprayer, "user100", "123456"), 60)


def test_one_address_cannot_lock_an_account_for_everyone(client_at, make_user, db):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    attacker = client_at("203.0.113.66")
    refused = 0
    for _ in range(3 * ACCOUNT_LIMIT):  # keeps guessing whenever its lock-outs run out
        resp = api_login(attacker, "cadre", "guess")
        if resp.status_code == 429:
            refused += 1
            expire_locks(db)
        else:
            assert resp.status_code == 401
    assert refused > 0
    # the cadre, at another address, is not locked out: the address limit stopped the attacker
    # before its failures could reach the account-wide limit
    assert api_login(client_at("198.51.100.5"), "cadre").status_code == 200


def test_guessing_from_many_addresses_locks_the_account(client_at, make_user):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    per_address = 3  # under both the account-at-address and the address limits
    for n in range(ACCOUNT_LIMIT // per_address):
        _fail(client_at(f"203.0.113.{n + 1}"), "cadre", per_address)
    _assert_locked(api_login(client_at("198.51.100.5"), "cadre"), 30)


def test_console_and_api_share_the_counters(client, make_user, db):
    make_user("clerk", "township_clerk", [TOWNSHIP_A])
    page = client.get("/console/login")
    for _ in range(3):
        wrong = client.post("/console/login", data={"username": "clerk", "password": "nope",
                                                    "csrf_token": csrf_of(page.text)})
        assert wrong.status_code == 401 and "用户名或密码错误" in wrong.text
    _fail(client, "clerk", 2)
    locked = client.post("/console/login", data={"username": "clerk", "password": PASSWORD,
                                                 "csrf_token": csrf_of(page.text)},
                         follow_redirects=False)
    assert locked.status_code == 429 and 0 < int(locked.headers["Retry-After"]) <= 30
    assert "登录失败次数过多" in locked.text and "后再试" in locked.text
    assert "ruhu_token" not in client.cookies
    _assert_locked(api_login(client, "clerk"), 30)
    expire_locks(db)
    ok = client.post("/console/login", data={"username": "clerk", "password": PASSWORD,
                                             "csrf_token": csrf_of(page.text)},
                     follow_redirects=False)
    assert ok.status_code == 303


def test_a_real_lock_out_runs_out_by_itself(db, make_user, settings: Settings):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    quick = settings.model_copy(update={"login_lockout_seconds": 1.0})
    with TestClient(create_app(settings=quick, engine=db)) as client:
        _fail(client, "cadre", 5)
        _assert_locked(api_login(client, "cadre"), 1)
        time.sleep(1.2)
        assert api_login(client, "cadre").status_code == 200


@pytest.mark.parametrize("burst", [12])
def test_concurrent_guesses_cannot_slip_past_the_limit(live_url, make_user, db, burst):
    make_user("cadre", "village_cadre", [VILLAGE_A1])

    def guess(n: int) -> int:
        with httpx.Client(base_url=live_url, timeout=60) as http:
            return http.post("/api/v1/auth/token", data={
                "username": "cadre", "password": f"guess-{n}", "device_id": "tab-1"}
            ).status_code

    with concurrent.futures.ThreadPoolExecutor(burst) as pool:
        codes = list(pool.map(guess, range(burst)))
    # each attempt is counted before its password is checked: never more than 5 get checked
    assert codes.count(401) <= 5 and codes.count(401) + codes.count(429) == burst
    with db.connect() as conn:
        pair = conn.execute(sa.text(
            "SELECT failures FROM login_throttle WHERE kind = 'pair'")).scalar_one()
    assert pair == codes.count(401)


def test_the_tablet_shows_the_lock_out(client, make_user, tmp_path):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    store = Store(tmp_path / "tab.db", device_id="tab-x")
    tablet = TabletSession(store, client=client)
    for _ in range(5):
        with pytest.raises(RuhuError) as wrong:
            tablet.login("cadre", "wrong-password")
        assert wrong.value.code == ErrorCode.auth_invalid_credentials
    with pytest.raises(RuhuError) as locked:
        tablet.login("cadre", PASSWORD)
    assert locked.value.code == ErrorCode.auth_locked_out and locked.value.status_code == 429
    assert "后再试" in locked.value.message
    store.close()
