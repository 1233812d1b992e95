"""五清 checklist templates: the built-in ``wuqing.v1`` and the lookup every face uses."""

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

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "title": self.title,
            "description": self.description,
            "manual_only": self.manual_only,
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
                       manual_only=bool(i.get("manual_only"))) for i in data.get("items") or ()))


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

TEMPLATES: dict[str, ChecklistTemplateDef] = {WUQING_V1.code: WUQING_V1}


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
