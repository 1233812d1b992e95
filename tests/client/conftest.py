"""Fixtures for tablet tests against the real server (in-process, real Postgres): real tablets
(``tests.devices.StoreDevice``) made by ``make_device``."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from kivy_client.session import Session
from kivy_client.store import Store
from kivy_client.sync import SyncClient
from tests.devices import Killed, StoreDevice, Wire

__all__ = ["Killed", "Wire", "make_device", "snapshot"]


@pytest.fixture
def make_device(client, tmp_path):
    devices: list[StoreDevice] = []

    def make(username: str, device_id: str, *, pull_limit: int = 500,
             login: bool = True) -> StoreDevice:
        wire = Wire(client._transport)
        http = httpx.Client(transport=wire, base_url=str(client.base_url))
        path = tmp_path / f"{device_id}.db"
        store = Store(path, device_id=device_id)
        session = Session(store, client=http)
        sync_client = SyncClient(store, client=http, token=lambda: dev.session.token,
                                 sleep=lambda s: None, pull_limit=pull_limit)
        dev = StoreDevice(path, store, session, sync_client, wire, username)
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
