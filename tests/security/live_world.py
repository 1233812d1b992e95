"""A live server (uvicorn on a thread, real Postgres) with two townships of one county, their
staff and a household of township B full of personal data — the target of the leak tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session

from server.db.tables import Region, User
from server.security import hash_password
from tests.conftest import (
    COUNTY,
    PASSWORD,
    SYNC_HEADERS,
    TOWNSHIP_A,
    TOWNSHIP_B,
    VILLAGE_A1,
    VILLAGE_A2,
    VILLAGE_B1,
)
from tests.console.conftest import REGIONS, console_login
from tests.live import serve

USERS = [
    ("cadre_a", "village_cadre", [VILLAGE_A1], "黄庄村干"),
    ("cadre_a2", "village_cadre", [VILLAGE_A1], "黄庄村书记"),
    ("cadre_a3", "village_cadre", [VILLAGE_A2], "李湾村干"),
    ("cadre_b", "village_cadre", [VILLAGE_B1], "王岗村干"),
    ("clerk_a", "township_clerk", [TOWNSHIP_A], "老河乡专干"),
    ("clerk_b", "township_clerk", [TOWNSHIP_B], "蚁蜂镇专干"),
    ("admin", "county_admin", [COUNTY], "县管理员"),
]


def seed(engine: Engine) -> None:
    """Regions (the township names the masked view shows) and one user per role and scope."""
    password_hash = hash_password(PASSWORD)
    with Session(engine) as session:
        for code, name, level, parent in REGIONS:
            session.add(Region(code=code, name=name, level=level, parent_code=parent))
        for username, role, scopes, name in USERS:
            session.add(User(username=username, name=name, role=role, scopes=scopes,
                             password_hash=password_hash))
        session.commit()


def live_server(app: Any) -> Iterator[str]:
    """``app`` served (``tests.live.serve``); the tests here use the ``live_url`` fixture."""
    with serve(app) as url:
        yield url


def api_login(base_url: str, username: str, device_id: str) -> httpx.Client:
    """An API client with a bearer token for ``username`` on ``device_id``."""
    client = httpx.Client(base_url=base_url, timeout=60)
    resp = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD,
                                                    "device_id": device_id})
    assert resp.status_code == 200, resp.text
    client.headers.update({"Authorization": f"Bearer {resp.json()['access_token']}",
                           **SYNC_HEADERS})
    return client


def browser_login(base_url: str, username: str) -> tuple[httpx.Client, str]:
    """A console session (cookies) for ``username``; returns it and its CSRF token."""
    client = httpx.Client(base_url=base_url, timeout=60)
    return client, console_login(client, username)  # type: ignore[arg-type]


def push(client: httpx.Client, device: str, changes: list[dict[str, Any]]) -> httpx.Response:
    resp = client.post("/api/v1/sync/push", json={"protocol": 1, "device_id": device,
                                                  "changes": changes})
    assert resp.status_code == 200, resp.text
    return resp


def pull_everything(client: httpx.Client, cursor: str | None = None) -> list[dict[str, Any]]:
    """Every pull page after ``cursor`` (none: an initial download), as received."""
    pages: list[dict[str, Any]] = []
    while True:
        resp = client.get("/api/v1/sync/pull", params={"cursor": cursor} if cursor else {})
        assert resp.status_code == 200, resp.text
        pages.append(resp.json())
        cursor = pages[-1]["next_cursor"]
        if not pages[-1]["has_more"]:
            return pages


def absent(text: str, secrets: dict[str, str]) -> None:
    """None of ``secrets`` (label → value) occurs in ``text``."""
    found = [label for label, value in secrets.items() if value and value in text]
    assert not found, f"leaked: {found}"


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
