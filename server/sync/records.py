"""Apply a batch of changes: check each, lock the touched rows, merge in Python, write in bulk.

Used by the push endpoint (source ``sync``) and by server-originated writes
(``apply_server_changes``: clerk resolutions, console imports). The steps, each its own module:

1. ``batch.prepare``: each change's own checks (no database);
2. receipts (replays answered from ``sync_receipt``) and attachment references;
3. ``load.load``: lock and read the touched rows (``sql.select_for_update``), fixed order;
4. ``merge_step.merge_one``: merge in Python (``sync_protocol.merge``), the procedure gate,
   conflicts, duplicate households (``sync_protocol.duplicates``);
5. ``write.write``: one bulk statement per written table.

All SQL is in ``sql``. The number of SQL round trips is constant per batch: one lock query per
touched entity, one query for receipts, one for duplicate households, one bulk statement per
written table — never one per change.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

import uuid6
from sqlmodel import Session

from server.scope import Principal
from server.sync import sql
from server.sync.batch import Batch, Prepared, duplicate_result, prepare, receipt_result
from server.sync.load import load
from server.sync.merge_step import duplicate_candidates, fill_base_values, log_row, merge_one
from server.sync.references import reject_unusable_attachments
from server.sync.write import log_rejections, write
from sync_protocol.errors import ErrorCode
from sync_protocol.hlc import Hlc, now_ms
from sync_protocol.merge import UPSERT, Incoming, merge

__all__ = ["apply_server_changes", "move_children", "process", "receipt_result", "server_hlc",
           "touch"]


def process(
    session: Session,
    principal: Principal,
    device_id: str,
    raw_changes: list[Any],
    *,
    source: str = "sync",
    force: bool = False,
    from_tablet: bool = True,
) -> list[dict[str, Any]]:
    """Apply ``raw_changes`` in order; return one result per change (see the protocol).
    ``from_tablet``: the push comes from the tablet's own outbox (not an imported export), so
    its lowest seq raises the device's outbox floor (docs/protocol.md, Retention)."""
    server_ms = now_ms()
    now = dt.datetime.now(dt.UTC)
    prepared: list[Prepared] = []
    max_skew = 0
    for i, raw in enumerate(raw_changes):
        p, skew = prepare(i, raw, server_ms, force=force,
                          device_id=device_id if source == "sync" else None)
        prepared.append(p)
        max_skew = max(max_skew, skew)

    pruned_below: int | None = None
    if source == "sync":
        # also locks the device row: one device's pushes run one after the other
        seqs = [p.seq for p in prepared if p.seq is not None]
        pruned_below = sql.touch_device(session, principal.user_id, device_id, now,
                                        max(seqs, default=0), max_skew,
                                        min(seqs) if from_tablet and seqs else None)

    _apply_receipts(session, principal, device_id, prepared, pruned_below)
    reject_unusable_attachments(session, principal, [p for p in prepared if p.result is None])
    live = [p for p in prepared if p.result is None]
    states, ctx = load(session, live)
    batch = Batch(user_id=principal.user_id, device_id=device_id, source=source)
    dupes = duplicate_candidates(session, live)
    first_seen: dict[str, Prepared] = {}
    for p in prepared:
        if p.result is not None:
            continue
        if p.change_uuid in first_seen:
            continue  # a change repeated inside the batch: answered below
        first_seen[p.change_uuid] = p  # type: ignore[index]
        merge_one(p, principal, device_id, states, batch, dupes, now, ctx)
    for p in prepared:
        if p.result is None and p.change_uuid in first_seen:
            orig = first_seen[p.change_uuid]  # type: ignore[index]
            p.result = duplicate_result(orig.result or {})
    fill_base_values(session, batch)
    write(session, states, batch, now)
    if source == "sync":
        log_rejections(session, prepared, batch, now)
    return [p.result or {} for p in prepared]


def _apply_receipts(session: Session, principal: Principal, device_id: str,
                    prepared: list[Prepared], pruned_below: int | None = None) -> None:
    """Changes already applied (a receipt exists) are answered from their receipt; a change id
    of another user or device is refused. A change without a receipt whose seq is below
    ``pruned_below`` may have been applied and its receipt pruned: it is refused
    (``sync.change_expired``), never applied a second time. At or above it every receipt of
    the device still exists, so no receipt means never applied."""
    found = sql.select_receipts(
        session, [p.change_uuid for p in prepared if p.result is None and p.change_uuid])
    for p in prepared:
        r = found.get(p.change_uuid or "") if p.result is None else None
        if r is None:
            if (p.result is None and pruned_below is not None and p.seq is not None
                    and p.seq < pruned_below):
                p.reject(ErrorCode.sync_change_expired)
            continue
        if r[1] != principal.user_id or r[2] != device_id:
            p.reject(ErrorCode.sync_change_id_reused, "change_id")
        else:
            p.result = duplicate_result(receipt_result(r[0], r[3], r[4], r[5], r[6]))


# --- server-originated writes ---------------------------------------------------------------


def server_hlc() -> str:
    return str(Hlc(now_ms(), 0, "server"))


def apply_server_changes(session: Session, principal: Principal, changes: list[dict[str, Any]],
                         source: str) -> list[dict[str, Any]]:
    """Audited server-side writes (console imports, resolutions) through the same merge path.

    Each change is ``{"entity", "record_id", "op"?, "fields", "change_id"?, "base_version"?}``.
    Without ``base_version`` the change overrides the current values (no conflict); with one it
    merges like a device's change. Results are those of a push.
    """
    hlc = server_hlc()
    raw = []
    forced = []
    for c in changes:
        item = {"op": "upsert", "hlc": hlc, "change_id": str(uuid6.uuid7()), **c}
        item["record_id"] = str(item["record_id"])
        item["change_id"] = str(item["change_id"])
        forced.append("base_version" not in c)
        raw.append(item)
    if all(forced) or not any(forced):
        return process(session, principal, f"server-{source}", raw, source=source,
                       force=all(forced))
    out = []
    for item, f in zip(raw, forced, strict=True):
        out += process(session, principal, f"server-{source}", [item], source=source, force=f)
    return out


def touch(session: Session, principal: Principal, records: list[tuple[str, uuid.UUID]],
          source: str = "resolution") -> None:
    """Version +1 and a ``resolution`` change-log entry for records whose values a resolution
    left as they were, so every device pulls them (and the resolved conflict) again. Written by
    the push's own steps (lock, write) as ``principal`` from their own device, not as a device
    of the server's."""
    wanted = [Prepared(-1, "", entity=entity, record_id=str(rid)) for entity, rid in records]
    states, _ = load(session, wanted)
    batch = Batch(user_id=principal.user_id, device_id=principal.device_id, source=source)
    for p in wanted:
        st = states.get((p.entity, p.record_id or ""))
        if st is None or st.stored is None or st.dirty:
            continue
        st.stored = dataclasses.replace(st.stored, version=st.stored.version + 1)
        st.dirty = True
        batch.logs.append({"entity": st.entity, "record_id": st.id,
                           "household_id": st.household_id, "village_code": st.village_code,
                           "op": "resolution", "version": st.stored.version, "change_id": None,
                           "hlc": None, "changes": {}})
    write(session, states, batch, dt.datetime.now(dt.UTC))


def move_children(session: Session, principal: Principal, loser: uuid.UUID,
                  survivor: uuid.UUID, left: str | None, village: str,
                  source: str = "resolution") -> None:
    """Merge of duplicate households: every child of ``loser`` (village ``left``) moves to
    ``survivor`` in ``village``, through the push's lock, merge and write steps (version,
    clock and change log as for any change, by ``principal`` from their own device). Children
    that change village are announced to the old village's devices (scope exits); their
    earlier history follows them (base values of later conflicts are looked up by household).
    The caller has locked both households."""
    hlc = server_hlc()
    fields = {"household_id": survivor}
    wanted = [Prepared(-1, "", entity=entity, record_id=rid, fields=fields, hlc=hlc)
              for entity, rid in sql.select_children(session, loser)]
    if not wanted:
        return
    states, _ = load(session, wanted)
    batch = Batch(user_id=principal.user_id, device_id=principal.device_id, source=source)
    now = dt.datetime.now(dt.UTC)
    for p in wanted:
        st = states.get((p.entity, p.record_id or ""))
        if st is None or st.stored is None:
            continue
        outcome = merge(st.stored, Incoming(UPSERT, None, dict(fields), hlc, force=True))
        st.stored = outcome.state()
        st.dirty = st.moved = True
        st.changed.update(outcome.changed)
        st.household_id, st.village_code = str(survivor), village
        batch.logs.append(log_row(p, st, outcome))
        if left != village:
            batch.exits.append({"id": uuid.uuid4(), "entity": p.entity, "record_id": st.id,
                                "village_code": left, "at": now})
    sql.reassign_history(session, loser, survivor)
    write(session, states, batch, now)
