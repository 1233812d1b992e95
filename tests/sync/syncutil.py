"""Small helpers for the sync endpoint tests (push/pull/conflicts/attachments)."""

from __future__ import annotations

import datetime as dt
import itertools
import time
import uuid
from typing import Any

from sync_protocol.columns import in_rows
from sync_protocol.validation import build_id_number
from tests.conftest import VILLAGE_A1

_seq = itertools.count(1)
_id_seq = itertools.count(1)


def hlc(device: str = "tab-test", offset_ms: int = 0, counter: int | None = None) -> str:
    ms = int(time.time() * 1000) + offset_ms
    return f"{ms:013d}-{(next(_seq) if counter is None else counter) % 10000:04d}-{device}"


def id_number() -> str:
    return build_id_number("411702", dt.date(1970, 1, 1) + dt.timedelta(days=next(_id_seq)), 1)


def change(entity: str, record_id: Any, fields: dict[str, Any] | None = None, *,
           base: int | None = None, op: str = "upsert", device: str = "tab-test",
           change_id: str | None = None, hlc_text: str | None = None) -> dict[str, Any]:
    return {"change_id": change_id or str(uuid.uuid4()), "seq": next(_seq), "entity": entity,
            "record_id": str(record_id), "op": op, "base_version": base,
            "fields": fields or {}, "hlc": hlc_text or hlc(device)}


def new_household(village: str = VILLAGE_A1, **fields: Any) -> tuple[str, dict[str, Any]]:
    rid = str(uuid.uuid4())
    return rid, change("household", rid, {"village_code": village, "head_name": "张三", **fields})


def two_cadres(make_user: Any, login: Any) -> tuple[dict[str, str], dict[str, str]]:
    """Two cadres of village A1 signed in on their tablets (``tab-1``, ``tab-2``): headers."""
    make_user("cadre1", "village_cadre", [VILLAGE_A1])
    make_user("cadre2", "village_cadre", [VILLAGE_A1])
    return login("cadre1", "tab-1"), login("cadre2", "tab-2")


def push(client: Any, headers: dict[str, str], changes: list[dict[str, Any]],
         device: str = "tab-test", status: int = 200) -> list[dict[str, Any]]:
    resp = client.post("/api/v1/sync/push", headers=headers,
                       json={"protocol": 1, "device_id": device, "changes": changes})
    assert resp.status_code == status, resp.text
    return resp.json().get("results", [])


def pull_all(client: Any, headers: dict[str, str], cursor: str | None = None,
             limit: int | None = None, form: str | None = None,
             ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
    """Pull until ``has_more`` is false: (records, conflicts, cursor); pages asked for in
    ``form`` (``columns`` pages are read back into rows)."""
    records: list[dict[str, Any]] = []
    conflicts: list[dict[str, Any]] = []
    for _ in range(1000):
        params: dict[str, Any] = {}
        if cursor:
            params["cursor"] = cursor
        if limit:
            params["limit"] = limit
        if form:
            params["form"] = form
        resp = client.get("/api/v1/sync/pull", headers=headers, params=params)
        assert resp.status_code == 200, resp.text
        body = in_rows(resp.json())
        records += body["changes"]
        conflicts += body["conflicts"]
        cursor = body["next_cursor"]
        if not body["has_more"]:
            return records, conflicts, cursor
    raise AssertionError("pull never drained")
