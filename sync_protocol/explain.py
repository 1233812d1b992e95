"""A conflict or a rejection told in plain Chinese, for the record's screen on the tablet."""

from __future__ import annotations

from typing import Any

from .display import value_label
from .entities import ENTITIES, FIELD_LABELS
from .enums import LABELS, Role

CLERK = LABELS[Role][Role.township_clerk]


def explain(kind: str, entity: str, status: str, payload: dict[str, Any]) -> str:
    """A conflict or rejection in plain Chinese, for the record's screen."""
    what = ENTITIES[entity].label if entity in ENTITIES else entity
    if kind == "rejection":
        error = payload.get("error") or {}
        fld = error.get("field")
        where = f"「{FIELD_LABELS.get(fld, fld)}」" if fld else "这条记录"
        return (f"服务器没有接受对{what}的这次修改：{error.get('message', '')}。"
                f"请核对{where}后重新保存，改正后会再次上传。")
    conflict = payload.get("conflict")
    if conflict is None:
        return (f"您对{what}的修改与其他人的修改有冲突。两个值都已保存，"
                f"将由{CLERK}决定采用哪一个。")
    other = conflict.get("server") or {}
    mine = conflict.get("client") or {}
    who = other.get("user_name") or "其他人员"
    fld = conflict.get("field")
    field_name = str(fld or "")
    name = FIELD_LABELS.get(fld, fld) if fld else what
    if conflict.get("kind") == "duplicate_record":
        value = other.get("value")
        elsewhere: dict[str, Any] = value if isinstance(value, dict) else {}
        where = (f"{elsewhere.get('township_name')}的一户" if elsewhere.get("elsewhere")
                 else "本县另一户")  # outside the user's scope: only its township (masked)
        text = (f"该户的户主身份证号或户编号与{where}相同，两户都已保留，"
                f"将由{CLERK}合并或确认为不同农户。")
    elif conflict.get("kind") == "delete_edit":
        text = (f"{who}删除了这条{what}，同时有人修改了它。记录暂时保留，"
                f"将由{CLERK}决定是否删除。")
    else:
        mine_value = value_label(entity, field_name, mine.get("value"))
        other_value = value_label(entity, field_name, other.get("value"))
        base = value_label(entity, field_name, conflict.get("base_value"))
        text = (f"「{name}」被两人改成了不同的值：{mine.get('user_name') or '您'}改为"
                f"「{mine_value}」，{who}改为「{other_value}」（原值「{base}」）。"
                f"两个值都已保存，将由{CLERK}决定采用哪一个。")
    if status == "resolved":
        resolution = conflict.get("resolution")
        decided = {
            "keep_server": f"采用「{value_label(entity, field_name, other.get('value'))}」",
            "take_client": f"采用「{value_label(entity, field_name, mine.get('value'))}」",
            "custom": f"改为「{value_label(entity, field_name, conflict.get('resolved_value'))}」",
            "merge": "两户已合并",
            "distinct": "确认为不同农户",
        }.get(resolution or "", "已处理")
        note = f"备注：{conflict['note']}。" if conflict.get("note") else ""
        who = CLERK + str(conflict.get("resolved_by_name") or "")
        text = f"{who}已处理：{decided}。{note}（原冲突：{text}）"
    return text


def value_lost(conflict: dict[str, Any], user_id: str | None, device_id: str | None) -> bool:
    """A resolved field conflict in which the clerk did not take the value this user (or this
    tablet) had entered: they must be told, their value was replaced."""
    if conflict.get("status") != "resolved" or conflict.get("kind") != "field":
        return False
    mine = conflict.get("client") or {}
    ours = (user_id is not None and str(mine.get("user_id") or "") == str(user_id)) or \
        (device_id is not None and mine.get("device_id") == device_id)
    if not ours:
        return False
    resolution = conflict.get("resolution")
    if resolution == "take_client":
        return False
    if resolution == "custom":
        return conflict.get("resolved_value") != mine.get("value")
    return True


def loss_notice(conflict: dict[str, Any], household_title: str = "") -> str:
    """The notice a cadre gets when their value lost: which field, which value now stands, who
    decided and their note."""
    entity = str(conflict.get("entity") or "")
    field_name = str(conflict.get("field") or "")
    name = FIELD_LABELS.get(field_name, field_name) or (
        ENTITIES[entity].label if entity in ENTITIES else entity)
    mine = value_label(entity, field_name, (conflict.get("client") or {}).get("value"))
    if conflict.get("resolution") == "custom":
        kept = conflict.get("resolved_value")
    else:
        kept = (conflict.get("server") or {}).get("value")
    who = CLERK + str(conflict.get("resolved_by_name") or "")
    note = f"，备注：{conflict['note']}" if conflict.get("note") else ""
    where = f"{household_title}的" if household_title else ""
    return (f"{where}「{name}」：您填写的「{mine}」未被采用，{who}决定采用"
            f"「{value_label(entity, field_name, kept)}」{note}。")
