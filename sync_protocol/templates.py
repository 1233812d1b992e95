"""五清 checklist templates: the built-in ``wuqing.v1``, the 底数清/问题清/对策清/责任清/任务清
variant ``wuqing.dswz`` and the lookup every face uses.

An item's ``hint`` names the computed hint it shows (``sync_protocol.wuqing``: ``base_file``,
``measures``, ``helper_duty``, ``trajectory``); an item without one is checked by hand only."""

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
        }


@dataclass(frozen=True)
class ChecklistTemplateDef:
    code: str
    name: str
    items: tuple[ChecklistItemDef, ...]

    @property
    def item_codes(self) -> tuple[str, ...]:
        return tuple(item.code for item in self.items)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "items": [i.to_dict() for i in self.items]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChecklistTemplateDef:
        """A template as the database and the reference data hold it."""
        return cls(code=str(data["code"]), name=str(data.get("name") or data["code"]),
                   items=tuple(ChecklistItemDef(
                       code=str(i["code"]), title=str(i.get("title") or i["code"]),
                       description=str(i.get("description") or ""),
                       manual_only=bool(i.get("manual_only")),
                       hint=str(i["hint"]) if i.get("hint") else None)
                       for i in data.get("items") or ()))


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
