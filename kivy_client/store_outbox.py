"""The outbox of the tablet's local store (part of ``Store``): queueing local edits, handing
them to ``kivy_client.sync`` and storing the server's push results.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

import uuid6

from sync_protocol.errors import MESSAGES, ErrorCode
from sync_protocol.wire import MAX_CHANGES_PER_PUSH, MAX_PUSH_BYTES, ChangeResult

from .store_base import StoreBase
from .store_types import RANK, OutboxChange, SyncState, _dumps, _now, _outbox


class OutboxMixin(StoreBase):
    """Queued changes, their sync states and the push results."""

    # --- the outbox (used by kivy_client.sync) ----------------------------------------------

    def pending_count(self) -> int:
        return int(self._q("SELECT COUNT(*) AS n FROM outbox")[0]["n"])

    def outbox(self, limit: int = MAX_CHANGES_PER_PUSH,
               max_bytes: int = MAX_PUSH_BYTES - 64 * 1024) -> list[OutboxChange]:
        """The next changes to push, oldest first, within the protocol's count and size limits."""
        rows = self._q("SELECT * FROM outbox ORDER BY seq LIMIT ?", (limit,))
        out: list[OutboxChange] = []
        size = 0
        for row in rows:
            change = _outbox(row)
            size += len(_dumps(change.wire()).encode()) + 1
            if out and size > max_bytes:
                break
            out.append(change)
        return out

    def mark_sent(self, change_ids: Iterable[str]) -> None:
        """Mark changes as sent (their records show 正在上传) before the request goes out."""
        ids = list(change_ids)
        with self.transaction() as c:
            for change_id in ids:
                row = c.execute("UPDATE outbox SET status = 'sent', attempts = attempts + 1"
                                " WHERE change_id = ? RETURNING entity, record_id",
                                (change_id,)).fetchone()
                if row is not None:
                    self._refresh_state(row["entity"], row["record_id"])

    def apply_push_results(
        self, results: Iterable[ChangeResult | dict[str, Any]]
    ) -> dict[str, int]:
        """Store the server's result for each change, then drop it from the outbox.

        Returns counts per status. A result for an unknown change id (already stored) is ignored,
        so storing the same response twice is harmless.
        """
        counts: dict[str, int] = {}
        with self.transaction() as c:
            for raw in results:
                res = raw if isinstance(raw, ChangeResult) else ChangeResult.model_validate(raw)
                row = c.execute("SELECT * FROM outbox WHERE change_id = ?",
                                (res.change_id,)).fetchone()
                if row is None:
                    continue
                change = _outbox(row)
                counts[res.status] = counts.get(res.status, 0) + 1
                self._store_result(change, res)
                c.execute("DELETE FROM outbox WHERE change_id = ?", (res.change_id,))
                self._refresh_state(change.entity, change.record_id)
        return counts

    def observe_server_time(self, server_time: str) -> None:
        """Move the device clock past the server's (a tablet whose clock runs behind still gives
        its later edits later HLCs than the changes it has just seen)."""
        try:
            when = dt.datetime.fromisoformat(server_time.replace("Z", "+00:00"))
        except (ValueError, AttributeError):
            return
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        millis = int(when.timestamp() * 1000)
        with self.transaction():
            self._clock.observe(f"{millis:013d}-0000-{self.device_id}")
            self.set_meta("hlc", self._clock.last)

    # --- internals --------------------------------------------------------------------------

    def _enqueue(self, entity: str, record_id: str, op: str, base_version: int | None,
                 fields: dict[str, Any]) -> None:
        """Queue a change; an edit joins the record's last change if that one was not sent yet
        (a procedure's stage move never does: the server judges and stamps each move)."""
        c = self.conn
        hlc = self._clock.tick()
        self.set_meta("hlc", hlc)
        last = c.execute("SELECT * FROM outbox WHERE entity = ? AND record_id = ?"
                         " ORDER BY seq DESC LIMIT 1", (entity, record_id)).fetchone()
        if (op == "upsert" and last is not None and last["status"] == "pending"
                and last["op"] == "upsert"
                and not (entity == "procedure" and "stage" in fields)):
            merged = {**json.loads(last["fields"]), **fields}
            c.execute("UPDATE outbox SET fields = ?, hlc = ? WHERE seq = ?",
                      (_dumps(merged), hlc, last["seq"]))
        else:
            seq = int(self.get_meta("last_seq") or "0") + 1
            self.set_meta("last_seq", str(seq))
            c.execute(
                "INSERT INTO outbox (seq, change_id, entity, record_id, op, base_version, fields,"
                " hlc, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
                (seq, str(uuid6.uuid7()), entity, record_id, op, base_version, _dumps(fields),
                 hlc, _now()),
            )
        # a new edit answers an earlier refusal of this record
        c.execute("UPDATE issues SET status = 'superseded' WHERE kind = 'rejection'"
                  " AND status = 'open' AND entity = ? AND record_id = ?", (entity, record_id))
        self._refresh_state(entity, record_id)

    def _refresh_state(self, entity: str, record_id: str) -> None:
        c = self.conn
        statuses = [r["status"] for r in c.execute(
            "SELECT status FROM outbox WHERE entity = ? AND record_id = ?", (entity, record_id))]
        open_kinds = {r["kind"] for r in c.execute(
            "SELECT kind FROM issues WHERE entity = ? AND record_id = ? AND status = 'open'",
            (entity, record_id))}
        if "pending" in statuses:
            state = SyncState.pending
        elif statuses:
            state = SyncState.uploading
        elif "rejection" in open_kinds:
            state = SyncState.rejected
        elif "conflict" in open_kinds:
            state = SyncState.conflict
        else:
            state = SyncState.synced
        c.execute("UPDATE records SET sync_state = ?, state_rank = ? WHERE entity = ? AND id = ?",
                  (state.value, RANK[state], entity, record_id))

    def _store_result(self, change: OutboxChange, res: ChangeResult) -> None:
        c = self.conn
        row = self._row(change.entity, change.record_id)
        household_id = row["household_id"] if row is not None else None
        if res.status == "rejected" or (res.status == "duplicate" and res.error is not None):
            error = res.error.model_dump() if res.error else {
                "code": str(ErrorCode.request_malformed),
                "message": MESSAGES[ErrorCode.request_malformed]}
            payload = {"change": change.wire(), "error": error}
            c.execute(
                "INSERT OR REPLACE INTO issues (id, kind, entity, record_id, household_id, field,"
                " status, payload, created_at) VALUES (?, 'rejection', ?, ?, ?, ?, 'open', ?, ?)",
                (change.change_id, change.entity, change.record_id, household_id,
                 error.get("field"), _dumps(payload), _now()),
            )
            return
        if row is not None and res.version is not None:
            server = json.loads(row["server_fields"] or "{}")
            server.update(change.fields)
            version = max(row["version"] or 0, res.version)
            c.execute("UPDATE records SET version = ?, server_fields = ?"
                      " WHERE entity = ? AND id = ?",
                      (version, _dumps(server), change.entity, change.record_id))
            # later queued edits of this record were made on top of this change
            c.execute("UPDATE outbox SET base_version = ? WHERE entity = ? AND record_id = ?"
                      " AND seq > ? AND (base_version IS NULL OR base_version < ?)",
                      (version, change.entity, change.record_id, change.seq, version))
        conflict_ids = list(res.conflict_ids or [])
        if res.conflict_id and res.conflict_id not in conflict_ids:
            conflict_ids.insert(0, res.conflict_id)
        for conflict_id in conflict_ids:
            c.execute(
                "INSERT INTO issues (id, kind, entity, record_id, household_id, field, status,"
                " payload, created_at) VALUES (?, 'conflict', ?, ?, ?, NULL, 'open', ?, ?)"
                " ON CONFLICT(id) DO NOTHING",
                (conflict_id, change.entity, change.record_id, household_id,
                 _dumps({"change": change.wire()}), _now()),
            )
