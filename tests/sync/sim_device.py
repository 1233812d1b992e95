"""A minimal simulated tablet for sync tests: an in-memory store, an outbox, push and pull.

It follows ../shared/docs/sync-protocol.md as a careful client would:

* every local change gets a ``change_id`` (uuid4), the next ``seq`` and an ``hlc`` from
  ``HlcClock``; ``base_version`` is the server version of the record as the device last *saw* it
  (from a pull; ``None`` for a create; ``1`` for a record it created but has not pulled back);
* changes not yet sent to the server are coalesced per record; once a change has been sent (even
  if the response never came back) it is frozen and retried unchanged, with the same id;
* a pull page is applied atomically and the cursor advances only after the page is stored.

It talks to any ``httpx.Client`` (FastAPI's ``TestClient`` is one), so the same device drives the
in-process app or a live server. Failures the tests inject: ``fail=True`` (the request never
reached the server) and ``lose_response=True`` (the server processed it, the device never heard).
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from sync_protocol.hlc import HlcClock

PUSH_PATH = "/api/v1/sync/push"
PULL_PATH = "/api/v1/sync/pull"


class SyncFailure(AssertionError):
    """The server answered something the protocol does not allow for a well-formed request."""


@dataclass
class LocalRecord:
    """The device's copy of a record as the server last sent it."""

    version: int
    deleted: bool
    fields: dict[str, Any]


@dataclass
class OutboxEntry:
    change: dict[str, Any]
    sent: bool = False


@dataclass
class Exchange:
    """One push request the device made and, if it arrived, the server's answer."""

    body: dict[str, Any]
    response: dict[str, Any] | None


@dataclass
class SimDevice:
    http: httpx.Client
    headers: dict[str, str]
    device_id: str
    batch_size: int = 500
    pull_limit: int | None = None
    clock: HlcClock = field(init=False)
    records: dict[tuple[str, str], LocalRecord] = field(default_factory=dict)
    outbox: list[OutboxEntry] = field(default_factory=list)
    cursor: str | None = None
    seq: int = 0
    conflicts: dict[str, dict[str, Any]] = field(default_factory=dict)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    sent: dict[str, dict[str, Any]] = field(default_factory=dict)
    exchanges: list[Exchange] = field(default_factory=list)
    created: set[tuple[str, str]] = field(default_factory=set)
    resets: int = 0

    def __post_init__(self) -> None:
        self.clock = HlcClock(self.device_id)

    # --- local edits ------------------------------------------------------------------------

    def create(self, entity: str, fields: dict[str, Any], record_id: str | None = None) -> str:
        record_id = record_id or str(uuid.uuid4())
        self.created.add((entity, record_id))
        self._append(entity, record_id, "upsert", None, dict(fields))
        return record_id

    def update(self, entity: str, record_id: str, fields: dict[str, Any]) -> None:
        """Change some fields; merged into a not-yet-sent change of the same record if any."""
        for entry in reversed(self.outbox):
            change = entry.change
            if (change["entity"], change["record_id"]) != (entity, record_id):
                continue
            if not entry.sent and change["op"] == "upsert":
                change["fields"].update(fields)
                change["hlc"] = self.clock.tick()
                return
            break
        self._append(entity, record_id, "upsert", self.base_version(entity, record_id), fields)

    def delete(self, entity: str, record_id: str) -> None:
        self._append(entity, record_id, "delete", self.base_version(entity, record_id), {})

    def base_version(self, entity: str, record_id: str) -> int | None:
        local = self.records.get((entity, record_id))
        if local is not None:
            return local.version
        if (entity, record_id) in self.created:
            return 1
        return None

    def _append(self, entity: str, record_id: str, op: str, base: int | None,
                fields: dict[str, Any]) -> None:
        self.seq += 1
        self.outbox.append(OutboxEntry({
            "change_id": str(uuid.uuid4()), "seq": self.seq, "entity": entity,
            "record_id": record_id, "op": op, "base_version": base, "fields": dict(fields),
            "hlc": self.clock.tick(),
        }))

    def view(self, entity: str, record_id: str) -> dict[str, Any] | None:
        """What the user sees: the server copy with the device's own pending changes on top."""
        local = self.records.get((entity, record_id))
        fields = dict(local.fields) if local else None
        deleted = bool(local and local.deleted)
        for entry in self.outbox:
            change = entry.change
            if (change["entity"], change["record_id"]) != (entity, record_id):
                continue
            if change["op"] == "delete":
                deleted = True
            else:
                fields = {**(fields or {}), **change["fields"]}
        if fields is None or deleted:
            return None
        return fields

    def live_ids(self, entity: str) -> list[str]:
        """Records of ``entity`` the user can see (pulled or created here, not deleted)."""
        ids = {rid for (ent, rid), rec in self.records.items() if ent == entity}
        ids |= {rid for (ent, rid) in self.created if ent == entity}
        return sorted(rid for rid in ids if self.view(entity, rid) is not None)

    # --- push -------------------------------------------------------------------------------

    def push(self, *, fail: bool = False, lose_response: bool = False,
             limit: int | None = None) -> list[dict[str, Any]] | None:
        """Send the first ``limit`` outbox changes in one request; None when no answer came."""
        batch = self.outbox[: min(limit or self.batch_size, self.batch_size)]
        if not batch:
            return []
        for entry in batch:
            entry.sent = True
            self.sent.setdefault(entry.change["change_id"], copy.deepcopy(entry.change))
        body = {"protocol": 1, "device_id": self.device_id,
                "changes": [copy.deepcopy(e.change) for e in batch]}
        if fail:
            return None
        resp = self.http.post(PUSH_PATH, json=body, headers=self.headers)
        if resp.status_code != 200:
            raise SyncFailure(f"push answered {resp.status_code}: {resp.text[:2000]}")
        data = resp.json()
        self.exchanges.append(Exchange(body, None if lose_response else data))
        if lose_response:
            return None
        results = data["results"]
        if len(results) != len(batch):
            raise SyncFailure(f"{len(batch)} changes pushed, {len(results)} results")
        done = set()
        for entry, result in zip(batch, results, strict=True):
            if result["change_id"] != entry.change["change_id"]:
                raise SyncFailure(f"results out of order: {result} for {entry.change}")
            self.results.setdefault(result["change_id"], result)
            done.add(result["change_id"])
        self.outbox = [e for e in self.outbox if e.change["change_id"] not in done]
        return results

    def push_all(self) -> None:
        while self.outbox:
            self.push()

    # --- pull -------------------------------------------------------------------------------

    def pull_page(self, *, lose_response: bool = False) -> dict[str, Any] | None:
        """Fetch and apply one page; returns it (None when the answer was lost)."""
        params: dict[str, Any] = {}
        if self.cursor is not None:
            params["cursor"] = self.cursor
        if self.pull_limit:
            params["limit"] = self.pull_limit
        resp = self.http.get(PULL_PATH, params=params, headers=self.headers)
        if resp.status_code != 200:
            raise SyncFailure(f"pull answered {resp.status_code}: {resp.text[:2000]}")
        page = resp.json()
        if lose_response:
            return None
        self.apply_page(page)
        return page

    def apply_page(self, page: dict[str, Any]) -> None:
        """Store a page as one unit, then advance the cursor."""
        records = {} if page.get("reset") else dict(self.records)
        if page.get("reset"):
            self.resets += 1
        for removed in page.get("removed") or []:
            records.pop((removed["entity"], removed["record_id"]), None)
        for change in page["changes"]:
            key = (change["entity"], change["record_id"])
            records[key] = LocalRecord(change["version"], bool(change["deleted"]),
                                       dict(change["fields"]))
        conflicts = dict(self.conflicts)
        for conflict in page.get("conflicts") or []:
            conflicts[conflict["id"]] = conflict
        self.records, self.conflicts, self.cursor = records, conflicts, page["next_cursor"]

    def pull(self, *, lose_page: int | None = None, max_pages: int = 10_000) -> int:
        """Pull pages until ``has_more`` is false (or page ``lose_page`` is lost); pages applied."""
        for number in range(max_pages):
            page = self.pull_page(lose_response=number == lose_page)
            if page is None:
                return number
            if not page["has_more"]:
                return number + 1
        raise SyncFailure(f"pull still has_more after {max_pages} pages")

    def sync(self) -> None:
        self.push_all()
        self.pull()

    # --- views for assertions ---------------------------------------------------------------

    def snapshot(self, *, live_only: bool = True) -> dict[tuple[str, str], LocalRecord]:
        return {k: v for k, v in self.records.items() if not (live_only and v.deleted)}
