"""County admin: create, disable, re-scope users and revoke devices — audited and effective."""

from __future__ import annotations

import sqlalchemy as sa

from tests.conftest import PASSWORD, TOWNSHIP_B, VILLAGE_A1, VILLAGE_A2
from tests.console.conftest import console_login


def _audit(db) -> list[str]:
    with db.connect() as conn:
        return list(conn.execute(sa.text("select action from audit_log order by id")).scalars())


def test_create_user_validates_scope_and_role(client, world, db):
    token = console_login(client, "admin")
    bad = client.post("/console/users", data={
        "csrf_token": token, "username": "cadre_new", "name": "新村干", "role": "village_cadre",
        "scopes": "411702105", "password": "long-enough-1"})
    assert bad.status_code == 400 and "管辖范围与角色不符" in bad.text
    outside = client.post("/console/users", data={
        "csrf_token": token, "username": "cadre_new", "name": "新村干", "role": "village_cadre",
        "scopes": "412345678901", "password": "long-enough-1"})
    assert outside.status_code == 400
    ok = client.post("/console/users", data={
        "csrf_token": token, "username": "cadre_new", "name": "新村干", "role": "village_cadre",
        "scopes": VILLAGE_A1, "password": "long-enough-1"}, follow_redirects=False)
    assert ok.status_code == 303
    dup = client.post("/console/users", data={
        "csrf_token": token, "username": "cadre_new", "name": "x", "role": "village_cadre",
        "scopes": VILLAGE_A1, "password": "long-enough-1"})
    assert "用户名已存在" in dup.text
    resp = client.post("/api/v1/auth/token", data={"username": "cadre_new",
                                                   "password": "long-enough-1",
                                                   "device_id": "tab-new"})
    assert resp.status_code == 200
    assert "user_create" in _audit(db)


def test_disable_rescope_and_revoke(client, world, db, login):
    headers = login("cadre_a", "tab-77")
    assert client.get("/api/v1/reference", headers=headers).status_code != 401
    token = console_login(client, "admin")
    cadre = world["cadre"]
    page = client.get("/console/users")
    assert "tab-77" in page.text and "王村干" in page.text
    client.post(f"/console/users/{cadre.id}/scopes",
                data={"csrf_token": token, "scopes": f"{VILLAGE_A1} {VILLAGE_A2}"})
    with db.connect() as conn:
        row = conn.execute(sa.text("select scopes, scope_version from app_user where id = :i"),
                           {"i": cadre.id}).one()
    assert row.scopes == [VILLAGE_A1, VILLAGE_A2] and row.scope_version == 2
    with db.connect() as conn:
        device = conn.execute(sa.text("select id from device where device_id = 'tab-77'")).scalar()
    client.post(f"/console/devices/{device}/revoke", data={"csrf_token": token})
    assert client.get("/api/v1/reference", headers=headers).status_code == 401
    client.post(f"/console/users/{cadre.id}/disable", data={"csrf_token": token})
    again = client.post("/api/v1/auth/token", data={"username": "cadre_a", "password": PASSWORD,
                                                    "device_id": "tab-78"})
    assert again.status_code == 401
    assert {"user_scopes", "device_revoke", "user_disable"} <= set(_audit(db))


def test_admin_sees_only_own_county_users(client, world):
    console_login(client, "admin")
    page = client.get("/console/users").text
    assert "张专干" in page and "李专干" in page
    # a clerk of township B cannot be re-scoped by a clerk (admin only)
    client.cookies.clear()
    token = console_login(client, "clerk_a")
    resp = client.post(f"/console/users/{world['clerk_b'].id}/scopes",
                       data={"csrf_token": token, "scopes": TOWNSHIP_B})
    assert resp.status_code == 403
