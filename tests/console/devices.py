"""Simulated tablets for console tests: push changes and pull like the real client does."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.conftest import PASSWORD, SYNC_HEADERS


@dataclass
class Tablet:
    """A device with its own token, sequence numbers and a tiny local copy of pulled records."""

    http: Any  # httpx.Client or starlette TestClient
    username: str
    device_id: str
    headers: dict[str, str] = field(default_factory=dict)
    seq: int = 0
    counter: int = 0
    cursor: str | None = None
    records: dict[str, dict[str, Any]] = field(default_factory=dict)

    def login(self) -> Tablet:
        resp = self.http.post("/api/v1/auth/token", data={
            "username": self.username, "password": PASSWORD, "device_id": self.device_id})
        assert resp.status_code == 200, resp.text
        self.headers = {"Authorization": f"Bearer {resp.json()['access_token']}", **SYNC_HEADERS}
        return self

    def hlc(self) -> str:
        self.counter += 1
        return f"{int(time.time() * 1000):013d}-{self.counter % 10000:04d}-{self.device_id}"

    def push(self, entity: str, record_id: Any, fields: dict[str, Any],
             base_version: int | None) -> dict[str, Any]:
        self.seq += 1
        change = {"change_id": str(uuid.uuid4()), "seq": self.seq, "entity": entity,
                  "record_id": str(record_id), "op": "upsert", "base_version": base_version,
                  "fields": fields, "hlc": self.hlc()}
        resp = self.http.post("/api/v1/sync/push", headers=self.headers,
                              json={"protocol": 1, "device_id": self.device_id,
                                    "changes": [change]})
        assert resp.status_code == 200, resp.text
        return resp.json()["results"][0]

    def pull(self) -> None:
        while True:
            params = {"cursor": self.cursor} if self.cursor else {}
            resp = self.http.get("/api/v1/sync/pull", headers=self.headers, params=params)
            assert resp.status_code == 200, resp.text
            page = resp.json()
            for change in page["changes"]:
                self.records[change["record_id"]] = {**change["fields"],
                                                     "_version": change["version"]}
            self.cursor = page["next_cursor"]
            if not page["has_more"]:
                return


def field_conflict(http: httpx.Client | Any, village: str, head: str = "测试户",
                   first: str = "13911112222", second: str = "13733334444",
                   tablets: tuple[Tablet, Tablet] | None = None) -> tuple[str, Tablet, Tablet]:
    """Device 1 creates a household; both devices pull, then change its phone differently."""
    t1, t2 = tablets or (Tablet(http, "cadre_a", "tab-one").login(),
                         Tablet(http, "cadre_a", "tab-two").login())
    hid = str(uuid.uuid4())
    created = t1.push("household", hid, {"village_code": village, "head_name": head,
                                         "phone": "13800001111"}, None)
    assert created["status"] == "applied", created
    t1.pull()
    t2.pull()
    version = t1.records[hid]["_version"]
    assert t1.push("household", hid, {"phone": first}, version)["status"] in ("applied",
                                                                                "merged")
    result = t2.push("household", hid, {"phone": second}, version)
    assert result["status"] == "conflict", result
    return hid, t1, t2
