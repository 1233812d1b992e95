"""Fixtures for tablet tests against the real server (in-process, real Postgres)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from kivy_client.session import Session
from kivy_client.store import Store
from kivy_client.sync import SyncClient, SyncReport
from tests.conftest import PASSWORD


class Killed(BaseException):
    """The app was killed: nothing in the client catches this."""


class Wire(httpx.BaseTransport):
    """Wraps the TestClient's transport: records requests and injects failures.

    ``faults`` maps a predicate on the request to an action run *after* the server handled it
    ("kill": the response is lost and the app dies) or *instead of* it ("503", "network").
    """

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []
        self.faults: list[tuple[Callable[[httpx.Request], bool], str]] = []

    def fail(self, when: Callable[[httpx.Request], bool], action: str) -> None:
        self.faults.append((when, action))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        for i, (when, action) in enumerate(self.faults):
            if when(request):
                del self.faults[i]
                if action == "503":
                    return httpx.Response(503, json={"error": {"code": "server.unavailable",
                                                               "message": "服务器暂时不可用"}})
                if action == "network":
                    raise httpx.ConnectError("connection reset", request=request)
                resp = self.inner.handle_request(request)
                resp.read()
                raise Killed(action)
        return self.inner.handle_request(request)


@dataclass
class Device:
    """One tablet: its store file, session and sync client over an instrumented transport."""

    path: Path
    store: Store
    session: Session
    sync_client: SyncClient
    wire: Wire
    username: str

    def login(self, password: str = PASSWORD) -> None:
        self.session.login(self.username, password)

    def sync(self, **kwargs: Any) -> SyncReport:
        return self.sync_client.sync(**kwargs)

    def restart(self) -> None:
        """The app is killed and started again: a new Store on the same file."""
        self.store.close()
        device_id = self.store.device_id
        self.store = Store(self.path, device_id=device_id)
        self.session = Session(self.store, client=self.session.http)
        self.session.unlock(self.username, password=PASSWORD)
        self.sync_client = SyncClient(self.store, client=self.sync_client.http,
                                      token=lambda: self.session.token, sleep=lambda s: None,
                                      pull_limit=self.sync_client.pull_limit)


@pytest.fixture
def make_device(client, tmp_path):
    devices: list[Device] = []

    def make(username: str, device_id: str, *, pull_limit: int = 500,
             login: bool = True) -> Device:
        wire = Wire(client._transport)
        http = httpx.Client(transport=wire, base_url=str(client.base_url))
        path = tmp_path / f"{device_id}.db"
        store = Store(path, device_id=device_id)
        session = Session(store, client=http)
        dev = Device(path, store, session, SyncClient(store, client=http,
                                                      token=lambda: dev.session.token,
                                                      sleep=lambda s: None,
                                                      pull_limit=pull_limit),
                     wire, username)
        if login:
            dev.login()
        devices.append(dev)
        return dev

    yield make
    for dev in devices:
        dev.store.close()


def snapshot(store: Store) -> dict[tuple[str, str], tuple[int | None, bool, dict[str, Any]]]:
    """Every record of a store: (entity, id) -> (version, deleted, fields)."""
    rows = store.query("SELECT entity, id, version, deleted, fields FROM records")
    import json

    return {(r["entity"], r["id"]): (r["version"], bool(r["deleted"]), json.loads(r["fields"]))
            for r in rows}
