"""The fake tablets of the tests, in one module. There are two kinds, and only two:

* ``SimDevice``: a raw-HTTP device (no tablet code): an in-memory store, an outbox, push and
  pull, as ../shared/docs/sync-protocol.md describes a careful client. ``Tablet`` is the same
  device with a login and one-change pushes, for tests that script a few edits by hand.
* ``StoreDevice``: the real tablet (``kivy_client`` ``Store``, ``Session`` and ``SyncClient``)
  over an instrumented transport (``Wire``) that records requests and injects failures
  (``tests/client/conftest.py`` makes them: the ``make_device`` fixture).

``SimDevice`` follows the protocol as a careful client would:

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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from kivy_client.session import Session
from kivy_client.store import Store
from kivy_client.sync import SyncClient, SyncReport
from sync_protocol.hlc import HlcClock
from tests.conftest import PASSWORD, SYNC_HEADERS

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

    def send(self, entity: str, record_id: Any, fields: dict[str, Any],
             base_version: int | None, op: str = "upsert") -> dict[str, Any]:
        """One change with the given base version, pushed at once (nothing else pending);
        returns its result."""
        assert not self.outbox, "send() pushes one change: the outbox must be empty"
        self._append(entity, str(record_id), op, base_version, dict(fields))
        change_id = self.outbox[0].change["change_id"]
        self.push()
        return self.results[change_id]

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


# --- a raw-HTTP device with a login, for hand-scripted tests -------------------------------------


def login_headers(http: Any, username: str, device_id: str,
                  password: str = PASSWORD) -> dict[str, str]:
    """Sign ``username`` in on ``device_id``: the bearer token and the sync headers."""
    resp = http.post("/api/v1/auth/token", data={
        "username": username, "password": password, "device_id": device_id})
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['access_token']}", **SYNC_HEADERS}


class Tablet:
    """A ``SimDevice`` signed in as ``username``: ``push`` sends one change at a given base
    version and returns its result; ``records`` maps a record id to its pulled fields (and
    ``_version``)."""

    def __init__(self, http: Any, username: str, device_id: str) -> None:
        self.http, self.username, self.device_id = http, username, device_id
        self.device = SimDevice(http, {}, device_id)

    def login(self) -> Tablet:
        self.device.headers = login_headers(self.http, self.username, self.device_id)
        return self

    def push(self, entity: str, record_id: Any, fields: dict[str, Any],
             base_version: int | None) -> dict[str, Any]:
        return self.device.send(entity, record_id, fields, base_version)

    def pull(self) -> None:
        self.device.pull()

    @property
    def records(self) -> dict[str, dict[str, Any]]:
        return {rid: {**rec.fields, "_version": rec.version}
                for (_, rid), rec in self.device.records.items()}


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


# --- the real tablet ------------------------------------------------------------------------------


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
class StoreDevice:
    """One real tablet: its store file, session and sync client over an instrumented transport."""

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
