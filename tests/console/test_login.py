"""Console login: only office roles, CSRF enforced, logout clears the session."""

from __future__ import annotations

from tests.console.conftest import console_login, csrf_of


def test_login_requires_csrf_and_office_role(client, world):
    assert client.get("/console/conflicts", follow_redirects=False).status_code == 303
    page = client.get("/console/login")
    assert "管理端登录" in page.text
    bad = client.post("/console/login", data={"username": "clerk_a", "password": "x",
                                              "csrf_token": "forged"})
    assert bad.status_code == 403 and "请刷新页面" in bad.text
    wrong = client.post("/console/login", data={"username": "clerk_a", "password": "nope",
                                                "csrf_token": csrf_of(page.text)})
    assert wrong.status_code == 401 and "用户名或密码错误" in wrong.text
    cadre = client.post("/console/login", data={"username": "cadre_a", "password": "test-Passw0rd",
                                                "csrf_token": csrf_of(page.text)})
    assert cadre.status_code == 403 and "平板端" in cadre.text
    assert "ruhu_token" not in client.cookies


def test_login_and_logout(client, world):
    token = console_login(client, "clerk_a")
    assert client.cookies.get("ruhu_token")
    home = client.get("/console/conflicts")
    assert home.status_code == 200 and "张专干" in home.text
    out = client.post("/console/logout", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/console/conflicts", follow_redirects=False).status_code == 303


def test_admin_pages_refused_for_clerk(client, world):
    console_login(client, "clerk_a")
    resp = client.get("/console/users")
    assert resp.status_code == 403 and "县级管理员" in resp.text
