"""Authentication: expiry, disabled users, revoked devices, no clear-text passwords anywhere."""

from __future__ import annotations

import logging
import uuid

import jwt
import sqlalchemy as sa
from sqlmodel import Session, select

from server.db.tables import AuditLog, Device, User
from server.security import TokenClaims, create_token, verify_password
from server.settings import get_settings
from tests.conftest import PASSWORD, VILLAGE_A1


def _token_secret(client, token: str) -> str:
    """The secret the running app signs with (the app's settings or the process-wide ones)."""
    for secret in (client.app.state.settings.secret_key, get_settings().secret_key):
        try:
            jwt.decode(token, secret, algorithms=["HS256"])
            return secret
        except jwt.PyJWTError:
            continue
    raise AssertionError("no known secret verifies the issued token")


def _login(client, username="cadre", password=PASSWORD, device_id="tab-1"):
    return client.post("/api/v1/auth/token",
                       data={"username": username, "password": password, "device_id": device_id})


def test_token_response_shape_and_use(client, make_user):
    make_user("cadre", "village_cadre", [VILLAGE_A1], name="张三")
    body = _login(client).json()
    assert body["token_type"] == "bearer" and body["expires_in"] > 0
    assert body["user"] == {"id": body["user"]["id"], "name": "张三", "role": "village_cadre",
                            "scopes": [VILLAGE_A1]}
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert client.get("/api/v1/households", headers=headers).status_code == 200


def test_expired_token_is_refused(client, make_user):
    user = make_user("cadre", "village_cadre", [VILLAGE_A1])
    token = _login(client).json()["access_token"]
    secret = _token_secret(client, token)
    expired = create_token(TokenClaims(user.id, "tab-1", 1), secret, ttl_seconds=-60)
    resp = client.get("/api/v1/households", headers={"Authorization": f"Bearer {expired}"})
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "auth.token_expired"
    assert "过期" in resp.json()["error"]["message"]


def test_forged_or_garbage_token_is_refused(client, make_user):
    user = make_user("cadre", "village_cadre", [VILLAGE_A1])
    forged = create_token(TokenClaims(user.id, "tab-1", 1), "not-the-secret-" + "y" * 32, 3600)
    for token in (forged, "garbage", ""):
        resp = client.get("/api/v1/reference", headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 401
        assert resp.json()["error"]["code"] in ("auth.token_invalid", "auth.not_authenticated")


def test_disabled_user_is_refused(client, make_user, db):
    make_user("gone", "village_cadre", [VILLAGE_A1], disabled=True)
    resp = _login(client, "gone")
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "auth.user_disabled"
    # a user disabled after logging in loses access with the token they hold
    user = make_user("cadre", "village_cadre", [VILLAGE_A1])
    headers = {"Authorization": f"Bearer {_login(client).json()['access_token']}"}
    with db.begin() as conn:
        conn.execute(sa.update(User.__table__).where(User.__table__.c.id == user.id)
                     .values(disabled=True))
    for path in ("/api/v1/households", "/api/v1/reference", f"/api/v1/households/{uuid.uuid4()}"):
        resp = client.get(path, headers=headers)
        assert resp.status_code == 401
        assert resp.json()["error"]["code"] == "auth.user_disabled"


def test_revoked_device_is_refused(client, make_user, db):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    headers = {"Authorization": f"Bearer {_login(client).json()['access_token']}"}
    with db.begin() as conn:
        conn.execute(sa.update(Device.__table__).where(Device.__table__.c.device_id == "tab-1")
                     .values(revoked=True))
    resp = client.get("/api/v1/households", headers=headers)
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "auth.device_revoked"
    again = _login(client)
    assert again.status_code == 401 and again.json()["error"]["code"] == "auth.device_revoked"
    # another device of the same user still works
    assert _login(client, device_id="tab-2").status_code == 200


def test_password_never_stored_or_logged_in_clear(client, make_user, db, caplog):
    secret = "Zhang-San-secret-2026"
    make_user("cadre", "village_cadre", [VILLAGE_A1], password=secret)
    with caplog.at_level(logging.DEBUG):
        assert _login(client, password=secret).status_code == 200
        assert _login(client, password=secret + "x").status_code == 401
        assert _login(client, username="nobody", password=secret).status_code == 401
    assert secret not in caplog.text
    with Session(db) as session:
        user = session.exec(select(User).where(User.username == "cadre")).one()
        assert user.password_hash != secret and secret not in user.password_hash
        assert user.password_hash.startswith("$argon2")
        assert verify_password(user.password_hash, secret)
        for row in session.exec(select(AuditLog)).all():
            assert secret not in repr(row.detail)
    with db.connect() as conn:  # nowhere in the database, in any table
        for table in ("app_user", "audit_log", "device"):
            dump = conn.execute(sa.text(f"SELECT ({table}.*)::text FROM {table}")).scalars().all()
            assert not any(secret in line for line in dump)
