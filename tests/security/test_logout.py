"""Logging out revokes the session server-side: a copied cookie or token is useless afterwards,
for console pages and the API alike, while the user's other sessions go on working."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi.testclient import TestClient

from kivy_client.session import Session as TabletSession
from kivy_client.store import Store
from server.db.tables import AuthSession
from server.security import TokenClaims, create_token
from tests.conftest import COUNTY, PASSWORD, SYNC_HEADERS, TOWNSHIP_A, VILLAGE_A1
from tests.console.conftest import console_login
from tests.security.conftest import api_login


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **SYNC_HEADERS}


def _code(resp) -> str:
    return str(resp.json()["error"]["code"])


def test_console_logout_revokes_the_cookie_for_console_and_api(app, make_user):
    make_user("clerk", "township_clerk", [TOWNSHIP_A], name="张专干")
    with TestClient(app) as browser, TestClient(app) as thief, TestClient(app) as other:
        csrf = console_login(browser, "clerk")
        stolen = browser.cookies.get("ruhu_token")
        assert stolen
        console_login(other, "clerk")  # the same clerk in another browser
        thief.cookies.set("ruhu_token", stolen)
        assert thief.get("/console/conflicts").status_code == 200
        assert thief.get("/api/v1/reference", headers=_bearer(stolen)).status_code == 200

        out = browser.post("/console/logout", data={"csrf_token": csrf}, follow_redirects=False)
        assert out.status_code == 303 and out.headers["location"] == "/console/login"

        # the old cookie, replayed: back to the login page, and 401 on the API (cookie or bearer)
        page = thief.get("/console/conflicts", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith("/console/login")
        thief.cookies.set("ruhu_token", stolen)
        api = thief.get("/api/v1/reference")
        assert api.status_code == 401 and _code(api) == "auth.session_ended"
        assert "退出登录" in api.json()["error"]["message"]
        api = thief.get("/api/v1/households", headers=_bearer(stolen))
        assert api.status_code == 401 and _code(api) == "auth.session_ended"
        # the other browser's session is unaffected
        assert other.get("/console/conflicts").status_code == 200


def test_api_logout_revokes_only_that_token(client, make_user):
    make_user("clerk", "township_clerk", [TOWNSHIP_A])
    first = api_login(client, "clerk", device_id="tab-1").json()["access_token"]
    again = api_login(client, "clerk", device_id="tab-1").json()["access_token"]
    other = api_login(client, "clerk", device_id="tab-2").json()["access_token"]
    with TestClient(client.app) as browser:
        console_login(browser, "clerk")

        resp = client.post("/api/v1/auth/logout", headers=_bearer(first))
        assert resp.status_code == 204

        for method, path in (("GET", "/api/v1/households"), ("GET", "/api/v1/reference"),
                             ("GET", "/api/v1/sync/pull"), ("POST", "/api/v1/sync/push")):
            refused = client.request(method, path, headers=_bearer(first),
                                     json={"device_id": "tab-1", "changes": []})
            assert refused.status_code == 401, (path, refused.text)
            assert _code(refused) == "auth.session_ended"
        # logging out twice: the token is already dead
        assert _code(client.post("/api/v1/auth/logout", headers=_bearer(first))) \
            == "auth.session_ended"
        # the same user's other sessions (same device, other device, console) still work
        for token in (again, other):
            assert client.get("/api/v1/households", headers=_bearer(token)).status_code == 200
        assert browser.get("/console/conflicts").status_code == 200
    assert client.post("/api/v1/auth/logout").status_code == 401  # no token at all


def test_disabling_or_revoking_ends_sessions_for_good(app, client, make_user, db):
    make_user("admin", "county_admin", [COUNTY])
    cadre = make_user("cadre", "village_cadre", [VILLAGE_A1])
    tab1 = api_login(client, "cadre", device_id="tab-1").json()["access_token"]
    tab2 = api_login(client, "cadre", device_id="tab-2").json()["access_token"]
    with TestClient(app) as admin:
        csrf = console_login(admin, "admin")
        assert admin.post(f"/console/users/{cadre.id}/disable",
                          data={"csrf_token": csrf}).status_code == 200
        assert _code(client.get("/api/v1/households", headers=_bearer(tab1))) \
            == "auth.user_disabled"
        assert admin.post(f"/console/users/{cadre.id}/enable",
                          data={"csrf_token": csrf}).status_code == 200
        # re-enabled: tokens from before stay dead, a fresh login works
        for token in (tab1, tab2):
            resp = client.get("/api/v1/households", headers=_bearer(token))
            assert resp.status_code == 401 and _code(resp) == "auth.session_ended"
        fresh = api_login(client, "cadre", device_id="tab-2").json()["access_token"]
        assert client.get("/api/v1/households", headers=_bearer(fresh)).status_code == 200
        # revoking a device ends its sessions too
        with db.connect() as conn:
            device_pk = conn.execute(sa.text(
                "SELECT id FROM device WHERE device_id = 'tab-2'")).scalar_one()
        assert admin.post(f"/console/devices/{device_pk}/revoke",
                          data={"csrf_token": csrf}).status_code == 200
    resp = client.get("/api/v1/households", headers=_bearer(fresh))
    assert resp.status_code == 401 and _code(resp) == "auth.device_revoked"


def test_token_without_a_session_is_refused(client, make_user):
    user = make_user("cadre", "village_cadre", [VILLAGE_A1])
    api_login(client, "cadre")  # registers the device
    secret = client.app.state.settings.secret_key
    legacy = create_token(TokenClaims(user.id, "tab-1", 1), secret, 3600)  # no jti
    resp = client.get("/api/v1/households", headers=_bearer(legacy))
    assert resp.status_code == 401 and _code(resp) == "auth.token_invalid"
    # a jti that names no session (e.g. another user's, or an invented one) is refused too
    with client.app.state.engine.connect() as conn:
        sid = conn.execute(sa.select(AuthSession.id)).scalar_one()  # type: ignore[call-overload]
    other = make_user("other", "village_cadre", [VILLAGE_A1])
    forged = create_token(TokenClaims(other.id, "tab-1", 1, sid), secret, 3600)
    resp = client.get("/api/v1/households", headers=_bearer(forged))
    assert resp.status_code == 401 and _code(resp) == "auth.token_invalid"


def test_expired_session_rows_are_deleted_at_the_next_login(client, make_user, db):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    api_login(client, "cadre")
    with db.begin() as conn:
        conn.execute(sa.text("UPDATE auth_session SET expires_at = now() - interval '1 minute'"))
    api_login(client, "cadre")
    with db.connect() as conn:
        rows = conn.execute(sa.text("SELECT expires_at > now() FROM auth_session")).scalars()
        assert list(rows) == [True]


def test_tablet_logout_revokes_its_token_online_and_works_offline(client, make_user, tmp_path):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    store = Store(tmp_path / "tab.db", device_id="tab-x")
    tablet = TabletSession(store, client=client)
    tablet.login("cadre", PASSWORD)
    token = tablet.token
    assert token and client.get("/api/v1/households", headers=_bearer(token)).status_code == 200
    assert tablet.logout().logged_out
    resp = client.get("/api/v1/households", headers=_bearer(token))
    assert resp.status_code == 401 and _code(resp) == "auth.session_ended"

    # offline: the server cannot be asked; the logout still happens on the tablet (the token,
    # never sent again, lapses at its expiry)
    tablet.login("cadre", PASSWORD)
    second = tablet.token
    offline = TabletSession(store, "http://127.0.0.1:9", timeout=2)
    offline.unlock("cadre", password=PASSWORD)
    assert offline.logout().logged_out and offline.account is None
    assert store.query("SELECT token FROM accounts")[0]["token"] is None
    assert client.get("/api/v1/households", headers=_bearer(second)).status_code == 200
    store.close()
