"""Value types of the tablet's local store (``kivy_client.store``): sync states, records,
outbox changes, issues, attachments, roster rows, household files, and the row readers."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sync_protocol import wuqing
from sync_protocol.errors import FieldError, RuhuError
from sync_protocol.explain import explain
from sync_protocol.policy import HintPolicy
from sync_protocol.templates import DEFAULT_TEMPLATE_CODE, ChecklistTemplateDef


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
    household_type: str | None = None  # 户类型 (the current status with monitoring_status)
    monitoring_status: str | None = None

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

    def hints(self, hint_policy: HintPolicy, user_names: dict[str, str] | None = None,
              template: ChecklistTemplateDef | None = None) -> dict[str, wuqing.Hint]:
        return wuqing.compute_hints(self.to_wuqing(user_names), hint_policy, template)

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
