"""The tablet's local store: SQLite (stdlib ``sqlite3``, WAL), no Kivy.

Every synced entity lives in one generic ``records`` table; every local edit writes the record and
its outbox row in one transaction, so a change is either saved and queued or not saved at all.
The sync client (``kivy_client.sync``) reads the outbox and feeds back push results and pull
pages; the screens read rosters, household files, sync states and issues.

Thread safety: one connection guarded by a re-entrant lock, so the ``SyncWorker`` thread and
the UI thread can share a ``Store``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import uuid6

from sync_protocol import outbox_export, policy, wuqing
from sync_protocol.entities import ENTITIES, FIELD_LABELS, Validated, validate_fields
from sync_protocol.errors import MESSAGES, ErrorCode, FieldError, RuhuError
from sync_protocol.explain import explain
from sync_protocol.hlc import HlcClock
from sync_protocol.policy import CountyRules, HintPolicy
from sync_protocol.procedure import derived_field_refusal
from sync_protocol.templates import (
    DEFAULT_TEMPLATE_CODE,
    ChecklistTemplateDef,
    get_template,
    template_from,
)
from sync_protocol.validation import DEVICE_ID_RE
from sync_protocol.visits import counts as visit_counts
from sync_protocol.visits import edit_refusal as visit_edit_refusal
from sync_protocol.wire import MAX_CHANGES_PER_PUSH, MAX_PUSH_BYTES, ChangeResult, PullResponse

from . import local_schema
from .search import group_order, household_keys, search_clause


class SyncState(StrEnum):
    """Per-record sync state; ``RANK`` orders them best to worst (worst shown per household)."""

    synced = "synced"
    uploading = "uploading"
    pending = "pending"
    conflict = "conflict"
    rejected = "rejected"


RANK: dict[SyncState, int] = {
    SyncState.synced: 0,
    SyncState.uploading: 1,
    SyncState.pending: 2,
    SyncState.conflict: 3,
    SyncState.rejected: 4,
}
BY_RANK = {rank: state for state, rank in RANK.items()}

SYNC_STATE_LABELS: dict[SyncState, str] = {
    SyncState.synced: "已同步",
    SyncState.uploading: "正在上传",
    SyncState.pending: "待上传",
    SyncState.conflict: "有冲突，待乡镇审核",
    SyncState.rejected: "被退回，需修改",
}


class StoreValidationError(RuhuError):
    """An edit the store refused: ``code``/``message`` of the first problem, all in ``errors``."""

    @property
    def errors(self) -> list[dict[str, Any]]:
        return list(self.extra.get("errors", []))


def _validation_error(errors: list[FieldError]) -> StoreValidationError:
    first = errors[0]
    return StoreValidationError(
        first.code,
        "；".join(e.message for e in errors),
        422,
        {"errors": [e.to_dict() for e in errors], "field": first.field},
    )


@dataclass
class Record:
    """One local record: the fields shown (server state with pending local edits on top)."""

    entity: str
    id: str
    fields: dict[str, Any]
    version: int | None
    deleted: bool
    household_id: str | None
    village_code: str | None
    sync_state: SyncState
    updated_at: str

    @property
    def sync_label(self) -> str:
        return SYNC_STATE_LABELS[self.sync_state]

    def as_dict(self) -> dict[str, Any]:
        """Wire field names plus ``id`` and ``deleted`` (the shape ``sync_protocol.wuqing``
        uses)."""
        return {**self.fields, "id": self.id, "deleted": self.deleted}


@dataclass
class OutboxChange:
    """One queued change, exactly as it is (re-)sent: same ``change_id`` on every attempt."""

    seq: int
    change_id: str
    entity: str
    record_id: str
    op: str
    base_version: int | None
    fields: dict[str, Any]
    hlc: str
    status: str  # pending | sent
    attempts: int = 0

    def wire(self) -> dict[str, Any]:
        return {
            "change_id": self.change_id,
            "seq": self.seq,
            "entity": self.entity,
            "record_id": self.record_id,
            "op": self.op,
            "base_version": self.base_version,
            "fields": self.fields,
            "hlc": self.hlc,
        }


@dataclass
class Issue:
    """A conflict or a rejection attached to a record, with a plain-Chinese explanation."""

    id: str
    kind: str  # conflict | rejection
    entity: str
    record_id: str
    household_id: str | None
    field: str | None
    status: str  # open | resolved (conflicts); open | superseded (rejections)
    message: str
    payload: dict[str, Any]
    created_at: str


@dataclass
class Attachment:
    sha256: str
    mime: str
    size: int
    status: str  # pending | uploaded | error
    path: str | None = None
    error: str | None = None


@dataclass
class RosterFilter:
    """Filters of the household roster; all optional and combined with AND."""

    query: str = ""
    village_codes: list[str] | None = None
    not_visited_this_month: bool = False
    wuqing_incomplete: bool = False
    has_conflict: bool = False
    monitoring_category: str | None = None
    today: dt.date | None = None
    limit: int | None = None


@dataclass
class RosterRow:
    id: str
    head_name: str
    household_number: str
    village_code: str
    group_name: str
    poverty_status: str | None
    monitoring_category: str | None
    member_count: int
    last_visit_at: str | None  # China time
    wuqing_checked: bool  # 五清已核查
    wuqing_all_clear: bool  # 全部为清
    sync_state: SyncState
    open_conflicts: int

    @property
    def sync_label(self) -> str:
        return SYNC_STATE_LABELS[self.sync_state]


@dataclass
class HouseholdFile:
    """Everything of one household (一户一档) as stored on the tablet."""

    household: Record
    members: list[Record] = field(default_factory=list)
    incomes: list[Record] = field(default_factory=list)
    measures: list[Record] = field(default_factory=list)
    helpers: list[Record] = field(default_factory=list)
    visits: list[Record] = field(default_factory=list)
    checklist: list[Record] = field(default_factory=list)
    status_events: list[Record] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    sync_state: SyncState = SyncState.synced

    def to_wuqing(self, user_names: dict[str, str] | None = None) -> wuqing.HouseholdBundle:
        def rows(records: list[Record]) -> list[dict[str, Any]]:
            return [r.as_dict() for r in records if not r.deleted]

        return wuqing.HouseholdBundle(
            household=self.household.as_dict(),
            members=rows(self.members),
            incomes=rows(self.incomes),
            measures=rows(self.measures),
            helpers=rows(self.helpers),
            visits=rows(self.visits),
            status_events=rows(self.status_events),
            checklist=rows(self.checklist),
            user_names=dict(user_names or {}),
        )

    def hints(self, hint_policy: HintPolicy,
              user_names: dict[str, str] | None = None) -> dict[str, wuqing.Hint]:
        return wuqing.compute_hints(self.to_wuqing(user_names), hint_policy)

    def verdicts(self, template_code: str = DEFAULT_TEMPLATE_CODE) -> dict[str, dict[str, Any]]:
        return wuqing.manual_verdicts(self.to_wuqing(), template_code)



_CHILD_LISTS = {
    "member": "members",
    "income_item": "incomes",
    "measure": "measures",
    "helper_assignment": "helpers",
    "visit": "visits",
    "checklist_item": "checklist",
    "status_event": "status_events",
}


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class Store:
    """The local SQLite database of one tablet."""

    def __init__(self, path: str | Path, device_id: str | None = None) -> None:
        self.path = str(path)
        self._lock = threading.RLock()
        self._depth = 0
        self._dirty: set[str] = set()
        self._stamp = _now()
        self._reference: dict[str, Any] | None = None
        # warnings of the last create/update (e.g. an ID region code not yet in use in the
        # birth year): saved anyway, shown to the user
        self.last_warnings: list[FieldError] = []
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                    timeout=30)
        self.conn.row_factory = sqlite3.Row
        self.conn.create_function("group_order", 1, group_order, deterministic=True)
        try:
            self._open(device_id)
        except BaseException:
            self.conn.close()
            raise

    def _open(self, device_id: str | None) -> None:
        if self.path != ":memory:":
            self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        with self._lock:
            local_schema.migrate(self.conn)
            with self.transaction():
                stored = self.get_meta("device_id")
                if device_id and stored and stored != device_id:
                    raise RuhuError(ErrorCode.sync_device_mismatch)
                if not stored:
                    device_id = device_id or f"tab-{uuid.uuid4().hex[:12]}"
                    if not DEVICE_ID_RE.match(device_id):
                        raise RuhuError(ErrorCode.auth_device_id_invalid)
                    self.set_meta("device_id", device_id)
                self.device_id: str = self.get_meta("device_id") or ""
                self._clock = HlcClock(self.device_id, self.get_meta("hlc"))
                # households whose roster index an upgrade left to compute
                self._dirty |= {r["household_id"] for r in self.conn.execute(
                    "SELECT household_id FROM household_index WHERE dirty = 1")}

    # --- plumbing ---------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (nested calls join the outer one)."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self.conn
                finally:
                    self._depth -= 1
                return
            self.conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self.conn
                self._flush_index()
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                self._dirty.clear()
                raise
            finally:
                self._depth = 0

    def _q(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self.conn.execute(sql, tuple(params)).fetchall()

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        """A read under the store's lock (for ``kivy_client.session`` and tests)."""
        return self._q(sql, params)

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        rows = self._q("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0]["value"] if rows else default

    def set_meta(self, key: str, value: str | None) -> None:
        with self.transaction() as c:
            if value is None:
                c.execute("DELETE FROM meta WHERE key = ?", (key,))
            else:
                c.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) "
                          "DO UPDATE SET value = excluded.value", (key, value))

    @property
    def schema_version(self) -> int:
        return local_schema.version(self.conn)

    # --- the current user (set by kivy_client.session) --------------------------------------

    def set_current_user(self, user_id: str | None, name: str | None = None,
                         scopes: list[str] | None = None, role: str | None = None) -> None:
        with self.transaction():
            self.set_meta("user_id", user_id)
            self.set_meta("user_name", name)
            self.set_meta("user_role", role)
            self.set_meta("user_scopes", _dumps(scopes) if scopes is not None else None)

    @property
    def current_user_id(self) -> str | None:
        return self.get_meta("user_id")

    @property
    def current_role(self) -> str | None:
        """The role of the user logged in on this tablet (as logged in, else from the offline
        accounts)."""
        user_id = self.current_user_id
        if not user_id:
            return None
        if role := self.get_meta("user_role"):
            return role
        rows = self._q("SELECT role FROM accounts WHERE user_id = ? LIMIT 1", (user_id,))
        return str(rows[0]["role"]) if rows else None

    @property
    def user_scopes(self) -> list[str]:
        raw = self.get_meta("user_scopes")
        return json.loads(raw) if raw else []

    # --- validation and generic edits ---------------------------------------------------------

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

    # --- domain edits used by the screens -----------------------------------------------------

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
        if template_code is None:
            head = self.get("household", household_id)
            template_code = self.hint_policy(head.fields if head else {}).template_code
        template = get_template(template_code)
        if template is None:
            raise _validation_error([FieldError(ErrorCode.validation_template_unknown,
                                                "template_code")])
        if item_code not in template.item_codes:
            raise _validation_error([FieldError(ErrorCode.validation_item_unknown, "item_code")])
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
        with self.transaction():
            for rec in self.children(household_id, "checklist_item"):
                if (rec.fields.get("template_code") == template_code
                        and rec.fields.get("item_code") == item_code):
                    self._check_checklist_role(item_code, fields, rec.fields.get("verdict"))
                    self.update("checklist_item", rec.id, fields)
                    return rec.id
            self._check_checklist_role(item_code, fields, None)
            return self.create("checklist_item", {**fields, "household_id": household_id,
                                                  "template_code": template_code,
                                                  "item_code": item_code})

    def _check_checklist_role(self, item_code: str, fields: dict[str, Any],
                              stored_verdict: Any) -> None:
        code = wuqing.checklist_role_error(self.current_role, item_code, fields, stored_verdict)
        if code is not None:
            raise _validation_error([FieldError(code, "verdict")])

    # --- reading ------------------------------------------------------------------------------

    def get(self, entity: str, record_id: str) -> Record | None:
        row = self._row(entity, record_id)
        return _record(row) if row is not None else None

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
        return bundle.hints(self.hint_policy(bundle.household.fields, today), self.user_names())

    def user_names(self) -> dict[str, str]:
        """Names of the users this tablet knows (the staff of the reference data and the user
        logged in): 帮扶责任清 matches a visitor to the helper by user id or name."""
        names = {str(r["id"]): str(r["name"]) for r in self.reference().get("staff") or []
                 if isinstance(r, dict) and r.get("id") and r.get("name")}
        user_id, name = self.current_user_id, self.get_meta("user_name")
        if user_id and name:
            names[user_id] = name
        return names

    def county_rules(self, village_code: str | None) -> CountyRules:
        """The rules of the village's county from the reference data (defaults when the
        server sent none)."""
        return policy.rules_for_village(village_code, self.reference().get("county_policies"))

    def hint_policy(self, household: dict[str, Any],
                    today: dt.date | None = None) -> HintPolicy:
        """The hint policy of one household (``today``: China's today)."""
        return policy.hint_policy(self.county_rules(household.get("village_code")), household,
                                  today)

    def search(self, query: str, **filters: Any) -> list[RosterRow]:
        """Households matching ``query`` (plus any ``RosterFilter`` fields as keywords)."""
        return self.roster(RosterFilter(query=query, **filters))

    def roster(self, flt: RosterFilter | None = None) -> list[RosterRow]:
        """Households of the local database (the user's villages), filtered, in 拼音 order."""
        flt = flt or RosterFilter()
        where = ["r.entity = 'household'", "r.deleted = 0"]
        params: list[Any] = []
        if flt.query:
            clause, qp = search_clause(flt.query)
            where.append(clause)
            params += qp
        if flt.village_codes:
            where.append("(" + " OR ".join("r.village_code LIKE ?" for _ in flt.village_codes)
                         + ")")
            params += [code + "%" for code in flt.village_codes]
        if flt.not_visited_this_month:
            month = (flt.today or policy.china_today()).strftime("%Y-%m")
            where.append("(hi.last_visit_at IS NULL OR substr(hi.last_visit_at, 1, 7) < ?)")
            params.append(month)
        if flt.wuqing_incomplete:
            where.append("hi.wuqing_complete = 0")
        if flt.has_conflict:
            where.append("EXISTS (SELECT 1 FROM issues i WHERE i.household_id = r.id"
                         " AND i.kind = 'conflict' AND i.status = 'open')")
        if flt.monitoring_category:
            where.append("json_extract(r.fields, '$.monitoring_category') = ?")
            params.append(flt.monitoring_category)
        sql = (
            "SELECT r.id, r.village_code,"
            " json_extract(r.fields, '$.head_name') AS head_name,"
            " json_extract(r.fields, '$.household_number') AS household_number,"
            " json_extract(r.fields, '$.group_name') AS group_name,"
            " json_extract(r.fields, '$.poverty_status') AS poverty_status,"
            " json_extract(r.fields, '$.monitoring_category') AS monitoring_category,"
            " hi.last_visit_at, hi.wuqing_complete, hi.wuqing_all_clear,"
            " (SELECT MAX(c.state_rank) FROM records c WHERE c.household_id = r.id) AS worst,"
            " (SELECT COUNT(*) FROM records m WHERE m.household_id = r.id"
            "   AND m.entity = 'member' AND m.deleted = 0) AS member_count,"
            " (SELECT COUNT(*) FROM issues i WHERE i.household_id = r.id"
            "   AND i.kind = 'conflict' AND i.status = 'open') AS open_conflicts"
            " FROM records r JOIN household_index hi ON hi.household_id = r.id"
            " WHERE " + " AND ".join(where)
            + " ORDER BY r.village_code, group_order(group_name), hi.sort_key, r.id"
        )
        if flt.limit:
            sql += f" LIMIT {int(flt.limit)}"
        return [
            RosterRow(
                id=row["id"], head_name=row["head_name"] or "",
                household_number=row["household_number"] or "",
                village_code=row["village_code"] or "", group_name=row["group_name"] or "",
                poverty_status=row["poverty_status"],
                monitoring_category=row["monitoring_category"],
                member_count=row["member_count"], last_visit_at=row["last_visit_at"],
                wuqing_checked=bool(row["wuqing_complete"]),
                wuqing_all_clear=bool(row["wuqing_all_clear"]),
                sync_state=BY_RANK.get(row["worst"] or 0, SyncState.synced),
                open_conflicts=row["open_conflicts"],
            )
            for row in self._q(sql, params)
        ]

    # --- sync states and issues ---------------------------------------------------------------

    def record_state(self, entity: str, record_id: str) -> SyncState:
        row = self._row(entity, record_id)
        return SyncState(row["sync_state"]) if row is not None else SyncState.synced

    def household_state(self, household_id: str) -> SyncState:
        """The worst sync state over the household and all its records."""
        rows = self._q("SELECT MAX(state_rank) AS worst FROM records WHERE household_id = ?",
                       (household_id,))
        return BY_RANK.get(rows[0]["worst"] or 0, SyncState.synced)

    def issues(self, entity: str | None = None, record_id: str | None = None, *,
               open_only: bool = False) -> list[Issue]:
        where, params = ["1"], []
        if entity:
            where.append("entity = ?")
            params.append(entity)
        if record_id:
            where.append("record_id = ?")
            params.append(record_id)
        if open_only:
            where.append("status = 'open'")
        rows = self._q("SELECT * FROM issues WHERE " + " AND ".join(where)
                       + " ORDER BY created_at", params)
        return [_issue(r) for r in rows]

    def household_issues(self, household_id: str, *, open_only: bool = False) -> list[Issue]:
        rows = self._q("SELECT * FROM issues WHERE household_id = ?"
                       + (" AND status = 'open'" if open_only else "") + " ORDER BY created_at",
                       (household_id,))
        return [_issue(r) for r in rows]

    def pending_count(self) -> int:
        return int(self._q("SELECT COUNT(*) AS n FROM outbox")[0]["n"])

    def conflict_count(self) -> int:
        return int(self._q("SELECT COUNT(*) AS n FROM issues WHERE kind = 'conflict'"
                           " AND status = 'open'")[0]["n"])

    def rejection_count(self) -> int:
        return int(self._q("SELECT COUNT(*) AS n FROM issues WHERE kind = 'rejection'"
                           " AND status = 'open'")[0]["n"])

    def status_summary(self) -> dict[str, Any]:
        """For the status bar: last sync, pending changes and attachments, conflicts, rejections."""
        return {
            "last_sync_at": self.get_meta("last_sync_at"),
            "pending": self.pending_count(),
            "pending_attachments": len(self.pending_attachments()),
            "conflicts": self.conflict_count(),
            "rejections": self.rejection_count(),
        }

    # --- the outbox (used by kivy_client.sync) ------------------------------------------------

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

    # --- pull ----------------------------------------------------------------------------------

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
                ref = dict(self.reference())
                ref.update(page.reference)
                self.set_meta("reference", _dumps(ref))
                self._reference = None
            c.execute("UPDATE records SET village_code = (SELECT h.village_code FROM records h"
                      " WHERE h.entity = 'household' AND h.id = records.household_id)"
                      " WHERE village_code IS NULL AND entity != 'household'")
            self.set_meta("cursor", page.next_cursor)
        return len(page.changes)

    def reference(self) -> dict[str, Any]:
        """Reference data of the last download (regions, templates, policies, staff, labels)."""
        if self._reference is None:
            self._reference = json.loads(self.get_meta("reference") or "{}")
        return self._reference

    # --- attachments --------------------------------------------------------------------------

    def add_attachment(self, data: bytes | Path | str, mime: str) -> str:
        """Queue a photo/scan for upload; returns its sha256 (the id records reference)."""
        path: str | None = None
        if isinstance(data, (str, Path)):
            path = str(data)
            blob = Path(data).read_bytes()
        else:
            blob = data
        sha = hashlib.sha256(blob).hexdigest()
        with self.transaction() as c:
            c.execute(
                "INSERT INTO attachments (sha256, path, data, mime, size, status, created_at)"
                " VALUES (?, ?, ?, ?, ?, 'pending', ?) ON CONFLICT(sha256) DO NOTHING",
                (sha, path, None if path else blob, mime, len(blob), _now()),
            )
        return sha

    def pending_attachments(self) -> list[Attachment]:
        rows = self._q("SELECT sha256, mime, size, status, path, error FROM attachments"
                       " WHERE status != 'uploaded' ORDER BY created_at")
        return [Attachment(**dict(r)) for r in rows]

    def attachment_bytes(self, sha256: str) -> bytes | None:
        rows = self._q("SELECT data, path FROM attachments WHERE sha256 = ?", (sha256,))
        if not rows:
            return None
        if rows[0]["data"] is not None:
            return bytes(rows[0]["data"])
        try:
            return Path(rows[0]["path"]).read_bytes()
        except OSError:
            return None

    def mark_attachment(self, sha256: str, status: str, error: str | None = None) -> None:
        with self.transaction() as c:
            c.execute("UPDATE attachments SET status = ?, error = ? WHERE sha256 = ?",
                      (status, error, sha256))

    # --- logout / export ----------------------------------------------------------------------

    def has_unsynced_work(self) -> bool:
        return self.pending_count() > 0 or bool(self.pending_attachments())

    def outbox_export(self, user_id: str | None = None, username: str = "",
                      ) -> outbox_export.OutboxExport:
        """Every unsynced change, as pushed, and the bytes of every attachment not yet uploaded,
        attributed to the user who made them (the tablet's data owner)."""
        with self._lock:
            changes = [c.wire() for c in self.outbox(limit=10**9, max_bytes=10**12)]
            attachments = []
            for att in self.pending_attachments():
                data = self.attachment_bytes(att.sha256)
                if data is not None:
                    attachments.append({"sha256": att.sha256, "mime": att.mime, "data": data})
            owner = user_id or self.get_meta("data_owner") or self.current_user_id or ""
        return outbox_export.OutboxExport(
            user_id=owner, username=username, device_id=self.device_id, exported_at=_now(),
            changes=changes, attachments=attachments)

    def export_outbox(self, path: str | Path, *, user_id: str | None = None,
                      username: str = "") -> Path:
        """Write the outbox export (``sync_protocol.outbox_export``) to ``path`` (via a temporary
        file and a rename, flushed to disk), for ``ruhu import-outbox`` or the console."""
        path = Path(path)
        data = self.outbox_export(user_id, username).dumps()
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        return path

    def verify_export(self, path: str | Path) -> bool:
        """Read the written file back: it parses, and its changes (count and checksum) and
        attachments are exactly the outbox's now. Only then may the local copy go."""
        try:
            got = outbox_export.parse(Path(path).read_bytes())
        except (OSError, RuhuError):
            return False
        want = self.outbox_export(got.user_id, got.username)
        return (got.device_id == self.device_id and len(got.changes) == len(want.changes)
                and got.sha256 == want.sha256
                and {a["sha256"] for a in got.attachments}
                == {a["sha256"] for a in want.attachments}
                and len(want.attachments) == len(self.pending_attachments()))

    def wipe(self) -> None:
        """Remove every record, change, issue and attachment (logout after export)."""
        self._reference = None
        with self.transaction() as c:
            for table in ("records", "outbox", "issues", "attachments", "household_index"):
                c.execute(f"DELETE FROM {table}")
            for key in ("cursor", "reference", "user_id", "user_name", "user_scopes",
                        "last_sync_at", "data_owner"):
                c.execute("DELETE FROM meta WHERE key = ?", (key,))

    # --- internals ----------------------------------------------------------------------------

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

    def _row(self, entity: str, record_id: str) -> sqlite3.Row | None:
        rows = self._q("SELECT * FROM records WHERE entity = ? AND id = ?", (entity, record_id))
        return rows[0] if rows else None

    def _placement(self, entity: str, record_id: str,
                   fields: dict[str, Any]) -> tuple[str | None, str | None]:
        """(household_id, village_code) of a record, from its fields and its household."""
        if entity == "household":
            return record_id, fields.get("village_code")
        household_id = fields.get("household_id")
        if household_id is None:
            return None, None
        head = self._row("household", str(household_id))
        return str(household_id), (head["village_code"] if head is not None else None)

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

    def _store_conflict(self, c: sqlite3.Connection, conflict: dict[str, Any]) -> None:
        entity, record_id = conflict["entity"], conflict["record_id"]
        row = self._row(entity, record_id)
        household_id = conflict.get("household_id") or (row["household_id"] if row else None)
        if entity == "household":
            household_id = record_id
        old = c.execute("SELECT payload, created_at FROM issues WHERE id = ?",
                        (conflict["id"],)).fetchone()
        payload = json.loads(old["payload"]) if old else {}
        payload["conflict"] = conflict
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

    def _touch(self, household_id: str | None) -> None:
        if household_id:
            self._dirty.add(household_id)

    def _flush_index(self) -> None:
        """Recompute the roster index (search keys, last visit, 五清 complete) of touched
        households, inside the transaction that touched them."""
        dirty, self._dirty = self._dirty, set()
        for household_id in dirty:
            self._index_household(household_id)

    def _index_household(self, household_id: str) -> None:
        c = self.conn
        rows = c.execute("SELECT entity, id, fields, deleted FROM records"
                         " WHERE household_id = ?", (household_id,)).fetchall()
        head = next((r for r in rows if r["entity"] == "household"), None)
        if head is None:
            c.execute("DELETE FROM household_index WHERE household_id = ?", (household_id,))
            return
        lists: dict[str, list[dict[str, Any]]] = {name: [] for name in _CHILD_LISTS.values()}
        for r in rows:
            if r["entity"] in _CHILD_LISTS and not r["deleted"]:
                lists[_CHILD_LISTS[r["entity"]]].append({**json.loads(r["fields"]), "id": r["id"]})
        hh = json.loads(head["fields"])
        members = lists["members"]
        keys = household_keys(
            hh.get("head_name"), hh.get("household_number"), hh.get("head_id_number"),
            [m.get("name") or "" for m in members], [m.get("id_number") or "" for m in members],
        )
        last_visit = _last_moment(v.get("visited_at") for v in lists["visits"]
                                  if visit_counts(v))
        bundle = wuqing.HouseholdBundle(household={**hh, "id": household_id},
                                        checklist=lists["checklist"])
        template = self._template(hh)
        c.execute(
            "INSERT OR REPLACE INTO household_index (household_id, search_text, initials, sort_key,"
            " id_numbers, last_visit_at, wuqing_complete, wuqing_all_clear, dirty)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)",
            (household_id, keys["search_text"], keys["initials"], keys["sort_key"],
             keys["id_numbers"], last_visit, int(wuqing.is_checked(bundle, template)),
             int(wuqing.is_all_clear(bundle, template))),
        )

    def _template(self, household: dict[str, Any]) -> ChecklistTemplateDef:
        return self.checklist_template(self.hint_policy(household).template_code)

    def checklist_template(self, code: str) -> ChecklistTemplateDef:
        """The template of that code as the server sent it (the county's titles), else the
        built-in one."""
        return template_from(code, self.reference().get("checklist_templates"))

    def reindex(self) -> None:
        """Rebuild the roster index of every household (after a schema upgrade)."""
        with self.transaction() as c:
            self._dirty = {r["id"] for r in c.execute(
                "SELECT id FROM records WHERE entity = 'household'")}


def _last_moment(values: Iterable[Any]) -> str | None:
    """The latest of ISO moments, in China time (so that its first 7 characters are the month
    of the visit in China, the month the roster filter compares)."""
    moments = []
    for value in values:
        try:
            moments.append(policy.china_now(dt.datetime.fromisoformat(
                str(value).replace("Z", "+00:00"))))
        except ValueError:
            continue
    return max(moments).isoformat() if moments else None


def _refuse_derived(current: dict[str, Any] | None, changed: dict[str, Any]) -> None:
    """The monitoring fields are set only by approved procedures (the server's rule, offline)."""
    refusal = derived_field_refusal(current, changed)
    if refusal is not None and refusal.code is not None:
        raise _validation_error([_labelled(FieldError(refusal.code, refusal.field))])


def _labelled(error: FieldError) -> FieldError:
    if error.field in FIELD_LABELS:
        error.message = f"{FIELD_LABELS[error.field]}：{error.message}"
    return error


def _record(row: sqlite3.Row) -> Record:
    return Record(
        entity=row["entity"], id=row["id"], fields=json.loads(row["fields"]),
        version=row["version"], deleted=bool(row["deleted"]), household_id=row["household_id"],
        village_code=row["village_code"], sync_state=SyncState(row["sync_state"]),
        updated_at=row["updated_at"],
    )


def _outbox(row: sqlite3.Row) -> OutboxChange:
    return OutboxChange(
        seq=row["seq"], change_id=row["change_id"], entity=row["entity"],
        record_id=row["record_id"], op=row["op"], base_version=row["base_version"],
        fields=json.loads(row["fields"]), hlc=row["hlc"], status=row["status"],
        attempts=row["attempts"],
    )


def _issue(row: sqlite3.Row) -> Issue:
    payload = json.loads(row["payload"])
    return Issue(
        id=row["id"], kind=row["kind"], entity=row["entity"], record_id=row["record_id"],
        household_id=row["household_id"], field=row["field"], status=row["status"],
        message=explain(row["kind"], row["entity"], row["status"], payload),
        payload=payload, created_at=row["created_at"],
    )
