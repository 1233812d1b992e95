"""Apply a batch of changes: check each, lock the touched rows, merge in Python, write in bulk.

One pipeline for a device's push (``process``) and for the server-side operations of
``operations`` (a clerk's resolution, a county admin's import, a procedure moved in the console):
``run`` takes the batch's ``Origin`` instead of a device of the server's. The steps, each its
own module:

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
from collections.abc import Sequence
from typing import Any

from sqlmodel import Session

from server.reference import checklist_template, county_recordable
from server.scope import Principal
from server.sync import sql
from server.sync.batch import (
    Batch,
    Origin,
    Prepared,
    RecState,
    duplicate_result,
    prepare,
    receipt_result,
)
from server.sync.load import load
from server.sync.merge_step import duplicate_candidates, fill_base_values, merge_one
from server.sync.references import reject_unusable_attachments
from server.sync.write import log_rejections, write
from sync_protocol.errors import ErrorCode
from sync_protocol.hlc import now_ms
from sync_protocol.templates import ChecklistTemplateDef
from sync_protocol.wire import ChangeResult

__all__ = ["process", "run"]


def process(session: Session, principal: Principal, device_id: str, raw_changes: list[Any],
            *, from_tablet: bool = True) -> list[ChangeResult]:
    """A device's push: apply ``raw_changes`` in order; one result per change (the protocol).
    ``from_tablet``: the push comes from the tablet's own outbox (not an imported export), so
    its lowest seq raises the device's outbox floor (docs/protocol.md, Retention)."""
    return run(session, principal, device_id, raw_changes, Origin.DEVICE,
               from_tablet=from_tablet)


def run(session: Session, principal: Principal, device_id: str, raw_changes: list[Any],
        origin: Origin, *, forced: Sequence[bool] = (),
        touch: Sequence[tuple[str, str]] = (), from_tablet: bool = False) -> list[ChangeResult]:
    """Apply ``raw_changes`` as ``principal`` from ``device_id``. ``forced[i]``: change ``i``
    overrides the current values (no conflict; server-side operations only). ``touch``: records
    the batch writes a version (+1) and a ``resolution`` change-log entry for even when no
    change of it alters them (so every device pulls them again), unless a change is refused.
    ``from_tablet``: see ``process`` (a device's push only)."""
    device = origin is Origin.DEVICE
    server_ms = now_ms()
    now = dt.datetime.now(dt.UTC)
    prepared: list[Prepared] = []
    max_skew = 0
    for i, raw in enumerate(raw_changes):
        p, skew = prepare(i, raw, server_ms, force=i < len(forced) and forced[i],
                          device_id=device_id if device else None)
        prepared.append(p)
        max_skew = max(max_skew, skew)

    if device:
        # also locks the device row: one device's pushes run one after the other
        seqs = [p.seq for p in prepared if p.seq is not None]
        pruned_below = sql.touch_device(session, principal.user_id, device_id, now,
                                        max(seqs, default=0), max_skew,
                                        min(seqs) if from_tablet and seqs else None)
        _apply_receipts(session, principal, device_id, prepared, pruned_below)
    reject_unusable_attachments(session, principal, [p for p in prepared if p.result is None])
    live = [p for p in prepared if p.result is None]
    touched = [Prepared(-1, "", entity=entity, record_id=str(rid)) for entity, rid in touch]
    states, ctx = load(session, live + touched)
    batch = Batch(user_id=principal.user_id, device_id=device_id, origin=origin)
    dupes = duplicate_candidates(session, live)
    first_seen: dict[str, Prepared] = {}
    recordables: dict[str, dict[str, ChecklistTemplateDef]] = {}
    named: dict[str, ChecklistTemplateDef] = {}

    def recordable_of(village_code: str) -> dict[str, ChecklistTemplateDef]:
        county = village_code[:6]  # one lookup per county, only when a batch creates a 五清 item
        if county not in recordables:
            recordables[county] = county_recordable(session, county)
        return recordables[county]

    def template_named(code: str) -> ChecklistTemplateDef:  # one lookup per template
        if code not in named:
            named[code] = checklist_template(session, code)
        return named[code]

    for p in prepared:
        if p.result is not None:
            continue
        if p.change_uuid in first_seen:
            continue  # a change repeated inside the batch: answered below
        first_seen[p.change_uuid] = p  # type: ignore[index]
        merge_one(p, principal, device_id, states, batch, dupes, now, ctx, recordable_of,
                  template_named)
    results: list[ChangeResult] = []
    for p in prepared:
        if p.result is None and p.change_uuid in first_seen:
            orig = first_seen[p.change_uuid]  # type: ignore[index]
            assert orig.result is not None
            p.result = duplicate_result(orig.result)
        assert p.result is not None
        results.append(p.result)
    if not any(r.status == "rejected" for r in results):
        for p in touched:
            _bump(states.get((p.entity, p.record_id or "")), batch)
    fill_base_values(session, batch)
    write(session, states, batch, now)
    if device:
        log_rejections(session, prepared, batch, now)
    return results


def _bump(st: RecState | None, batch: Batch) -> None:
    """Version +1 and a ``resolution`` change-log entry for a record the batch leaves as it was."""
    if st is None or st.stored is None or st.dirty:
        return
    st.stored = dataclasses.replace(st.stored, version=st.stored.version + 1)
    st.dirty = True
    batch.logs.append({"entity": st.entity, "record_id": st.id, "household_id": st.household_id,
                       "village_code": st.village_code, "op": "resolution",
                       "version": st.stored.version, "change_id": None, "hlc": None,
                       "changes": {}})


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
