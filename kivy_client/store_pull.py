"""Applying pull pages to the tablet's local store (part of ``Store``)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from sync_protocol.entities import ENTITIES
from sync_protocol.wire import PullResponse

from .store_outbox import OutboxMixin
from .store_reference import ReferenceMixin
from .store_types import _dumps, _now


class PullMixin(ReferenceMixin, OutboxMixin):
    """Pulled records, removals, conflicts and reference data, one page per transaction."""

    # --- pull -------------------------------------------------------------------------------

    @property
    def cursor(self) -> str | None:
        return self.get_meta("cursor")

    def apply_pull_page(self, page: PullResponse | dict[str, Any]) -> int:
        """Apply one pull page atomically and advance the cursor in the same transaction.

        Pending local edits stay visible on top of the pulled state. ``reset`` drops every record
        that has no pending change before the page is applied. Returns the records applied.
        """
        if not isinstance(page, PullResponse):
            page = PullResponse.model_validate(page)
        with self.transaction() as c:
            if page.reset:
                self._reset(c)
            pending = self._pending_fields()
            order = sorted((ch for ch in page.changes if ch.entity in ENTITIES),
                           key=lambda ch: ch.entity != "household")
            known = self._existing([ch.record_id for ch in order])
            villages: dict[str, str | None] = {}
            self._stamp = _now()
            for ch in order:
                self._apply_pulled(c, ch.entity, ch.record_id, ch.version, ch.deleted, ch.fields,
                                   pending.get((ch.entity, ch.record_id)), known, villages)
            for gone in page.removed:
                self._remove(c, gone.get("entity", ""), gone.get("record_id", ""))
            for conflict in page.conflicts:
                self._store_conflict(c, conflict.model_dump())
            if page.reference:
                self._store_reference(c, page.reference)
            c.execute("UPDATE records SET village_code = (SELECT h.village_code FROM records h"
                      " WHERE h.entity = 'household' AND h.id = records.household_id)"
                      " WHERE village_code IS NULL AND entity != 'household'")
            self.set_meta("cursor", page.next_cursor)
        return len(page.changes)

    # --- internals --------------------------------------------------------------------------

    def _store_reference(self, c: sqlite3.Connection, reference: dict[str, Any]) -> None:
        """Replace the reference data with what the server sent (in the page's transaction: a
        page that fails keeps the old data). When the county's template or policy changed, every
        household's roster index (五清已核查 / 全部为清 by the county's template) is computed
        again before the transaction commits; what a cadre should be told of is kept for a
        notice (``reference_notice``)."""
        before = self.reference()
        self._remember_known_reference(before, reference)
        self.set_meta("reference", _dumps(reference))
        self._reference = None
        if any(before.get(key) != reference.get(key)
               for key in ("checklist_templates", "county_policies")):
            self._dirty |= {r["id"] for r in c.execute(
                "SELECT id FROM records WHERE entity = 'household'")}

    def _existing(self, ids: list[str]) -> dict[tuple[str, str], sqlite3.Row]:
        """The stored rows among ``ids`` (version and placement only), in a few queries."""
        out: dict[tuple[str, str], sqlite3.Row] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            marks = ",".join("?" * len(chunk))
            for row in self.conn.execute("SELECT entity, id, version, village_code FROM records"
                                         f" WHERE id IN ({marks})", chunk):
                out[(row["entity"], row["id"])] = row
        return out

    def _store_conflict(self, c: sqlite3.Connection, conflict: dict[str, Any]) -> None:
        entity, record_id = conflict["entity"], conflict["record_id"]
        row = self._row(entity, record_id)
        household_id = conflict.get("household_id") or (row["household_id"] if row else None)
        if entity == "household":
            household_id = record_id
        old = c.execute("SELECT payload, created_at, status FROM issues WHERE id = ?",
                        (conflict["id"],)).fetchone()
        payload = json.loads(old["payload"]) if old else {}
        payload["conflict"] = conflict
        if old is not None and old["status"] == "open":
            payload["known_open"] = True  # this tablet saw it undecided (its push, or a pull)
        c.execute(
            "INSERT OR REPLACE INTO issues (id, kind, entity, record_id, household_id, field,"
            " status, payload, created_at) VALUES (?, 'conflict', ?, ?, ?, ?, ?, ?, ?)",
            (conflict["id"], entity, record_id, household_id, conflict.get("field"),
             conflict.get("status", "open"), _dumps(payload),
             old["created_at"] if old else _now()),
        )
        if row is not None:
            self._refresh_state(entity, record_id)
            self._touch(household_id)

    def _pending_fields(self) -> dict[tuple[str, str], dict[str, Any]]:
        """Fields of every queued change per record, later changes on top of earlier ones."""
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for row in self.conn.execute("SELECT entity, record_id, op, fields FROM outbox"
                                     " ORDER BY seq"):
            key = (row["entity"], row["record_id"])
            merged = out.setdefault(key, {})
            merged.update(json.loads(row["fields"]))
            if row["op"] == "delete":
                merged["__deleted__"] = True
        return out

    def _apply_pulled(self, c: sqlite3.Connection, entity: str, record_id: str, version: int,
                      deleted: bool, fields: dict[str, Any],
                      pending: dict[str, Any] | None,
                      known: dict[tuple[str, str], sqlite3.Row] | None = None,
                      villages: dict[str, str | None] | None = None) -> None:
        """Store one pulled record. ``known`` (existing rows) and ``villages`` (household id →
        village code) are per-page caches filled by ``apply_pull_page``."""
        row = known.get((entity, record_id)) if known is not None else self._row(entity, record_id)
        if row is not None and row["version"] is not None and row["version"] > version:
            return  # an older state than the one already stored (e.g. a replayed page)
        server_json = _dumps(fields)
        shown = fields
        shown_json = server_json
        shown_deleted = bool(deleted)
        if pending is not None:
            local = dict(pending)
            local_deleted = local.pop("__deleted__", False)
            shown = {**fields, **local}
            shown_json = _dumps(shown)
            # local work is never hidden: a pending edit keeps the record alive until decided
            shown_deleted = local_deleted
        household_id: str | None
        if entity == "household":
            household_id, village = record_id, shown.get("village_code")
            if villages is not None:
                villages[record_id] = village
        else:
            parent = shown.get("household_id")
            household_id = str(parent) if parent is not None else None
            if villages is not None and household_id in villages:
                village = villages[household_id]
            else:
                _, village = self._placement(entity, record_id, shown)
                if villages is not None and household_id is not None:
                    villages[household_id] = village
        if row is None:
            c.execute(
                "INSERT INTO records (entity, id, fields, server_fields, version, deleted,"
                " household_id, village_code, sync_state, state_rank, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'synced', 0, ?)",
                (entity, record_id, shown_json, server_json, version, int(shown_deleted),
                 household_id, village, self._stamp),
            )
        else:
            c.execute(
                "UPDATE records SET fields = ?, server_fields = ?, version = ?, deleted = ?,"
                " household_id = ?, village_code = ?, updated_at = ? WHERE entity = ? AND id = ?",
                (shown_json, server_json, version, int(shown_deleted), household_id,
                 village, self._stamp, entity, record_id),
            )
            if entity == "household" and village != row["village_code"]:
                c.execute("UPDATE records SET village_code = ? WHERE household_id = ?",
                          (village, record_id))
        if pending is not None or row is not None:
            self._refresh_state(entity, record_id)
        self._touch(household_id)

    def _remove(self, c: sqlite3.Connection, entity: str, record_id: str) -> None:
        """The server says this record left the user's scope: drop it unless work is pending."""
        if c.execute("SELECT 1 FROM outbox WHERE entity = ? AND record_id = ?",
                     (entity, record_id)).fetchone():
            return
        row = self._row(entity, record_id)
        if row is None:
            return
        if entity == "household":
            keep = c.execute("SELECT 1 FROM outbox o JOIN records r ON r.entity = o.entity"
                             " AND r.id = o.record_id WHERE r.household_id = ?",
                             (record_id,)).fetchone()
            if keep:
                return
            c.execute("DELETE FROM records WHERE household_id = ?", (record_id,))
            c.execute("DELETE FROM household_index WHERE household_id = ?", (record_id,))
            c.execute("DELETE FROM issues WHERE household_id = ?", (record_id,))
            self._dirty.discard(record_id)
        else:
            c.execute("DELETE FROM records WHERE entity = ? AND id = ?", (entity, record_id))
            self._touch(row["household_id"])

    def _reset(self, c: sqlite3.Connection) -> None:
        """Scope changed: drop everything that carries no pending work; pull starts over."""
        c.execute("DELETE FROM records WHERE NOT EXISTS (SELECT 1 FROM outbox o"
                  " WHERE o.entity = records.entity AND o.record_id = records.id)"
                  " AND NOT (entity = 'household' AND EXISTS (SELECT 1 FROM outbox o"
                  " JOIN records r2 ON r2.entity = o.entity AND r2.id = o.record_id"
                  " WHERE r2.household_id = records.id))")
        c.execute("DELETE FROM household_index WHERE household_id NOT IN"
                  " (SELECT id FROM records WHERE entity = 'household')")
        c.execute("DELETE FROM issues WHERE status != 'open'")
        c.execute("DELETE FROM meta WHERE key = 'cursor'")
        self._dirty = {r["id"] for r in c.execute(
            "SELECT id FROM records WHERE entity = 'household'")}
