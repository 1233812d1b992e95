"""SQLModel tables for every entity of domain.md plus users, devices, sync bookkeeping.

A synced table's record fields (``head_name``, ``causes`` ...) are not declared here: they are the
fields of the entity in ``sync_protocol.entities``, made into columns by ``server/db/columns.py``
(``add_record_fields``); this module declares only the server's own columns and the indexes.
Synced tables share the columns of ``SyncedRecord``: the record's ``version``, a tombstone flag,
the version and HLC at which each field last changed (the merge engine needs both), the village
code (denormalised onto child records so scoped pulls need no join). Record tables carry no
transaction id and no index on a column a normal update changes, so updates can be HOT
(heap-only, migration 0015): incremental pulls read the change log's ``txid`` instead
(docs/protocol.md).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel
from sqlmodel.main import SQLModelMetaclass

from server.db.columns import add_record_fields
from sync_protocol.policy import DEFAULT_INCOME_DROP_SHARE
from sync_protocol.validation import REGION_CODE_LENGTH

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION

TXID_DEFAULT = sa.text("(pg_current_xact_id()::text)::bigint")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _tz(**kw: Any) -> Any:
    return Field(sa_type=sa.DateTime(timezone=True), **kw)


def _json(default: Any, **kw: Any) -> Any:
    return Field(default_factory=default, sa_type=JSONB, sa_column_kwargs={"nullable": False}, **kw)


def _amount(**kw: Any) -> Any:
    return Field(sa_type=sa.Numeric(14, 2, asdecimal=False), **kw)  # income lines


class RecordMeta(SQLModelMetaclass):
    """The metaclass of the synced tables. Their record fields are built from sync_protocol when
    the class is (``add_record_fields``), so a type checker cannot list them: to mypy, a name
    the class does not declare (``Household.head_name``) is ``Any``; at run time, nothing."""

    if TYPE_CHECKING:
        def __getattr__(cls, name: str) -> Any: ...


class SyncedRecord(SQLModel, metaclass=RecordMeta):
    """Columns every synced record carries (see module docstring)."""

    if TYPE_CHECKING:  # a row's record fields (see ``RecordMeta``)
        def __getattr__(self, name: str) -> Any: ...

    id: uuid.UUID = Field(primary_key=True)
    # no index of its own: each table's (village_code, id) index leads with it
    village_code: str = Field(max_length=REGION_CODE_LENGTH)
    version: int = Field(default=1)
    deleted: bool = Field(default=False)
    # per field: version and clock of its last write *as of the record's creation* (or of
    # migration 0016); later writes are in the change log (``sync_protocol.merge.replay``)
    field_versions: dict[str, int] = _json(dict)
    field_hlcs: dict[str, str] = _json(dict)
    created_at: dt.datetime = _tz(default_factory=utcnow)
    updated_at: dt.datetime = _tz(default_factory=utcnow)
    created_by: uuid.UUID | None = None
    updated_by: uuid.UUID | None = None
    updated_device: str | None = Field(default=None, max_length=64)


class HouseholdChild(SyncedRecord):
    household_id: uuid.UUID = Field(foreign_key="household.id", index=True)


class Household(SyncedRecord, table=True):
    __table_args__ = (
        sa.Index("ix_household_scope", "village_code", "id"),
        sa.Index("ix_household_head_id_number", "head_id_number"),
        sa.Index("ix_household_household_number", "household_number"),
    )
    add_record_fields(vars(), "household")


class Member(HouseholdChild, table=True):
    __table_args__ = (
        sa.Index("ix_member_scope", "village_code", "id"),
        sa.Index("ix_member_id_number", "id_number"),
    )
    add_record_fields(vars(), "member")


class IncomeItem(HouseholdChild, table=True):
    __tablename__ = "income_item"
    # (household_id, year) instead of household_id alone: the latest year's income of every
    # household (应纳未纳) is an index-only scan per household, with no extra index to write
    __table_args__ = (sa.Index("ix_income_item_scope", "village_code", "id"),
                      sa.Index("ix_income_item_household_year", "household_id", "year",
                               postgresql_include=["category", "amount", "deleted"]))
    household_id: uuid.UUID = Field(foreign_key="household.id")
    add_record_fields(vars(), "income_item")


class Measure(HouseholdChild, table=True):
    __table_args__ = (sa.Index("ix_measure_scope", "village_code", "id"),)
    add_record_fields(vars(), "measure")


class HelperAssignment(HouseholdChild, table=True):
    __tablename__ = "helper_assignment"
    __table_args__ = (sa.Index("ix_helper_assignment_scope", "village_code", "id"),)
    add_record_fields(vars(), "helper_assignment")


class Visit(HouseholdChild, table=True):
    __table_args__ = (sa.Index("ix_visit_scope", "village_code", "id"),)
    add_record_fields(vars(), "visit")


class ChecklistItem(HouseholdChild, table=True):
    __tablename__ = "checklist_item"
    __table_args__ = (sa.Index("ix_checklist_item_scope", "village_code", "id"),)
    add_record_fields(vars(), "checklist_item")


class StatusEvent(HouseholdChild, table=True):
    __tablename__ = "status_event"
    __table_args__ = (sa.Index("ix_status_event_scope", "village_code", "id"),)
    add_record_fields(vars(), "status_event")


class Procedure(HouseholdChild, table=True):
    """A monitoring procedure (纳入监测 / 风险消除): sync_protocol.procedure judges its moves."""

    __table_args__ = (sa.Index("ix_procedure_scope", "village_code", "id"),)
    add_record_fields(vars(), "procedure")


SYNCED_TABLES: dict[str, type[SyncedRecord]] = {
    "household": Household,
    "member": Member,
    "income_item": IncomeItem,
    "measure": Measure,
    "helper_assignment": HelperAssignment,
    "visit": Visit,
    "checklist_item": ChecklistItem,
    "status_event": StatusEvent,
    "procedure": Procedure,
}


# --- people, devices, reference data ---------------------------------------------------------


class User(SQLModel, table=True):
    __tablename__ = "app_user"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=100)
    role: str = Field(max_length=30)
    phone: str | None = Field(default=None, max_length=20)
    unit: str | None = Field(default=None, max_length=100)
    password_hash: str = Field(max_length=255)
    scopes: list[str] = _json(list)
    scope_version: int = Field(default=1)
    disabled: bool = Field(default=False)
    created_at: dt.datetime = _tz(default_factory=utcnow)
    updated_at: dt.datetime = _tz(default_factory=utcnow)


class Device(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("user_id", "device_id", name="uq_device_user_device"),)
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    device_id: str = Field(max_length=64, index=True)
    user_id: uuid.UUID = Field(foreign_key="app_user.id", index=True)
    app_version: str | None = Field(default=None, max_length=30)
    first_seen: dt.datetime = _tz(default_factory=utcnow)
    last_seen: dt.datetime = _tz(default_factory=utcnow)
    last_sync_at: dt.datetime | None = _tz(default=None)
    last_seq: int | None = None
    # the lowest seq of the device's latest push: every change of this device with a lower seq
    # has left its outbox (the tablet sends its outbox as a prefix in seq order), so receipts
    # below it may be pruned; ``receipts_pruned_below``: some were, below this seq, so a change
    # below it without a receipt is refused, never applied (docs/protocol.md, Retention)
    outbox_floor_seq: int | None = Field(default=None, sa_type=sa.BigInteger)
    receipts_pruned_below: int | None = Field(default=None, sa_type=sa.BigInteger)
    max_clock_skew_ms: int = Field(default=0, sa_type=sa.BigInteger)
    revoked: bool = Field(default=False)
    revoked_at: dt.datetime | None = _tz(default=None)


class AuthSession(SQLModel, table=True):
    """One issued access token, named by its ``jti``: logging out revokes it.

    Every request checks its row (by primary key, in the statement that loads the principal).
    Rows are deleted once the token has expired, revoked or not (server/sessions.py).
    """

    __tablename__ = "auth_session"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="app_user.id", index=True)
    device_id: str = Field(max_length=64)
    issued_at: dt.datetime = _tz(default_factory=utcnow)
    expires_at: dt.datetime = _tz(index=True)
    revoked_at: dt.datetime | None = _tz(default=None)


class LoginThrottle(SQLModel, table=True):
    """Failed-login counters shared by every worker (server/login_throttle.py).

    ``key`` is a SHA-256 of the counter's kind and subject (account at an address, address,
    account), so usernames typed by mistake (a password in the name field) are not kept.
    """

    __tablename__ = "login_throttle"
    key: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=10)
    failures: int = Field(default=0)
    last_failure_at: dt.datetime = _tz(default_factory=utcnow, index=True)
    locked_until: dt.datetime | None = _tz(default=None)


class Region(SQLModel, table=True):
    code: str = Field(primary_key=True, max_length=12)
    name: str = Field(max_length=100)
    level: str = Field(max_length=20)
    parent_code: str | None = Field(default=None, max_length=12, index=True)


class ChecklistTemplate(SQLModel, table=True):
    __tablename__ = "checklist_template"
    code: str = Field(primary_key=True, max_length=100)
    name: str = Field(max_length=100)
    items: list[dict[str, Any]] = _json(list)
    active: bool = Field(default=True)
    updated_at: dt.datetime = _tz(default_factory=utcnow)


class IncomeLine(SQLModel, table=True):
    __tablename__ = "income_line"
    province: str = Field(primary_key=True, max_length=2)
    year: int = Field(primary_key=True)
    amount: float = _amount()
    monitoring_amount: float | None = _amount(default=None)


class CountyPolicy(SQLModel, table=True):
    """Per-county rules, e.g. how often monitored households must be visited."""

    __tablename__ = "county_policy"
    county_code: str = Field(primary_key=True, max_length=6)
    visit_interval_days: int = Field(default=30)
    monitored_visit_interval_days: int = Field(default=30)
    stale_after_days: int = Field(default=180)
    checklist_template: str = Field(default="wuqing.v1", max_length=100)
    # monitoring procedures (sync_protocol.procedure.ProcedurePolicy)
    notice_days: int = Field(default=5)
    entry_deadline_days: int = Field(default=15)
    min_monitored_days: int = Field(default=180)
    # the monitoring income line by year: {"2025": 7000.0}
    monitoring_lines: dict[str, float] = _json(dict)
    # 应纳未纳: a fall of 人均纯收入 by more than this share against the year before
    income_drop_share: float = Field(default=DEFAULT_INCOME_DROP_SHARE)
    updated_at: dt.datetime = _tz(default_factory=utcnow)


class Attachment(SQLModel, table=True):
    sha256: str = Field(primary_key=True, max_length=64)
    mime_type: str = Field(max_length=50)
    size: int
    uploaded_by: uuid.UUID | None = None
    device_id: str | None = Field(default=None, max_length=64)
    uploaded_at: dt.datetime = _tz(default_factory=utcnow)


class AttachmentHolder(SQLModel, table=True):
    """Who has uploaded an attachment's bytes (each proved it holds them: the hash was checked).
    Only these users, and users whose scope already cites it, may cite it in their records."""

    __tablename__ = "attachment_holder"
    sha256: str = Field(primary_key=True, foreign_key="attachment.sha256", max_length=64)
    user_id: uuid.UUID = Field(primary_key=True)
    uploaded_at: dt.datetime = _tz(default_factory=utcnow)


class AttachmentBlob(SQLModel, table=True):
    """The bytes of an attachment, apart from its metadata so listings never load them."""

    __tablename__ = "attachment_blob"
    sha256: str = Field(primary_key=True, foreign_key="attachment.sha256", max_length=64)
    data: bytes = Field(sa_type=sa.LargeBinary)


# --- sync bookkeeping ------------------------------------------------------------------------


class ChangeLog(SQLModel, table=True):
    """Every accepted change: who, which device, when, which fields, old and new values; and the
    feed of incremental pulls (``txid``, the writing transaction). A row with ``op`` ``follow``
    and no ``household_id`` only feeds the pull: a child that followed its moved household into
    another village (or a record carried over by migration 0015); no history page shows it."""

    __tablename__ = "change_log"
    # what incremental pulls page through (server/sync/pull.py)
    __table_args__ = (sa.Index("ix_change_log_scope_txid", "village_code", "txid", "id"),)
    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    entity: str = Field(max_length=30)
    # a record's field writes, replayed over its stored per-field maps (migration 0016)
    record_id: uuid.UUID = Field(index=True)
    # a household's history, and a record's (record_id filters it)
    household_id: uuid.UUID | None = Field(default=None, index=True)
    village_code: str = Field(max_length=12)
    op: str = Field(max_length=20)
    version: int
    change_id: uuid.UUID | None = None
    hlc: str | None = Field(default=None, max_length=100)
    user_id: uuid.UUID | None = None
    device_id: str | None = Field(default=None, max_length=64)
    source: str = Field(default="sync", max_length=20)
    changes: dict[str, Any] = _json(dict)
    at: dt.datetime = _tz(default_factory=utcnow)
    txid: int = Field(sa_type=sa.BigInteger, sa_column_kwargs={"server_default": TXID_DEFAULT})


class ScopeExit(SQLModel, table=True):
    """A record left a village (its household moved): the old village's devices are told on
    their next pull (``removed``), since pulls only send records in the *current* scope."""

    __tablename__ = "scope_exit"
    __table_args__ = (sa.Index("ix_scope_exit_scope_txid", "village_code", "txid", "id"),)
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    entity: str = Field(max_length=30)
    record_id: uuid.UUID
    village_code: str = Field(max_length=12)  # the village it left
    txid: int = Field(sa_type=sa.BigInteger, sa_column_kwargs={"server_default": TXID_DEFAULT})
    at: dt.datetime = _tz(default_factory=utcnow)


class SyncReceipt(SQLModel, table=True):
    """The result of a processed change, so a replay gets the same answer (idempotency)."""

    __tablename__ = "sync_receipt"
    change_id: uuid.UUID = Field(primary_key=True)
    user_id: uuid.UUID
    device_id: str = Field(max_length=64)
    seq: int | None = Field(default=None, sa_type=sa.BigInteger)
    entity: str | None = Field(default=None, max_length=30)
    record_id: uuid.UUID | None = None
    status: str = Field(max_length=20)
    version: int | None = None
    # only what ``status``, ``record_id`` and ``version`` do not already say (conflict ids,
    # warnings); NULL for the plain results that are nearly all of them
    result: dict[str, Any] | None = Field(default=None, sa_type=JSONB)
    at: dt.datetime = _tz(default_factory=utcnow)


class SyncRetention(SQLModel, table=True):
    """One row: how far scope exits have been pruned. An incremental cursor whose round starts
    below ``scope_exit_horizon`` may have missed a removal and restarts (``reset``)."""

    __tablename__ = "sync_retention"
    __table_args__ = (sa.CheckConstraint("id = 1", name="one_row"),)
    id: int = Field(default=1, primary_key=True, sa_type=sa.SmallInteger)
    scope_exit_horizon: int = Field(default=0, sa_type=sa.BigInteger,
                                    sa_column_kwargs={"server_default": "0"})
    pruned_at: dt.datetime | None = _tz(default=None)


class SyncRejection(SQLModel, table=True):
    """A change the server rejected (nothing of it was written): what the quality dashboard
    lists per device. Not a receipt: a corrected change sent again is judged afresh."""

    __tablename__ = "sync_rejection"
    __table_args__ = (sa.Index("ix_sync_rejection_user_at", "user_id", "at"),)
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID
    device_id: str = Field(max_length=64)
    change_id: str | None = Field(default=None, max_length=100)  # as sent: it may be malformed
    entity: str | None = Field(default=None, max_length=30)
    record_id: str | None = Field(default=None, max_length=100)
    code: str = Field(max_length=60)
    field: str | None = Field(default=None, max_length=60)
    message: str = Field(max_length=500)
    at: dt.datetime = _tz(default_factory=utcnow)


class Conflict(SQLModel, table=True):
    """A value that lost (or might have) — kept for a township clerk, never dropped."""

    __table_args__ = (
        sa.Index("ix_conflict_scope_status", "village_code", "status"),
        sa.Index("ix_conflict_scope_txid", "village_code", "txid", "id"),
        sa.Index("ix_conflict_record", "entity", "record_id"),
    )
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    kind: str = Field(max_length=30)
    entity: str = Field(max_length=30)
    record_id: uuid.UUID
    other_record_id: uuid.UUID | None = None
    household_id: uuid.UUID | None = None
    village_code: str = Field(max_length=12)
    field: str | None = Field(default=None, max_length=100)
    base_version: int | None = None
    base_value: Any = Field(default=None, sa_type=JSONB)
    server_value: Any = Field(default=None, sa_type=JSONB)
    server_user_id: uuid.UUID | None = None
    server_device_id: str | None = Field(default=None, max_length=64)
    server_hlc: str | None = Field(default=None, max_length=100)
    server_version: int | None = None
    client_value: Any = Field(default=None, sa_type=JSONB)
    client_user_id: uuid.UUID | None = None
    client_device_id: str | None = Field(default=None, max_length=64)
    client_hlc: str | None = Field(default=None, max_length=100)
    client_change_id: uuid.UUID | None = None
    detected_at: dt.datetime = _tz(default_factory=utcnow)
    status: str = Field(default="open", max_length=20)
    resolution: str | None = Field(default=None, max_length=30)
    resolved_value: Any = Field(default=None, sa_type=JSONB)
    resolved_by: uuid.UUID | None = None
    resolved_at: dt.datetime | None = _tz(default=None)
    note: str | None = Field(default=None, max_length=2000)
    txid: int = Field(sa_type=sa.BigInteger, sa_column_kwargs={"server_default": TXID_DEFAULT})


class AuditLog(SQLModel, table=True):
    """Exports, imports, logins, user administration: who did what when."""

    __tablename__ = "audit_log"
    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    user_id: uuid.UUID | None = Field(default=None, index=True)
    action: str = Field(max_length=50, index=True)
    detail: dict[str, Any] = _json(dict)
    at: dt.datetime = _tz(default_factory=utcnow)
