"""Security tests: the real app on real Postgres (with the console's scoped world: two townships,
a clerk each, an admin), with login throttling limits small enough to
reach quickly (the counters themselves are real rows; "time passing" is done by moving a lock's
end into the past, except in the one test that waits for a real one-second lock-out)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from server.settings import Settings
from tests.conftest import PASSWORD, make_settings
from tests.console.conftest import world  # noqa: F401

ADDRESS_LIMIT = 10
ACCOUNT_LIMIT = 15


@pytest.fixture
def settings() -> Settings:
    return make_settings(login_max_failures=5, login_address_max_failures=ADDRESS_LIMIT,
                         login_account_max_failures=ACCOUNT_LIMIT, login_lockout_seconds=30,
                         login_lockout_max_seconds=900)


@pytest.fixture
def client_at(app) -> Iterator[Callable[[str], TestClient]]:
    """TestClients that connect from a given client address."""
    clients: list[TestClient] = []

    def make(address: str) -> TestClient:
        c = TestClient(app, client=(address, 50000))
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


def api_login(client: TestClient, username: str, password: str = PASSWORD,
              device_id: str = "tab-1") -> Any:
    return client.post("/api/v1/auth/token", data={"username": username, "password": password,
                                                   "device_id": device_id})


def expire_locks(db: Engine) -> None:
    """Let every current lock-out run out (as if its time had passed)."""
    with db.begin() as conn:
        conn.execute(sa.text("UPDATE login_throttle SET locked_until = now() - interval '1 second'"
                             " WHERE locked_until IS NOT NULL"))
