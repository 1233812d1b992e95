"""How values look to a user, on the tablet, in the console and in exports alike.

Chinese field and enum labels, yes/no, field kinds (which input a field needs) and times in
China time, to the minute.
"""

from __future__ import annotations

import datetime as dt
import types
import typing
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from . import policy
from .entities import ENTITIES, FIELD_LABELS
from .enums import LABELS, HouseholdType, MonitoringCategory, MonitoringStatus
from .hlc import wall_time
from .policy import CHINA_TZ

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


def _is_list(annotation: Any) -> bool:
    if typing.get_origin(annotation) is list:
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, typing.Annotated):
        return any(_is_list(a) for a in typing.get_args(annotation))
    return False


def field_kind(entity: str, field: str) -> tuple[str, type[StrEnum] | None]:
    """The kind of input a field needs: enum, enum_list, text_list, bool, int, float, date,
    datetime or text, with the enumeration of enum kinds."""
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


def enum_options(enum: type[StrEnum]) -> list[tuple[str, str]]:
    """(value, Chinese label) of every member, in declaration order."""
    labels = LABELS.get(enum, {})
    return [(m.value, labels.get(m.value, m.value)) for m in enum]


def fmt_time(value: Any) -> str:
    """China time, to the minute; accepts datetimes and ISO strings (a naive value is UTC, a
    date stays a date)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        if len(value) <= 10:
            return value
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def hlc_time(hlc: str | None) -> str:
    """The wall time of a hybrid logical clock, as ``fmt_time`` shows it ("" when malformed)."""
    return fmt_time(wall_time(hlc))


def parse_text(kind: str, text: str) -> Any:
    """Typed text (a tablet form input, a spreadsheet cell) as the JSON value of a field of that
    kind (int, float, date; others stay text). Text that does not parse is returned unchanged so
    that validation rejects it with its own message; "" is None."""
    if text == "":
        return None
    try:
        if kind == "int":
            number = float(text)
            return int(number) if number.is_integer() else text
        if kind == "float":
            return float(text)
        if kind == "date":
            return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        return text
    return text


NAME_SEPARATORS = ("、", "，", ",", ";", "；", " ", "\u3000")


def parse_names(text: str) -> list[str]:
    """Names typed in one input (核实人员, 同行人员), separated by 、，; or spaces; each once."""
    for sep in NAME_SEPARATORS[1:]:
        text = text.replace(sep, NAME_SEPARATORS[0])
    return list(dict.fromkeys(n.strip() for n in text.split(NAME_SEPARATORS[0]) if n.strip()))


def value_label(entity: str, field: str, value: Any) -> str:
    """A stored (JSON) value as a user reads it: enumeration codes as their Chinese labels,
    booleans as 是/否, times in China time, empty values as （空）."""
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


def current_status(household: Mapping[str, Any]) -> list[str]:
    """A household's status as every list shows it (2021+): 户类型, then 监测状态 and 监测对象类别
    when it is (or was) a monitoring object. ``poverty_status`` is history and is not used,
    except to tell the 户类型 of a record from before monitoring model v2."""
    out = [LABELS[HouseholdType].get(policy.household_type(household), "")]
    status = household.get("monitoring_status") or (
        MonitoringStatus.monitored.value if policy.is_monitored(household)
        else MonitoringStatus.none.value)
    if status != MonitoringStatus.none:
        out.append(LABELS[MonitoringStatus].get(str(status), ""))
        category = household.get("monitoring_category")
        if category not in (None, "", MonitoringCategory.none.value):
            out.append(LABELS[MonitoringCategory].get(str(category), ""))
    return [s for s in out if s]


def field_label(field: str | None) -> str:
    """The Chinese name of a field (整条记录 for a whole-record change)."""
    if not field:
        return "整条记录"
    return FIELD_LABELS.get(field, field)


def entity_label(entity: str) -> str:
    spec = ENTITIES.get(entity)
    return spec.label if spec else entity
