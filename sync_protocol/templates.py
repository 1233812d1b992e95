"""五清 checklist templates: the built-in ``wuqing.v1``, the 底数清/问题清/对策清/责任清/任务清
variant ``wuqing.dswz`` and the lookup every face uses.

An item's ``hint`` names the computed hint it shows (``sync_protocol.wuqing``: ``base_file``,
``measures``, ``helper_duty``, ``trajectory``); an item without one is checked by hand only. An
item with ``secretary_only`` (村书记心里清 in ``wuqing.v1``, whatever a county calls it) is judged
by the 村书记 alone (``sync_protocol.wuqing.checklist_role_error``: server, console and tablet)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_TEMPLATE_CODE = "wuqing.v1"


@dataclass(frozen=True)
class ChecklistItemDef:
    code: str
    title: str
    description: str
    manual_only: bool = False
    # the computed hint shown beside the verdict (None: the item's own code)
    hint: str | None = None
    # only the 村书记 (村党支部书记 or 驻村第一书记) may set its verdict
    secretary_only: bool = False

    @property
    def hint_code(self) -> str:
        return self.hint or self.code

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "title": self.title,
            "description": self.description,
            "manual_only": self.manual_only,
            "hint": self.hint_code,
            "secretary_only": self.secretary_only,
        }


@dataclass(frozen=True)
class ChecklistTemplateDef:
    code: str
    name: str
    items: tuple[ChecklistItemDef, ...]

    @property
    def item_codes(self) -> tuple[str, ...]:
        return tuple(item.code for item in self.items)

    def item(self, code: Any) -> ChecklistItemDef | None:
        return next((i for i in self.items if i.code == str(code or "")), None)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "items": [i.to_dict() for i in self.items]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChecklistTemplateDef:
        """A template as the database and the reference data hold it."""
        code = str(data["code"])
        built_in = TEMPLATES.get(code)
        return cls(code=code, name=str(data.get("name") or code),
                   items=tuple(ChecklistItemDef(
                       code=str(i["code"]), title=str(i.get("title") or i["code"]),
                       description=str(i.get("description") or ""),
                       manual_only=bool(i.get("manual_only")),
                       hint=str(i["hint"]) if i.get("hint") else None,
                       secretary_only=_secretary_only(i, built_in))
                       for i in data.get("items") or ()))


def _secretary_only(item: Mapping[str, Any], built_in: ChecklistTemplateDef | None) -> bool:
    """The stored item's flag; a copy stored before the flag existed keeps the built-in
    template's (a county's renamed copy of ``wuqing.v1`` still has its 村书记 item)."""
    if "secretary_only" in item:
        return bool(item["secretary_only"])
    same = built_in.item(item.get("code")) if built_in is not None else None
    return same.secretary_only if same is not None else False


WUQING_V1 = ChecklistTemplateDef(
    code=DEFAULT_TEMPLATE_CODE,
    name="五清（默认）",
    items=(
        ChecklistItemDef(
            "base_file",
            "“一户一档”底子清",
            "家庭成员、身份证号、收入、两不愁三保障、住房、致贫原因等信息完整真实，帮扶手册（明白卡）与系统一致",
        ),
        ChecklistItemDef(
            "measures",
            "脱贫措施清",
            "一人一策、一户多策：每项致贫原因、每位有需要的成员都有对应的帮扶措施",
        ),
        ChecklistItemDef(
            "secretary_knows",
            "村书记心里清",
            "村党支部书记了解本户情况、致贫原因和帮扶措施（由村书记人工确认）",
            manual_only=True,
            secretary_only=True,
        ),
        ChecklistItemDef(
            "helper_duty",
            "帮扶责任清",
            "落实了帮扶责任人（姓名、单位、电话），并按要求入户走访",
        ),
        ChecklistItemDef(
            "trajectory",
            "脱贫轨迹清",
            "识别、脱贫年度、历年收入、监测记录以及谁在何时修改了什么，轨迹完整",
        ),
    ),
)

# The variant some provinces use: same duties, other item keys (issue #14: "a second template").
WUQING_DSWZ = ChecklistTemplateDef(
    code="wuqing.dswz",
    name="五清（底数清、问题清、对策清、责任清、任务清）",
    items=(
        ChecklistItemDef(
            "base_count",
            "底数清",
            "家庭人口、身份证号、收入、两不愁三保障、住房等底数准确完整，明白卡与系统一致",
            hint="base_file",
        ),
        ChecklistItemDef(
            "problems",
            "问题清",
            "返贫致贫风险、三保障和饮水安全方面存在的问题已查清并登记（人工核查确认）",
            manual_only=True,
        ),
        ChecklistItemDef(
            "countermeasures",
            "对策清",
            "针对每项问题和风险制定了对应的帮扶措施，一户一策",
            hint="measures",
        ),
        ChecklistItemDef(
            "responsibility",
            "责任清",
            "落实了帮扶责任人（姓名、单位、电话），并按要求入户走访",
            hint="helper_duty",
        ),
        ChecklistItemDef(
            "tasks",
            "任务清",
            "帮扶任务、完成时限和落实情况清楚，计划实施与已落实一致（人工核查确认）",
            manual_only=True,
        ),
    ),
)

TEMPLATES: dict[str, ChecklistTemplateDef] = {t.code: t for t in (WUQING_V1, WUQING_DSWZ)}


def get_template(code: str) -> ChecklistTemplateDef | None:
    return TEMPLATES.get(code)


def template_or_default(code: str | None) -> ChecklistTemplateDef:
    """The template of that code, or ``wuqing.v1`` when the code is empty or unknown."""
    return TEMPLATES.get(code or DEFAULT_TEMPLATE_CODE) or WUQING_V1


def template_from(code: str | None, stored: Iterable[Mapping[str, Any]] | None) -> \
        ChecklistTemplateDef:
    """The template of that code as stored (the county may have edited its titles: the server's
    ``checklist_template`` table, the tablet's reference data), else the built-in one."""
    wanted = code or DEFAULT_TEMPLATE_CODE
    for row in stored or ():
        if isinstance(row, Mapping) and row.get("code") == wanted and row.get("items"):
            return ChecklistTemplateDef.from_dict(row)
    return template_or_default(wanted)
