"""A database that is down (crashed, restarting, failing over to the standby) is nobody's fault
in the request: every route answers 503 with ``Retry-After``, which the tablet waits out, never a
500 (docs/standby.md)."""

from __future__ import annotations

import socket
import uuid

from fastapi.testclient import TestClient

from server.app import create_app
from server.security import TokenClaims, create_token
from tests.conftest import SYNC_HEADERS, make_settings


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_every_face_answers_503_with_retry_after_while_the_database_is_down() -> None:
    url = f"postgresql+psycopg://ruhu:x@127.0.0.1:{_closed_port()}/ruhu?connect_timeout=2"
    settings = make_settings(database_url=url, db_pool_timeout=2)
    app = create_app(settings=settings)
    # a well-signed token: the request gets as far as the database (its session row)
    token = create_token(TokenClaims(uuid.uuid4(), "tab-1", 1, uuid.uuid4()),
                         settings.secret_key, 600)
    bearer = {**SYNC_HEADERS, "Authorization": f"Bearer {token}"}
    with TestClient(app, raise_server_exceptions=False) as client:
        answers = {
            "login": client.post("/api/v1/auth/token", data={
                "username": "cadre", "password": "x" * 12, "device_id": "tab-1"}),
            "push": client.post("/api/v1/sync/push", headers=bearer,
                                json={"device_id": "tab-1", "changes": []}),
            "pull": client.get("/api/v1/sync/pull", headers=bearer),
            "read": client.get("/api/v1/households", headers=bearer),
        }
    for name, response in answers.items():
        assert response.status_code == 503, (name, response.status_code, response.text)
        assert int(response.headers["Retry-After"]) >= 1, name
        code = response.json()["error"]["code"]
        expected = "sync.busy" if name in ("push", "pull") else "server.unavailable"
        assert code == expected, (name, code)
        assert "服务器" in response.json()["error"]["message"] or code == "sync.busy"
