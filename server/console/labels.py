"""How values look to a clerk: Chinese field and enum labels, yes/no, dates in Beijing time."""

from __future__ import annotations

import datetime as dt
import types
import typing
from enum import StrEnum
from typing import Any

from sync_protocol.entities import ENTITIES, FIELD_LABELS
from sync_protocol.enums import LABELS, Role

BEIJING = dt.timezone(dt.timedelta(hours=8))
EMPTY = "（空）"


def _find(annotation: Any, want: type) -> Any:
    """The first ``want`` subclass (or ``want`` itself) inside an annotation such as
    ``Annotated[list[Cause], ...] | None``."""
    if isinstance(annotation, type):
        if issubclass(annotation, want):
            return annotation
        return None
    for arg in typing.get_args(annotation):
        found = _find(arg, want)
        if found is not None:
            return found
    return None


def field_kind(entity: str, field: str) -> tuple[str, type[StrEnum] | None]:
    """The kind of input a field needs: enum, enum_list, bool, int, float, date, datetime, text."""
    spec = ENTITIES.get(entity)
    info = spec.model.model_fields.get(field) if spec else None
    if info is None:
        return "text", None
    ann = info.annotation
    enum = _find(ann, StrEnum)
    origin_list = _is_list(ann)
    if enum is not None:
        return ("enum_list" if origin_list else "enum"), enum
    if origin_list:
        return "text_list", None
    for kind, typ in (("bool", bool), ("datetime", dt.datetime), ("date", dt.date),
                      ("int", int), ("float", float)):
        if _find(ann, typ) is not None:
            return kind, None
    return "text", None


def _is_list(annotation: Any) -> bool:
    if typing.get_origin(annotation) is list:
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, typing.Annotated):
        return any(_is_list(a) for a in typing.get_args(annotation))
    return False


def enum_options(enum: type[StrEnum]) -> list[tuple[str, str]]:
    labels = LABELS.get(enum, {})
    return [(m.value, labels.get(m.value, m.value)) for m in enum]


def value_label(entity: str, field: str, value: Any) -> str:
    """A stored (JSON) value as a clerk reads it."""
    if value is None or value == "" or value == []:
        return EMPTY
    kind, enum = field_kind(entity, field)
    if isinstance(value, bool):
        return "是" if value else "否"
    if enum is not None:
        labels = LABELS.get(enum, {})
        if isinstance(value, list):
            return "、".join(labels.get(str(v), str(v)) for v in value)
        return labels.get(str(value), str(value))
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    if kind == "datetime":
        return fmt_time(value)
    return str(value)


def field_label(field: str | None) -> str:
    if not field:
        return "整条记录"
    return FIELD_LABELS.get(field, field)


def entity_label(entity: str) -> str:
    spec = ENTITIES.get(entity)
    return spec.label if spec else entity


def role_label(role: str) -> str:
    return LABELS[Role].get(role, role)


def fmt_time(value: Any) -> str:
    """Beijing time, to the minute; accepts datetimes and ISO strings."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


PERSON_FIELDS = {"checked_by", "visitor_id", "recorded_by", "helper_user_id", "created_by"}
HIDDEN_FIELDS = {"household_id", "member_id"}
CREATE_SHOWN = 5
LOW_PRIORITY_LABELS = {FIELD_LABELS[f] for f in ("lat", "lng", "location_captured",
                                                "attachment_ids", "template_code")}


def _show(entity: str, field: str, value: Any, names: dict[Any, str],
          villages: dict[str, str]) -> str:
    if value is None or value == "" or value == []:
        return EMPTY
    if field in PERSON_FIELDS:
        return names.get(str(value)) or names.get(value) or "（其他用户）"
    if field == "village_code":
        return villages.get(str(value), str(value))
    if field == "attachment_ids":
        return f"{len(value)} 个附件" if isinstance(value, list) else str(value)
    if field == "item_code":
        from sync_protocol.wuqing import WUQING_V1

        return next((i.title for i in WUQING_V1.items if i.code == value), str(value))
    if field == "template_code":
        return "五清（默认）" if value == "wuqing.v1" else str(value)
    return value_label(entity, field, value)


def describe_change(entry: Any, names: dict[Any, str],
                    villages: dict[str, str]) -> dict[str, Any]:
    """A change-log entry as a clerk reads it: ``{"created": bool, "lines": [...], "more": n}``.

    A new record lists a few of its values; an edit lists every field as old → new.
    """
    changes = entry.changes or {}
    pairs = []
    for field, value in changes.items():
        if field in HIDDEN_FIELDS:
            continue
        if isinstance(value, list | tuple) and len(value) == 2:
            old, new = value
        else:
            old, new = None, value
        pairs.append((field, old, new))
    created = entry.op == "create" or (entry.op == "upsert" and entry.version == 1)
    lines = []
    for field, old, new in pairs:
        if created and new in (None, "", []):
            continue
        lines.append({"label": field_label(field),
                      "old": _show(entry.entity, field, old, names, villages),
                      "new": _show(entry.entity, field, new, names, villages)})
    more = 0
    if created:  # the summary of a new record leads with what a clerk recognises
        lines.sort(key=lambda line: line["label"] in LOW_PRIORITY_LABELS)
    if created and len(lines) > CREATE_SHOWN:
        more, lines = len(lines) - CREATE_SHOWN, lines[:CREATE_SHOWN]
    return {"created": created, "lines": lines, "more": more}


def conflict_value(conflict: Any, value: Any) -> str:
    """One side of a conflict as a clerk reads it (a deletion, an edit, or a field value)."""
    if conflict.kind == "delete_edit" and isinstance(value, dict):
        if value.get("deleted") is True and len(value) == 1:
            return "删除这条记录"
        shown = [f"{field_label(k)}为“{value_label(conflict.entity, k, v)}”"
                 for k, v in value.items() if k not in HIDDEN_FIELDS]
        return "保留并修改：" + "；".join(shown) if shown else "保留这条记录"
    return value_label(conflict.entity, conflict.field or "", value)
