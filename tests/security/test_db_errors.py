"""What the database refuses is the caller's fault: 422 with a code, never a 500.

Every GET route of the API and the console (found generically in ``app.routes``) is called with
a NUL — and other hostile values — in each of its query and path parameters, as a county admin
whose scope covers everything; then the two nets (API handler, console error page) are tested
directly with real Postgres errors.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from fastapi import APIRouter
from fastapi.routing import APIRoute

from server.api.deps import SessionDep
from server.console.web import ConsoleRoute
from server.sync.sql import raw
from tests.conftest import SYNC_HEADERS
from tests.console.conftest import console_login

HOSTILE = ["%00", "a%00b", "%01", "%1B%5B31m", "%7F", "%ED%A0%80", "9" * 40, "-1", "x" * 3000,
           "%E5%BC%A0%0A"]


def _query_names(dependant: Any) -> set[str]:
    """Every query parameter of a route, its dependencies' included."""
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def _get_routes(app: Any) -> list[tuple[str, Any]]:
    """(full path, dependant) of every GET route, included routers' too."""
    try:  # FastAPI >= 0.16x includes routers lazily; this walks them
        from fastapi.routing import iter_route_contexts
        contexts: list[Any] = list(iter_route_contexts(app.routes))
    except ImportError:  # pragma: no cover - older FastAPI: included routes are flat
        contexts = list(app.routes)
    out = []
    for ctx in contexts:
        route = getattr(ctx, "original_route", ctx)
        if isinstance(route, APIRoute) and "GET" in (ctx.methods or ()):
            out.append((ctx.path, route.dependant))
    return out


def _samples(world: dict[str, Any]) -> dict[str, str]:
    return {"conflict_id": str(world["conflict_a1"].id), "household_id": str(world["a1"].id),
            "sha256": "0" * 64, "kind": "roster", "name": "console.css",
            "user_id": str(world["cadre"].id), "device_pk": "1"}


PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


def _path(path: str, samples: dict[str, str], override: dict[str, str] | None = None) -> str:
    values = {**samples, **(override or {})}
    return PARAM.sub(lambda m: values.get(m.group(1), "x"), path)


def test_all_get_routes_are_exercised(app):
    paths = {path for path, _ in _get_routes(app)}
    assert {"/api/v1/conflicts", "/api/v1/households", "/api/v1/sync/pull",
            "/console/households", "/console/quality", "/console/users",
            "/console/conflicts", "/console/exports/{kind}.xlsx"} <= paths


def test_hostile_query_params_never_500(client, app, world):
    console_login(client, "admin")  # the cookie also authenticates the API
    samples = _samples(world)
    tried = 0
    for path, dependant in _get_routes(app):
        names = _query_names(dependant)
        base = _path(path, samples)
        for name in sorted(names):
            for value in HOSTILE:
                resp = client.get(f"{base}?{name}={value}", headers=SYNC_HEADERS,
                                  follow_redirects=False)
                tried += 1
                assert resp.status_code < 500, (path, name, value, resp.text[:300])
                if "%00" in value or value in ("%01", "%1B%5B31m", "%7F", "%E5%BC%A0%0A"):
                    assert resp.status_code == 422, (path, name, value)
                    assert "validation.control_char" in resp.text
        # an unknown parameter with a NUL is refused the same way
        resp = client.get(f"{base}?zz=%00", headers=SYNC_HEADERS, follow_redirects=False)
        assert resp.status_code == 422, path
    assert tried > 100


def test_hostile_path_params_never_500(client, app, world):
    console_login(client, "admin")
    samples = _samples(world)
    tried = 0
    for path, _ in _get_routes(app):
        for name in PARAM.findall(path):
            for value in ("%00", "a%00b", "%ED%A0%80", "9" * 40, quote("张三\n")):
                resp = client.get(_path(path, samples, {name: value}), headers=SYNC_HEADERS,
                                  follow_redirects=False)
                tried += 1
                assert resp.status_code < 500, (path, name, value, resp.text[:300])
                if "%00" in value:
                    assert resp.status_code == 422, (path, value)
    assert tried > 30


def test_the_issue_examples(client, world):
    console_login(client, "clerk_a")
    resp = client.get("/api/v1/conflicts?kind=%00")
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "validation.control_char"
    assert resp.json()["error"]["field"] == "kind"
    for url in ("/console/households?q=%00", "/console/quality?village=%00",
                "/console/conflicts?village=a%00"):
        resp = client.get(url)
        assert resp.status_code == 422 and "text/html" in resp.headers["content-type"], url
        assert "控制字符" in resp.text and "validation.control_char" in resp.text


# --- the nets themselves, with errors raised by the real database --------------------------


@pytest.fixture
def broken_app(app):
    """The app plus routes that hand Postgres values it refuses (after the input checks)."""

    def nul(session: SessionDep) -> dict[str, Any]:
        session.exec(sa.text("SELECT CAST(:v AS text)").bindparams(v="a\x00b"))  # type: ignore[call-overload]
        return {}

    def nul_raw(session: SessionDep) -> dict[str, Any]:
        with raw(session).cursor() as cur:
            cur.execute("SELECT %s::text", ["a\x00b"])
        return {}

    def bigint(session: SessionDep) -> dict[str, Any]:
        session.exec(sa.text("SELECT 1 OFFSET :n").bindparams(n=10**20))  # type: ignore[call-overload]
        return {}

    def surrogate(session: SessionDep) -> dict[str, Any]:
        session.exec(sa.text("SELECT CAST(:v AS text)").bindparams(v="\ud800"))  # type: ignore[call-overload]
        return {}

    console = APIRouter(route_class=ConsoleRoute)
    for name, fn in (("nul", nul), ("nul-raw", nul_raw), ("bigint", bigint),
                     ("surrogate", surrogate)):
        app.add_api_route(f"/api/v1/test-db/{name}", fn)
        console.add_api_route(f"/console/test-db/{name}", fn)
    app.include_router(console)
    return app


@pytest.mark.parametrize("name", ["nul", "nul-raw", "bigint", "surrogate"])
def test_data_errors_are_422_in_the_api_and_the_console(broken_app, db, name, caplog):
    from fastapi.testclient import TestClient

    with TestClient(broken_app, raise_server_exceptions=False) as c:
        resp = c.get(f"/api/v1/test-db/{name}")
        assert resp.status_code == 422
        assert resp.json()["error"]["code"] == "request.data_invalid"
        assert "无法保存" in resp.json()["error"]["message"]
        page = c.get(f"/console/test-db/{name}")
        assert page.status_code == 422 and "text/html" in page.headers["content-type"]
        assert "request.data_invalid" in page.text and "无法保存" in page.text
    # logged without the value (it may be personal data)
    assert "a\x00b" not in caplog.text and "\\x00" not in caplog.text


def test_a_data_error_rolls_the_request_back(broken_app, db):
    from fastapi.testclient import TestClient

    def write_then_fail(session: SessionDep) -> dict[str, Any]:
        session.exec(sa.text(  # type: ignore[call-overload]
            "INSERT INTO region (code, name, level) VALUES ('419999000000', '测试', 'county')"))
        session.exec(sa.text("SELECT CAST(:v AS text)").bindparams(v="\x00"))  # type: ignore[call-overload]
        return {}

    broken_app.add_api_route("/api/v1/test-db/write", write_then_fail)
    with TestClient(broken_app, raise_server_exceptions=False) as c:
        assert c.get("/api/v1/test-db/write").status_code == 422
    with db.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM region WHERE code = '419999000000'")
                            ).scalar() == 0
