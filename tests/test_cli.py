"""The ``ruhu`` command: create-user (password never an argument), demo, client, serve with
several workers."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select
from typer.testing import CliRunner

from ruhu.cli import app
from server.db.engine import make_engine
from server.db.tables import Household, User
from server.security import hash_password, verify_password
from server.settings import get_settings
from tests.conftest import PASSWORD

runner = CliRunner()


def _out(result) -> str:
    text = result.output or ""
    try:
        text += result.stderr or ""
    except ValueError:  # stderr not captured separately
        pass
    return text


@pytest.fixture(scope="module")
def cli_db(fresh_database) -> str:
    return fresh_database("ruhu_cli")


@pytest.fixture
def cli_env(cli_db, monkeypatch):
    """Point the CLI at the test database through DATABASE_URL, as an operator would."""
    monkeypatch.setenv("DATABASE_URL", cli_db)
    get_settings.cache_clear()
    yield cli_db
    monkeypatch.undo()
    get_settings.cache_clear()


def _user(url: str, username: str) -> User | None:
    engine = make_engine(url, 1)
    try:
        with Session(engine) as session:
            return session.exec(select(User).where(User.username == username)).first()
    finally:
        engine.dispose()


def test_create_user_reads_password_from_stdin(cli_env, caplog):
    secret = "Cadre-Pass-2026"
    result = runner.invoke(app, ["create-user", "wang_cadre", "--role", "village_cadre",
                                 "--name", "王村干", "--scope", "411702105201",
                                 "--password-stdin"], input=secret + "\n")
    assert result.exit_code == 0, _out(result)
    assert "已创建用户 wang_cadre" in _out(result)
    assert secret not in _out(result) and secret not in caplog.text
    user = _user(cli_env, "wang_cadre")
    assert user is not None and user.role == "village_cadre"
    assert user.scopes == ["411702105201"] and user.name == "王村干"
    assert secret not in user.password_hash and verify_password(user.password_hash, secret)

    again = runner.invoke(app, ["create-user", "wang_cadre", "--role", "village_cadre",
                                "--name", "王村干", "--scope", "411702105201",
                                "--password-stdin"], input=secret + "\n")
    assert again.exit_code == 2 and "用户名已存在" in _out(again)
    engine = make_engine(cli_env, 1)
    try:
        with engine.connect() as conn:
            detail = conn.execute(sa.text(
                "SELECT detail FROM audit_log WHERE action = 'user_create'"
                " AND detail->>'username' = 'wang_cadre'")).scalar_one()
    finally:
        engine.dispose()
    assert detail["via"] == "cli"  # the console's audit action, not a name of its own


@pytest.mark.parametrize(("username", "created"), [("ab", False), ("li.clerk", True),
                                                    ("wang cadre", False)])
def test_usernames_follow_the_consoles_rule(cli_env, username, created):
    result = runner.invoke(app, ["create-user", username, "--role", "township_clerk",
                                 "--name", "李专干", "--scope", "411702105",
                                 "--password-stdin"], input="Clerk-Pass-1\n")
    assert (result.exit_code == 0) is created, _out(result)
    assert (_user(cli_env, username) is not None) is created
    if not created:
        assert "用户名须为3到64位字母、数字、下划线、点或减号" in _out(result)


def test_create_user_prompts_twice_without_stdin(cli_env):
    result = runner.invoke(app, ["create-user", "li_clerk", "--role", "township_clerk",
                                 "--name", "李专干", "--scope", "411702105"],
                           input="Clerk-Pass-1\nClerk-Pass-1\n")
    assert result.exit_code == 0, _out(result)
    assert verify_password(_user(cli_env, "li_clerk").password_hash, "Clerk-Pass-1")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--role", "mayor", "--scope", "411702"], "角色不正确"),
        (["--role", "village_cadre", "--scope", "411702105"], "管辖范围与角色不符"),
        (["--role", "county_admin", "--scope", "41170"], "管辖范围与角色不符"),
    ],
)
def test_create_user_rejects_bad_role_or_scope(cli_env, args, expected):
    result = runner.invoke(app, ["create-user", "bad_user", "--name", "某某", *args,
                                 "--password-stdin"], input="Long-enough-1\n")
    assert result.exit_code == 2
    assert expected in _out(result)
    assert _user(cli_env, "bad_user") is None


def test_password_is_never_an_argument_and_must_be_long_enough(cli_env):
    result = runner.invoke(app, ["create-user", "x_user", "--role", "county_admin", "--name", "某",
                                 "--scope", "411702", "--password", "Secret-123"])
    assert result.exit_code == 2  # no such option
    short = runner.invoke(app, ["create-user", "x_user", "--role", "county_admin", "--name", "某",
                                "--scope", "411702", "--password-stdin"], input="short\n")
    assert short.exit_code == 2 and "至少需要 8 个字符" in _out(short)
    assert _user(cli_env, "x_user") is None


def test_demo_command_seeds_once_and_matches_the_demo_database(cli_env, demo_engine):
    first = runner.invoke(app, ["demo", "--demo-password", "Demo-Pass-2026"])
    assert first.exit_code == 0, _out(first)
    assert "demo_cadre" in _out(first) and "Demo-Pass-2026" in _out(first)
    second = runner.invoke(app, ["demo", "--demo-password", "other"])
    assert second.exit_code == 0 and "演示数据已存在" in _out(second)

    def households(engine) -> list[tuple]:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(
                sa.select(Household.id, Household.head_name, Household.head_id_number,
                          Household.causes, Household.field_versions)
                .order_by(Household.id)).all()]

    engine = make_engine(cli_env, 1)
    try:
        assert households(engine) == households(demo_engine)  # same data, seeded twice
        assert verify_password(_user(cli_env, "demo_admin").password_hash, "Demo-Pass-2026")
    finally:
        engine.dispose()


def test_client_command_starts_the_tablet_app(monkeypatch):
    calls = []
    fake = types.ModuleType("kivy_client.ui.app")
    fake.run = lambda server_url, directory=None: calls.append(  # type: ignore[attr-defined]
        (server_url, directory))
    monkeypatch.setitem(sys.modules, "kivy_client.ui.app", fake)
    monkeypatch.delenv("RUHU_CLIENT_DIR", raising=False)
    result = runner.invoke(app, ["client", "--server", "http://10.0.0.5:8000"])
    assert result.exit_code == 0, _out(result)
    assert calls == [("http://10.0.0.5:8000", None)]
    result = runner.invoke(app, ["client", "--data-dir", "/tmp/tablet-2"])
    assert result.exit_code == 0, _out(result)
    assert calls[-1] == ("http://127.0.0.1:8000", Path("/tmp/tablet-2"))


def test_client_help_is_chinese_and_names_the_data_directory():
    result = runner.invoke(app, ["client", "--help"], env={"COLUMNS": "160"})
    text = _out(result)
    assert result.exit_code == 0, text
    assert "--data-dir" in text and "本机数据目录" in text and "RUHU_CLIENT_DIR" in text
    assert "用法" in text and "选项" in text and "显示本帮助并退出" in text
    assert 'pip install -e ".[client]"' in text
    for english in ("Usage:", "Options", "Show this message", "[default:"):
        assert english not in text


def test_client_command_explains_missing_dependencies(monkeypatch):
    monkeypatch.setitem(sys.modules, "kivy_client.ui.app", None)  # import fails
    result = runner.invoke(app, ["client"])
    assert result.exit_code == 2
    assert 'pip install -e ".[client]"' in _out(result)


def test_access_log_drops_query_strings():
    import logging

    from server.app import drop_query_strings

    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                               '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5000", "GET",
                                "/api/v1/households?q=412801195010190030", "1.1", 200), None)
    assert drop_query_strings(record)
    assert "4128011950" not in record.getMessage()
    assert "/api/v1/households" in record.getMessage()


def test_serve_with_two_worker_processes(cli_db):
    """``ruhu serve --workers 2``: both processes answer from the same database, tokens signed by
    one are accepted by the other, and neither logs query strings."""
    import os
    import signal
    import subprocess

    import httpx

    from tests.live import free_port, wait_healthy

    port = free_port()
    env = {**os.environ, "DATABASE_URL": cli_db, "RUHU_ENVIRONMENT": "test"}
    from server.db import migrate

    migrate.upgrade(cli_db)
    engine = make_engine(cli_db, 1)
    with Session(engine) as session:
        session.add(User(username="workers_cadre", name="村干", role="village_cadre",
                         scopes=["411702105201"], password_hash=hash_password(PASSWORD)))
        session.commit()
    engine.dispose()
    proc = subprocess.Popen([sys.executable, "-c", "from server.cli import app; app()", "serve",
                             "--workers", "2", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(proc, port)
        token = httpx.post(f"{base}/api/v1/auth/token", timeout=10, data={
            "username": "workers_cadre", "password": PASSWORD, "device_id": "tab-w"}
        ).json()["access_token"]
        codes = {httpx.get(f"{base}/api/v1/households", params={"q": "412801195010190030"},
                           headers={"Authorization": f"Bearer {token}"}, timeout=5).status_code
                 for _ in range(8)}
        assert codes == {200}
    finally:
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=30)
    assert output.count("Started server process") >= 2, output
    assert "GET /api/v1/households HTTP" in output and "4128011950" not in output
