"""Pydantic models of the sync protocol v1 messages (docs: ../shared/docs/sync-protocol.md)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from .input_rules import multi_line

MAX_CHANGES_PER_PUSH = 500
MAX_PUSH_BYTES = 2 * 1024 * 1024
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
DEFAULT_PULL_LIMIT = 500
MAX_PULL_LIMIT = 2000
# A page in column form (``sync_protocol.columns``) may hold more records: a page of 20,000 is
# about 8 MB of columns before compression, and a village's whole file in pages of 20,000 is
# 1.44 MB on the wire where pages of 2,000 are 1.85 MB (zstd).
MAX_COLUMN_PULL_LIMIT = 20_000
# A tablet's first download asks for the largest pages: a page compresses better the more
# records it holds. Later pulls keep pages of 500: in the end-of-day storm big catch-up pages held
# the cores the pushes waited for (docs/performance.md, session 7).
TABLET_FIRST_PULL_LIMIT = MAX_COLUMN_PULL_LIMIT
# The pull parameter a client names the tag of the reference data it holds with ("" for none):
# the first page of each round then carries ``reference`` only when the server's differs. A client
# that sends none gets it on the first page of an initial download only (docs/protocol.md).
REFERENCE_TAG_PARAM = "reference_tag"
MAX_REFERENCE_TAG_LENGTH = 100
PROTOCOL_HEADER = "X-Ruhu-Protocol"
APP_VERSION_HEADER = "X-Ruhu-App-Version"

ChangeStatus = Literal["applied", "merged", "conflict", "duplicate", "rejected"]


class Change(BaseModel):
    """One client change. Its shape is checked per change, so one bad change never fails a batch."""

    model_config = ConfigDict(extra="allow")

    change_id: uuid.UUID
    seq: int | None = None
    entity: str
    record_id: uuid.UUID
    op: str = "upsert"
    base_version: int | None = None
    fields: dict[str, Any] = Field(default_factory=dict)
    hlc: str


class PushRequest(BaseModel):
    protocol: int = 1
    device_id: str
    changes: list[dict[str, Any]]


class ErrorBody(BaseModel):
    code: str
    message: str
    field: str | None = None


class ChangeResult(BaseModel):
    change_id: str
    status: ChangeStatus
    record_id: str | None = None
    version: int | None = None
    conflict_id: str | None = None
    conflict_ids: list[str] | None = None
    error: ErrorBody | None = None
    warnings: list[ErrorBody] | None = None
    original_status: ChangeStatus | None = None  # of a ``duplicate``: the first answer's status

    def is_plain(self) -> bool:
        """Only ``change_id``, ``status``, ``record_id`` and ``version``, all known: nearly
        every result of a push."""
        return (self.record_id is not None and self.version is not None
                and self.conflict_id is None and self.conflict_ids is None
                and self.error is None and self.warnings is None
                and self.original_status is None)

    def to_wire(self) -> dict[str, Any]:
        """The result as a push answers it: ``change_id``, ``status``, ``record_id`` and
        ``version`` always (``null`` when unknown), every other key only when it has a value."""
        if self.is_plain():  # the same dict as below, in the same key order, ten times cheaper
            return {"change_id": self.change_id, "status": self.status,
                    "record_id": self.record_id, "version": self.version}
        out = self.model_dump(exclude_none=True)
        out.setdefault("record_id", None)
        out.setdefault("version", None)
        return out

    @classmethod
    def of_error(cls, change_id: str, record_id: str | None, error: dict[str, Any],
                 ) -> ChangeResult:
        """A rejected change's result (``error`` as ``FieldError.to_dict`` gives it)."""
        return cls(change_id=change_id, status="rejected", record_id=record_id,
                   error=ErrorBody(**error))


class PushResponse(BaseModel):
    results: list[ChangeResult]
    server_time: str


class PulledRecord(BaseModel):
    entity: str
    record_id: str
    version: int
    deleted: bool
    fields: dict[str, Any]


class ConflictSide(BaseModel):
    value: Any = None
    user_id: str | None = None
    user_name: str | None = None
    device_id: str | None = None
    hlc: str | None = None
    version: int | None = None


class ConflictRecord(BaseModel):
    id: str
    kind: Literal["field", "delete_edit", "duplicate_record"]
    entity: str
    record_id: str
    other_record_id: str | None = None
    household_id: str | None = None
    village_code: str
    field: str | None = None
    base_value: Any = None
    server: ConflictSide
    client: ConflictSide
    status: Literal["open", "resolved"]
    resolution: str | None = None
    resolved_value: Any = None
    resolved_by: str | None = None
    resolved_by_name: str | None = None  # the clerk's name, for the cadre whose value lost
    resolved_at: str | None = None
    note: str | None = None
    detected_at: str


class PullResponse(BaseModel):
    changes: list[PulledRecord]
    conflicts: list[ConflictRecord] = Field(default_factory=list)
    removed: list[dict[str, str]] = Field(default_factory=list)
    reference: dict[str, Any] | None = None
    next_cursor: str
    has_more: bool
    reset: bool = False


class ResolveRequest(BaseModel):
    resolution: Literal["keep_server", "take_client", "custom", "merge", "distinct"]
    value: Any = None
    survivor_id: uuid.UUID | None = None
    note: Annotated[str, BeforeValidator(multi_line)] | None = Field(default=None, max_length=2000)


class TokenUser(BaseModel):
    id: str
    name: str
    role: str
    scopes: list[str]


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    user: TokenUser
