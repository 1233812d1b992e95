"""A batch's working types and its first step: the checks of each change on its own.

``records.run`` runs the steps: ``prepare`` (here: no database), ``load`` (lock the touched
rows), ``merge_step`` (merge in Python, conflicts, duplicates), ``write`` (bulk writes). All SQL
is in ``sql``. A batch comes from a device's push or from a server-side operation
(``operations``); its ``Origin`` says which.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from server.sync.values import LIST_FIELDS, NOT_NULL_FIELDS
from sync_protocol.entities import ENTITIES, record_errors, validate_fields
from sync_protocol.errors import ErrorCode, FieldError
from sync_protocol.hlc import HLC_RE, Hlc, clamp_parts, now_ms
from sync_protocol.merge import DELETE, OPS, Stored
from sync_protocol.validation import check_id_number
from sync_protocol.wire import ChangeResult


class Origin(StrEnum):
    """Who wrote a batch; the value is the change log's ``source``. Only a ``DEVICE`` batch is a
    push: its clocks carry the device, it locks the device row and leaves receipts and
    rejections. The others are server-side operations of a user (``operations``), written as
    that user from the device they are signed in from."""

    DEVICE = "sync"  # a tablet's push (an outbox import too: it is that tablet's push)
    RESOLUTION = "resolution"  # a clerk resolving a conflict
    IMPORT = "import"  # a county admin's Excel import
    API = "api"  # a procedure moved in the console or through the read API


def server_hlc() -> str:
    """The clock of a server-side write (device part ``server``)."""
    return str(Hlc(now_ms(), 0, "server"))


@dataclass(slots=True)
class Prepared:
    """One change after its own checks; ``result`` is set as soon as its fate is known."""

    index: int
    change_id: str
    change_uuid: str | None = None  # ids are canonical UUID text here: cheap to hash and dump
    entity: str = ""
    record_id: str | None = None
    op: str = "upsert"
    base_version: int | None = None
    fields: dict[str, Any] = field(default_factory=dict)  # Python values
    hlc: str = ""
    seq: int | None = None
    force: bool = False
    warnings: list[FieldError] = field(default_factory=list)
    result: ChangeResult | None = None

    def reject(self, code: ErrorCode, fld: str | None = None, message: str = "") -> None:
        self.result = ChangeResult.of_error(
            self.change_id, str(self.record_id) if self.record_id else None,
            FieldError(code, fld, message).to_dict())


@dataclass(slots=True)
class RecState:
    """A touched record during the batch: its current state and bookkeeping."""

    entity: str
    id: str
    stored: Stored | None
    village_code: str | None
    household_id: str | None
    in_db: bool = False
    dirty: bool = False
    changed: set[str] = field(default_factory=set)  # fields written by this batch
    moved: bool = False  # a child given to another household: its village code is written too
    whole: bool = False  # read with its version and clock maps (``load._floors``)


@dataclass(slots=True)
class Batch:
    """The outputs of one batch, written in bulk at the end."""

    logs: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    receipts: list[dict[str, Any]] = field(default_factory=list)
    moved: dict[str, str] = field(default_factory=dict)
    exits: list[dict[str, Any]] = field(default_factory=list)
    base_lookups: list[tuple[dict[str, Any], int]] = field(default_factory=list)
    user_id: uuid.UUID | None = None
    device_id: str = ""
    origin: Origin = Origin.DEVICE


CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _parse_uuid(value: Any) -> str | None:
    """The canonical text of a UUID (any form ``uuid.UUID`` accepts), or None."""
    if isinstance(value, str) and CANONICAL_UUID.fullmatch(value):
        return value  # what clients send: skips building a UUID object
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def prepare(index: int, raw: Any, server_ms: int, *, force: bool = False,
            device_id: str | None = None) -> tuple[Prepared, int]:
    """Check one raw change on its own. Returns it and the clock skew (ms) that was clamped."""
    if not isinstance(raw, dict):
        p = Prepared(index, "")
        p.reject(ErrorCode.request_malformed)
        return p, 0
    p = Prepared(index, str(raw.get("change_id", "")), force=force)
    p.change_uuid = _parse_uuid(raw.get("change_id"))
    p.record_id = _parse_uuid(raw.get("record_id"))
    if p.change_uuid is None:
        p.reject(ErrorCode.validation_uuid_invalid, "change_id")
        return p, 0
    p.change_id = p.change_uuid
    seq = raw.get("seq")
    valid_seq = isinstance(seq, int) and not isinstance(seq, bool) and 0 <= seq < 2**62
    p.seq = seq if valid_seq else None  # informational only: out of range is ignored
    entity = raw.get("entity")
    p.entity = entity if isinstance(entity, str) else ""
    if p.entity not in ENTITIES:
        p.reject(ErrorCode.sync_entity_unknown, "entity")
        return p, 0
    if p.record_id is None:
        p.reject(ErrorCode.validation_uuid_invalid, "record_id")
        return p, 0
    p.op = raw.get("op", "upsert")
    if p.op not in OPS:
        p.reject(ErrorCode.sync_op_invalid, "op")
        return p, 0
    base = raw.get("base_version")
    if base is not None and (not isinstance(base, int) or isinstance(base, bool) or base < 1):
        p.reject(ErrorCode.sync_base_version_invalid, "base_version")
        return p, 0
    p.base_version = base
    hlc = raw.get("hlc")
    clock = HLC_RE.match(hlc) if isinstance(hlc, str) else None
    if clock is None:
        p.reject(ErrorCode.sync_hlc_invalid, "hlc")
        return p, 0
    millis, counter, device = clock.groups()
    # the clock's device part is the authenticated device, always
    p.hlc, skew = clamp_parts(millis, counter, device_id or device, server_ms)
    if p.op == DELETE:
        return p, skew
    fields = raw.get("fields", {})
    if fields is None:
        fields = {}
    try:
        # ``model_validate`` without its Python wrapper: the same validator, 1 µs less a change
        model = ENTITIES[p.entity].model.__pydantic_validator__.validate_python(fields)
    except ValidationError:
        first = validate_fields(p.entity, fields, creating=False).errors[0]
        p.reject(first.code, first.field, first.message)
        return p, skew
    # the sent fields' validated values, in the client's order (cheaper than ``model_dump``;
    # ``extra="forbid"`` has made sure each name is a field)
    values = model.__dict__
    python = {name: values[name] for name in fields}
    lists = LIST_FIELDS[p.entity]
    for name, value in python.items():
        if value is None and name in lists:
            python[name] = []
        elif value is None and name in NOT_NULL_FIELDS[p.entity]:
            p.reject(ErrorCode.validation_field_required, name)
            return p, skew
    spanning = record_errors(p.entity, python, creating=False)
    if spanning:
        p.reject(spanning[0].code, spanning[0].field, spanning[0].message)
        return p, skew
    for name in ("head_id_number", "id_number"):
        if python.get(name):
            p.warnings += [w for w in check_id_number(python[name], name) if w.warning]
    p.fields = python
    return p, skew


def duplicate_result(original: ChangeResult) -> ChangeResult:
    """The answer to a change already applied: its first result, marked ``duplicate``."""
    if original.status == "rejected":
        return original.model_copy()
    return original.model_copy(update={"status": "duplicate",
                                       "original_status": original.status})


PLAIN_RESULT = frozenset({"change_id", "status", "record_id", "version"})


def receipt_extra(result: ChangeResult) -> dict[str, Any] | None:
    """What a receipt keeps of a result besides its columns (``receipt_result`` reads it)."""
    if result.is_plain():
        return None
    extra = {k: v for k, v in result.to_wire().items() if k not in PLAIN_RESULT}
    return extra or None


def receipt_result(change_id: str | uuid.UUID, status: str, record_id: uuid.UUID | None,
                   version: int | None, extra: dict[str, Any] | None) -> ChangeResult:
    """A change's original result from its receipt (columns plus the JSON of what they lack)."""
    if extra and "change_id" in extra:  # written before receipts were slimmed (migration 0004)
        return ChangeResult.model_validate(extra)
    return ChangeResult.model_validate({
        "change_id": str(change_id), "status": status,
        "record_id": str(record_id) if record_id else None, "version": version,
        **(extra or {})})
