"""How change history and conflicts read to a clerk (value labels and times themselves are
``sync_protocol.display``'s, shared with the tablet and the exports)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from sync_protocol.display import EMPTY, field_label, value_label
from sync_protocol.entities import FIELD_LABELS
from sync_protocol.enums import LABELS, Role
from sync_protocol.templates import TEMPLATES, WUQING_V1, ChecklistTemplateDef


def role_label(role: str) -> str:
    return LABELS[Role].get(role, role)


PERSON_FIELDS = {"checked_by", "visitor_id", "recorded_by", "helper_user_id", "created_by"}
HIDDEN_FIELDS = {"household_id", "member_id"}
CREATE_SHOWN = 5
LOW_PRIORITY_LABELS = {FIELD_LABELS[f] for f in ("lat", "lng", "location_captured",
                                                "attachment_ids", "template_code")}


def _show(entity: str, field: str, value: Any, names: dict[Any, str],
          villages: dict[str, str], template: ChecklistTemplateDef | None = None) -> str:
    if value is None or value == "" or value == []:
        return EMPTY
    if field in PERSON_FIELDS:
        return names.get(str(value)) or names.get(value) or "（其他用户）"
    if field == "village_code":
        return villages.get(str(value), str(value))
    if field == "attachment_ids":
        return f"{len(value)} 个附件" if isinstance(value, list) else str(value)
    if field == "item_code":  # the county's template (its own titles), else the default's
        item = (template.item(value) if template is not None else None) or WUQING_V1.item(value)
        return item.title if item is not None else str(value)
    if field == "template_code":
        known = template if template is not None and template.code == value \
            else TEMPLATES.get(str(value))
        return known.name if known is not None else str(value)
    return value_label(entity, field, value)


def describe_change(entry: Any, names: dict[Any, str], villages: dict[str, str],
                    template: ChecklistTemplateDef | None = None,
                    stored: Mapping[str, ChecklistTemplateDef] | None = None) -> dict[str, Any]:
    """A change-log entry as a clerk reads it: ``{"created": bool, "lines": [...], "more": n}``;
    ``template``: the household's county's 五清 template (the titles of its items); ``stored``:
    every template by code, retired versions too (``server.reference.stored_templates``): a 五清
    item recorded against an earlier template is named by that template's titles.

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
    recorded = next((new for field, _old, new in pairs if field == "template_code"), None)
    if stored and isinstance(recorded, str) and recorded in stored:
        template = stored[recorded]
    lines = []
    for field, old, new in pairs:
        if created and new in (None, "", []):
            continue
        lines.append({"label": field_label(field),
                      "old": _show(entry.entity, field, old, names, villages, template),
                      "new": _show(entry.entity, field, new, names, villages, template)})
    more = 0
    if created:  # the summary of a new record leads with what a clerk recognises
        lines.sort(key=lambda line: line["label"] in LOW_PRIORITY_LABELS)
    if created and len(lines) > CREATE_SHOWN:
        more, lines = len(lines) - CREATE_SHOWN, lines[:CREATE_SHOWN]
    return {"created": created, "lines": lines, "more": more}


def conflict_value(conflict: Any, value: Any) -> str:
    """One side of a conflict as a clerk reads it (a deletion, an edit, or a field value).
    ``conflict``: a ``Conflict`` row or the wire shape of the read layer."""
    get = conflict.get if isinstance(conflict, dict) else partial(getattr, conflict)
    entity = str(get("entity") or "")
    if get("kind") == "delete_edit" and isinstance(value, dict):
        if value.get("deleted") is True and len(value) == 1:
            return "删除这条记录"
        shown = [f"{field_label(k)}为“{value_label(entity, k, v)}”"
                 for k, v in value.items() if k not in HIDDEN_FIELDS]
        return "保留并修改：" + "；".join(shown) if shown else "保留这条记录"
    return value_label(entity, get("field") or "", value)
