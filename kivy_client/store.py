"""The tablet's local store: SQLite (stdlib ``sqlite3``, WAL), no Kivy.

Every synced entity lives in one generic ``records`` table; every local edit writes the record and
its outbox row in one transaction, so a change is either saved and queued or not saved at all.
The sync client (``kivy_client.sync``) reads the outbox and feeds back push results and pull
pages; the screens read rosters, household files, sync states and issues.

``Store`` is put together from one part per job, each in its own module:

- ``store_base.StoreBase``: the connection, transactions, meta values, the current user
  (thread safety: one connection guarded by a re-entrant lock, so the ``SyncWorker`` thread and
  the UI thread can share a ``Store``);
- ``store_reference.ReferenceMixin``: reference data and county policy;
- ``store_outbox.OutboxMixin``: queueing edits, push results, sync states;
- ``store_pull.PullMixin``: applying pull pages;
- ``store_files.FilesMixin``: attachments, the outbox export, the wipe at logout;
- ``store_roster.RosterMixin``: roster, search, issues and the roster index;
- this module: validation and edits, the domain edits of the screens, reading household files.

The value types (``SyncState``, ``Record``, ``RosterFilter`` ...) live in ``store_types`` and are
re-exported here, so ``from kivy_client.store import ...`` keeps working.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import uuid6

from sync_protocol import wuqing
from sync_protocol.entities import ENTITIES, FIELD_LABELS, Validated, validate_fields
from sync_protocol.errors import ErrorCode, FieldError, RuhuError
from sync_protocol.explain import explain
from sync_protocol.procedure import derived_field_refusal
from sync_protocol.templates import ChecklistTemplateDef
from sync_protocol.visits import edit_refusal as visit_edit_refusal

from .store_pull import PullMixin
from .store_roster import RosterMixin
from .store_types import (
    _CHILD_LISTS,
    BY_RANK,
    RANK,
    SYNC_STATE_LABELS,
    Attachment,
    HouseholdFile,
    Issue,
    OutboxChange,
    Record,
    RosterFilter,
    RosterRow,
    StoreValidationError,
    SyncState,
    _dumps,
    _now,
    _record,
    _validation_error,
)

__all__ = [
    "Attachment",
    "BY_RANK",
    "HouseholdFile",
    "Issue",
    "OutboxChange",
    "RANK",
    "Record",
    "RosterFilter",
    "RosterRow",
    "SYNC_STATE_LABELS",
    "Store",
    "StoreValidationError",
    "SyncState",
    "explain",
]


class Store(RosterMixin, PullMixin):
    """The local SQLite database of one tablet."""

    # --- validation and generic edits -------------------------------------------------------

    def check(self, entity: str, fields: dict[str, Any], *, creating: bool) -> Validated:
        """Validate without saving (the UI uses it to show errors and warnings while typing)."""
        result = validate_fields(entity, fields, creating=creating)
        if not creating and result.ok:
            readonly = [f for f in fields if f in ENTITIES[entity].immutable]
            if readonly:
                result.errors.append(_labelled(FieldError(ErrorCode.validation_field_readonly,
                                                          readonly[0])))
        return result

    def create(self, entity: str, fields: dict[str, Any], record_id: str | None = None) -> str:
        """Create a record offline; returns its new id (UUIDv7). Raises ``StoreValidationError``."""
        result = self.check(entity, fields, creating=True)
        if not result.ok:
            raise _validation_error(result.errors)
        self.last_warnings = result.warnings
        record_id = record_id or str(uuid6.uuid7())
        clean = result.fields
        if entity == "household":
            _refuse_derived(None, clean)
        with self.transaction() as c:
            if self._row(entity, record_id) is not None:
                raise RuhuError(ErrorCode.sync_change_id_reused, "记录编号已存在")
            if entity != "household":
                head = self._row("household", str(clean["household_id"]))
                if head is None or head["deleted"]:
                    raise RuhuError(ErrorCode.sync_parent_missing, status_code=404)
            household_id, village = self._placement(entity, record_id, clean)
            c.execute(
                "INSERT INTO records (entity, id, fields, server_fields, version, deleted,"
                " household_id, village_code, sync_state, state_rank, updated_at)"
                " VALUES (?, ?, ?, NULL, NULL, 0, ?, ?, 'pending', ?, ?)",
                (entity, record_id, _dumps(clean), household_id, village,
                 RANK[SyncState.pending], _now()),
            )
            self._enqueue(entity, record_id, "upsert", None, clean)
            self._touch(household_id)
        return record_id

    def update(self, entity: str, record_id: str, fields: dict[str, Any]) -> None:
        """Change some fields of a record; only the changed fields are queued."""
        result = self.check(entity, fields, creating=False)
        if not result.ok:
            raise _validation_error(result.errors)
        self.last_warnings = result.warnings
        with self.transaction() as c:
            row = self._row(entity, record_id)
            if row is None or row["deleted"]:
                raise RuhuError(ErrorCode.record_not_found, status_code=404)
            current = json.loads(row["fields"])
            changed = {k: v for k, v in result.fields.items() if current.get(k) != v}
            if not changed:
                return
            if entity == "household":
                _refuse_derived(current, changed)
            if entity == "visit":  # its author, on the day (sync_protocol.visits)
                self._check_visit_edit(current, "upsert")
            current.update(changed)
            village = row["village_code"]
            if entity == "household" and "village_code" in changed:
                village = changed["village_code"]
                c.execute("UPDATE records SET village_code = ? WHERE household_id = ?",
                          (village, record_id))
            c.execute("UPDATE records SET fields = ?, village_code = ?, updated_at = ?"
                      " WHERE entity = ? AND id = ?",
                      (_dumps(current), village, _now(), entity, record_id))
            self._enqueue(entity, record_id, "upsert", row["version"], changed)
            self._touch(row["household_id"])

    def delete(self, entity: str, record_id: str) -> None:
        """Delete a record (a tombstone on the server; the clerk keeps history)."""
        with self.transaction() as c:
            row = self._row(entity, record_id)
            if row is None or row["deleted"]:
                raise RuhuError(ErrorCode.record_not_found, status_code=404)
            if entity == "visit":
                self._check_visit_edit(json.loads(row["fields"]), "delete")
            c.execute("UPDATE records SET deleted = 1, updated_at = ? WHERE entity = ? AND id = ?",
                      (_now(), entity, record_id))
            self._enqueue(entity, record_id, "delete", row["version"], {})
            self._touch(row["household_id"])

    def _check_visit_edit(self, visit: dict[str, Any], op: str) -> None:
        code = visit_edit_refusal(visit, self.current_user_id, dt.datetime.now(dt.UTC), op)
        if code is not None:
            raise RuhuError(code, status_code=422)

    def withdraw_visit(self, visit_id: str) -> None:
        """Withdraw one's own visit on its day: kept on record, no longer counted."""
        self.update("visit", visit_id, {"withdrawn": True})

    # --- domain edits used by the screens ---------------------------------------------------

    def create_household(self, fields: dict[str, Any]) -> str:
        return self.create("household", fields)

    def add_member(self, household_id: str, fields: dict[str, Any]) -> str:
        return self.create("member", {**fields, "household_id": household_id})

    def add_income(self, household_id: str, fields: dict[str, Any]) -> str:
        return self.create("income_item", {**fields, "household_id": household_id})

    def add_measure(self, household_id: str, fields: dict[str, Any]) -> str:
        return self.create("measure", {**fields, "household_id": household_id})

    def add_helper(self, household_id: str, fields: dict[str, Any]) -> str:
        """A change of helper adds a row; the previous one gets an ``end_date`` by the caller."""
        return self.create("helper_assignment", {**fields, "household_id": household_id})

    def add_status_event(self, household_id: str, fields: dict[str, Any]) -> str:
        fields = {**fields, "household_id": household_id}
        if self.current_user_id and "recorded_by" not in fields:
            fields["recorded_by"] = self.current_user_id
        return self.create("status_event", fields)

    def record_visit(self, household_id: str, fields: dict[str, Any],
                     photos: Iterable[tuple[bytes | Path | str, str]] = ()) -> str:
        """Record a 走访记录. Time defaults to now; ``location_captured`` is True only when the
        device supplied ``lat``/``lng``. ``photos`` are (bytes or file path, mime) pairs, queued
        for upload and referenced by sha256 in ``attachment_ids``."""
        fields = dict(fields)
        fields.setdefault("visited_at", dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
        fields.setdefault("location_captured",
                          fields.get("lat") is not None and fields.get("lng") is not None)
        if self.current_user_id:
            fields.setdefault("visitor_id", self.current_user_id)
        with self.transaction():
            shas = [self.add_attachment(data, mime) for data, mime in photos]
            if shas:
                fields["attachment_ids"] = list(
                    dict.fromkeys([*fields.get("attachment_ids", []), *shas]))
            return self.create("visit", {**fields, "household_id": household_id})

    def set_checklist_verdict(self, household_id: str, item_code: str, verdict: str,
                              note: str | None = None,
                              attachment_ids: list[str] | None = None,
                              template_code: str | None = None,
                              extra: dict[str, Any] | None = None) -> str:
        """Set the manual 五清 verdict of one item (updates this household's item if present)
        of ``template_code`` (default: the template of the household's county). ``extra``:
        the item's other fields (check level, rectification). The 五清 role rule is checked
        before anything is saved."""
        head = self.get("household", household_id)
        household = head.fields if head else {}
        template = self._template(household)  # the county's, as downloaded
        template_code = template.code if template_code is None else template_code
        fields: dict[str, Any] = {
            "verdict": verdict,
            "checked_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        if note is not None:
            fields["note"] = note
        if attachment_ids is not None:
            fields["attachment_ids"] = attachment_ids
        fields.update(extra or {})
        if self.current_user_id:
            fields["checked_by"] = self.current_user_id
        judged = template if template.code == template_code \
            else self.checklist_template(template_code)
        with self.transaction():
            for rec in self.children(household_id, "checklist_item"):
                if (rec.fields.get("template_code") == template_code
                        and rec.fields.get("item_code") == item_code):
                    self._check_checklist_role(judged, item_code, fields,
                                               rec.fields.get("verdict"))
                    self.update("checklist_item", rec.id, fields)
                    return rec.id
            # a new item: the server's rule (templates the county may record against, the item
            # one of its template's), then the 村书记 rule by the item's own template
            refused = wuqing.checklist_item_error(
                self.recordable_templates(household),
                {"template_code": template_code, "item_code": item_code})
            if refused is not None:
                raise _validation_error([FieldError(*refused)])
            self._check_checklist_role(judged, item_code, fields, None)
            return self.create("checklist_item", {**fields, "household_id": household_id,
                                                  "template_code": template_code,
                                                  "item_code": item_code})

    def _check_checklist_role(self, template: ChecklistTemplateDef, item_code: str,
                              fields: dict[str, Any], stored_verdict: Any) -> None:
        code = wuqing.checklist_role_error(self.current_role, template, item_code, fields,
                                           stored_verdict)
        if code is not None:
            raise _validation_error([FieldError(code, "verdict")])

    # --- reading ----------------------------------------------------------------------------

    def get(self, entity: str, record_id: str) -> Record | None:
        row = self._row(entity, record_id)
        return _record(row) if row is not None else None

    def server_fields(self, entity: str, record_id: str) -> dict[str, Any] | None:
        """The record as the server last sent it (no local edits on top); None if never
        pulled (created on this tablet and not yet synced)."""
        rows = self._q("SELECT server_fields FROM records WHERE entity = ? AND id = ?",
                       (entity, record_id))
        if not rows or rows[0]["server_fields"] is None:
            return None
        fields: dict[str, Any] = json.loads(rows[0]["server_fields"])
        return fields

    def children(self, household_id: str, entity: str, *,
                 include_deleted: bool = False) -> list[Record]:
        rows = self._q(
            "SELECT * FROM records WHERE household_id = ? AND entity = ?"
            + ("" if include_deleted else " AND deleted = 0") + " ORDER BY id",
            (household_id, entity),
        )
        return [_record(r) for r in rows]

    def household_bundle(self, household_id: str) -> HouseholdFile | None:
        """The whole file of one household (deleted children left out), with its issues."""
        with self._lock:
            rows = self._q("SELECT * FROM records WHERE household_id = ? AND deleted = 0"
                           " ORDER BY id", (household_id,))
            head = next((r for r in rows if r["entity"] == "household"), None)
            if head is None:
                return None
            bundle = HouseholdFile(household=_record(head))
            for row in rows:
                if row["entity"] in _CHILD_LISTS:
                    getattr(bundle, _CHILD_LISTS[row["entity"]]).append(_record(row))
            bundle.issues = self.household_issues(household_id)
            bundle.sync_state = self.household_state(household_id)
        return bundle

    def household_hints(self, household_id: str,
                        today: dt.date | None = None) -> dict[str, wuqing.Hint]:
        """五清 hints from local data, under the county's policy (from the reference data:
        visit interval by monitoring category, checklist template) like the clerk console."""
        bundle = self.household_bundle(household_id)
        if bundle is None:
            raise RuhuError(ErrorCode.record_not_found, status_code=404)
        policy = self.hint_policy(bundle.household.fields, today)
        return bundle.hints(policy, self.user_names(),
                            self.checklist_template(policy.template_code))

    def user_names(self) -> dict[str, str]:
        """Names of the users this tablet knows (the staff of the reference data and the user
        logged in): 帮扶责任清 matches a visitor to the helper by user id or name."""
        names = {str(r["id"]): str(r["name"]) for r in self.reference().get("staff") or []
                 if isinstance(r, dict) and r.get("id") and r.get("name")}
        user_id, name = self.current_user_id, self.get_meta("user_name")
        if user_id and name:
            names[user_id] = name
        return names


def _refuse_derived(current: dict[str, Any] | None, changed: dict[str, Any]) -> None:
    """The monitoring fields are set only by approved procedures (the server's rule, offline)."""
    refusal = derived_field_refusal(current, changed)
    if refusal is not None and refusal.code is not None:
        raise _validation_error([_labelled(FieldError(refusal.code, refusal.field))])


def _labelled(error: FieldError) -> FieldError:
    if error.field in FIELD_LABELS:
        error.message = f"{FIELD_LABELS[error.field]}：{error.message}"
    return error
