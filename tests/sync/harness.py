"""Shared set-up and checks for the sync property and concurrency tests.

``World`` holds logged-in simulated devices (two field users in one village, a township clerk)
and can wipe the synced data between hypothesis examples without logging in again (argon2 makes
a login cost ~0.2 s). The ``check_*`` functions are the protocol's end-state invariants, read from
the database itself, not from what the server chose to answer.
"""

from __future__ import annotations

import itertools
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from server.db.tables import SYNCED_TABLES
from server.sync.batch import receipt_result
from sync_protocol.entities import ENTITIES, to_json
from tests.conftest import SYNC_HEADERS, TOWNSHIP_A, VILLAGE_A1, empty_tables
from tests.devices import SimDevice

DATA_TABLES = (*(t.__tablename__ for t in SYNCED_TABLES.values()),
               "change_log", "sync_receipt", "conflict", "scope_exit", "sync_rejection")
_counter = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{next(_counter)}"


def reset_data(engine: Engine) -> None:
    """Empty the synced data and sync bookkeeping; users and devices stay."""
    empty_tables(engine, DATA_TABLES)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE device SET last_seq = NULL"))


def token_headers(client: Any, username: str, password: str, device_id: str) -> dict[str, str]:
    resp = client.post("/api/v1/auth/token", data={"username": username, "password": password,
                                                    "device_id": device_id})
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['access_token']}", **SYNC_HEADERS}


@dataclass
class World:
    """Devices of one test: ``field`` devices in VILLAGE_A1 and a township ``clerk``."""

    client: Any
    engine: Engine
    field_devices: list[SimDevice]
    clerk: SimDevice
    clerk_login: tuple[str, str]
    resolutions: list[Resolution] = field(default_factory=list)

    @property
    def devices(self) -> list[SimDevice]:
        return [*self.field_devices, self.clerk]

    def restart(self) -> None:
        """Fresh data, fresh device stores (sequence numbers keep increasing)."""
        reset_data(self.engine)
        self.resolutions.clear()
        for i, dev in enumerate(self.devices):
            fresh = SimDevice(dev.http, dev.headers, dev.device_id, batch_size=dev.batch_size,
                              pull_limit=dev.pull_limit)
            fresh.seq = dev.seq
            if dev is self.clerk:
                self.clerk = fresh
            else:
                self.field_devices[i] = fresh


def make_world(client: Any, engine: Engine, make_user: Any, password: str, *,
               field_users: int = 2, pull_limit: int | None = None) -> World:
    devices = []
    for i in range(field_users):
        role = "village_cadre" if i % 2 == 0 else "first_secretary"
        name = unique(f"cadre{i}_")
        make_user(name, role, [VILLAGE_A1])
        dev_id = f"tab-{i}-{uuid.uuid4().hex[:6]}"
        devices.append(SimDevice(client, token_headers(client, name, password, dev_id), dev_id,
                                 pull_limit=pull_limit))
    clerk_name = unique("clerk_")
    make_user(clerk_name, "township_clerk", [TOWNSHIP_A])
    clerk_dev = f"clerk-{uuid.uuid4().hex[:6]}"
    clerk = SimDevice(client, token_headers(client, clerk_name, password, clerk_dev), clerk_dev,
                      pull_limit=pull_limit)
    return World(client, engine, devices, clerk, (clerk_name, password))


@dataclass
class Resolution:
    """A clerk's decision as an edit: what it wrote, on what it had seen, at which version."""

    entity: str
    record_id: str
    field: str | None
    value: Any
    base: int
    version: int | None


# --- the database's view ---------------------------------------------------------------------


@dataclass
class ServerState:
    records: dict[tuple[str, str], dict[str, Any]]
    conflicts: list[dict[str, Any]]
    receipts: dict[str, dict[str, Any]]

    def live(self, prefixes: Iterable[str]) -> dict[tuple[str, str], dict[str, Any]]:
        prefixes = tuple(prefixes)
        return {k: r for k, r in self.records.items()
                if not r["deleted"] and r["village_code"].startswith(prefixes)}


def read_server_state(engine: Engine) -> ServerState:
    records: dict[tuple[str, str], dict[str, Any]] = {}
    with Session(engine) as session:
        for entity, table in SYNCED_TABLES.items():
            names = [n for n in ENTITIES[entity].fields if n in table.model_fields]
            for row in session.exec(select(table)).all():
                data = row.model_dump()
                records[(entity, str(row.id))] = {
                    "version": row.version, "deleted": row.deleted,
                    "village_code": row.village_code,
                    "fields": to_json(entity, {n: data[n] for n in names}),
                }
        conn = session.connection()
        conflicts = [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM conflict"))]
        receipts = {str(r.change_id): receipt_result(r.change_id, r.status, r.record_id,
                                                     r.version, r.result).to_wire()
                    for r in conn.execute(sa.text("SELECT * FROM sync_receipt"))}
    for c in conflicts:
        c["record_id"] = str(c["record_id"])
        c["other_record_id"] = c["other_record_id"] and str(c["other_record_id"])
    return ServerState(records, conflicts, receipts)


# --- invariants --------------------------------------------------------------------------------


def _same_fields(device_fields: dict[str, Any], server_fields: dict[str, Any]) -> list[str]:
    """Names of fields whose values differ (only fields both sides carry)."""
    return [n for n in server_fields
            if n in device_fields and _norm(device_fields[n]) != _norm(server_fields[n])]


def _norm(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def check_device_equals_server(dev: SimDevice, state: ServerState, prefixes: Iterable[str]) -> None:
    """The device's live records are exactly the server's live records in its scope."""
    expected = state.live(prefixes)
    got = dev.snapshot()
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    assert not missing, f"{dev.device_id} lacks {missing}"
    assert not extra, f"{dev.device_id} holds records the server has not (live): {extra}"
    for key, rec in got.items():
        server = expected[key]
        assert rec.version == server["version"], (
            f"{dev.device_id} {key}: version {rec.version}, server {server['version']}")
        diff = _same_fields(rec.fields, server["fields"])
        assert not diff, (f"{dev.device_id} {key}: fields {diff} differ: device "
                          f"{ {n: rec.fields[n] for n in diff} } server "
                          f"{ {n: server['fields'][n] for n in diff} }")
    for key, rec in dev.records.items():
        if rec.deleted and key in state.records:
            assert state.records[key]["deleted"], f"{dev.device_id}: {key} deleted, server live"


def check_exactly_once(devices: Iterable[SimDevice], state: ServerState, engine: Engine) -> None:
    """Every change sent was processed exactly once; no record was created twice."""
    sent: dict[str, dict[str, Any]] = {}
    for dev in devices:
        sent.update(dev.sent)
    missing = [cid for cid in sent if cid not in state.receipts]
    assert not missing, f"changes sent but never processed: {missing[:5]}"
    with engine.connect() as conn:
        twice = conn.execute(sa.text(
            "SELECT change_id, record_id, count(*) FROM change_log WHERE change_id IS NOT NULL "
            "GROUP BY change_id, record_id HAVING count(*) > 1")).all()
        assert not twice, f"change logged twice: {twice[:5]}"
        gaps = conn.execute(sa.text(
            "SELECT entity, record_id, array_agg(version ORDER BY version) FROM change_log "
            "GROUP BY entity, record_id")).all()
    for entity, rid, versions in gaps:
        assert versions == list(range(1, len(versions) + 1)), (
            f"change_log versions of {entity} {rid}: {versions}")
        current = state.records.get((entity, str(rid)))
        assert current is not None and current["version"] == versions[-1], (
            f"{entity} {rid}: change_log ends at {versions[-1]}, record at {current}")
    created = {(c["entity"], c["record_id"]) for c in sent.values() if c["base_version"] is None}
    for key in created:
        assert key in state.records, f"created record {key} is not on the server"


def _conflict_values(conflict: dict[str, Any], name: str | None) -> list[Any]:
    out = []
    for side in ("client_value", "server_value", "resolved_value", "base_value"):
        value = conflict.get(side)
        out.append(value)
        if isinstance(value, dict) and name:
            out.append(value.get(name))
    return out


def check_nothing_vanished(devices: Iterable[SimDevice], state: ServerState,
                           resolutions: list[Resolution]) -> list[str]:
    """Every value a device pushed is current, in a conflict record, or was overwritten by
    someone who had seen it (their ``base_version`` ≥ the version it was applied at).

    Returns human-readable violations (empty = fine).
    """
    # (base version the writer had seen, change id, device, seq) of every write per field
    writes: dict[tuple[str, str, str | None], list[tuple[int, str, str, int]]] = defaultdict(list)
    edits = []
    for dev in devices:
        for cid, change in dev.sent.items():
            key = (change["entity"], change["record_id"])
            receipt = state.receipts.get(cid, {})
            if receipt.get("status") == "rejected":
                continue
            base = change["base_version"] or 0
            names = list(change["fields"]) if change["op"] == "upsert" else [None]
            for name in names:
                writes[(*key, name)].append((base, cid, dev.device_id, change["seq"] or 0))
                edits.append((dev.device_id, change["seq"] or 0, cid, key, name,
                              change["fields"].get(name) if name else None, receipt))
    for res in resolutions:
        writes[(res.entity, res.record_id, res.field)].append((res.base, "resolution", "", 0))
    by_record: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for c in state.conflicts:
        by_record[(c["entity"], c["record_id"])].append(c)
        if c.get("other_record_id"):
            by_record[(c["entity"], c["other_record_id"])].append(c)
    problems = []
    for dev_id, seq, cid, key, name, value, receipt in edits:
        current = state.records.get(key)
        if current is None:
            problems.append(f"{dev_id} {cid}: record {key} missing on the server")
            continue
        if name is None:
            if current["deleted"] or any(c["kind"] == "delete_edit" for c in by_record[key]):
                continue
            overwriters = writes[(*key, None)]
        else:
            if _norm(current["fields"].get(name)) == _norm(value):
                continue
            if any(_norm(value) in [_norm(v) for v in _conflict_values(c, name)]
                   for c in by_record[key] if c["field"] in (name, None)):
                continue
            overwriters = writes[(*key, name)]
        applied_at = receipt.get("version")
        # overwritten by someone who had seen it, or later by the same device (which always
        # knows its own writes)
        if any(other != cid and ((applied_at is not None and base >= applied_at)
                                 or (other_dev == dev_id and other_seq > seq))
               for base, other, other_dev, other_seq in overwriters):
            continue
        problems.append(
            f"{dev_id} change {cid} {key} {name}={value!r} (status {receipt.get('status')}, "
            f"version {applied_at}) vanished: current "
            f"{current['fields'].get(name) if name else current['deleted']!r}, "
            f"conflicts {[(c['kind'], c['field']) for c in by_record[key]]}")
    return problems
