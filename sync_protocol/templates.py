"""五清 checklist templates: the built-in ``wuqing.v1``, the 底数清/问题清/对策清/责任清/任务清
variant ``wuqing.dswz``, a county's own templates (``<county code>.<name>.v<N>``: the rules a new
one must meet, ``new_template``, which one a county may choose, ``choice_error``, and which one
it may retire, ``retire_error``) and the lookup every face uses.

An item's ``hint`` names the computed hint it shows (``sync_protocol.wuqing``: ``base_file``,
``measures``, ``helper_duty``, ``trajectory``); an item without one is checked by hand only. An
item with ``secretary_only`` (村书记心里清 in ``wuqing.v1``, whatever a county calls it) is judged
by the 村书记 alone (``sync_protocol.wuqing.checklist_role_error``: server, console and tablet)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .control_chars import has_control_chars
from .errors import ErrorCode, FieldError

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


def stored_codes(stored: Iterable[Mapping[str, Any]] | None) -> frozenset[str]:
    """The codes of the stored templates (the server's table, the tablet's reference data)."""
    return frozenset(str(row["code"]) for row in stored or ()
                     if isinstance(row, Mapping) and row.get("code") and row.get("items"))


# --- a county's own templates ---------------------------------------------------------------------
#
# A county keeps its own variant of 五清 as a template of its own, coded
# ``<county code>.<name>.v<N>`` (``411702.wuqing.v2``), so no county's code can be another's or a
# built-in one. A template once
# created is never changed (checklist items on tablets refer to its item codes): a change is a new
# version under a new code. A version made by mistake is retired (``retire_error``): no county may
# choose it any more, but it stays stored and readable (checks recorded against it keep their
# titles) and its code is never taken again. The rules live here, once: the API and the console
# both call ``new_template``, ``choice_error`` and ``retire_error``; the server only writes.

COUNTY_TEMPLATE_CODE = re.compile(r"^(\d{6})\.([a-z][a-z0-9_]{0,29})\.v([1-9][0-9]{0,2})$")
ITEM_CODE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_ITEMS = 20
MAX_NAME = 60
MAX_TITLE = 30
MAX_DESCRIPTION = 300
ITEM_KEYS = frozenset({"code", "title", "description", "hint", "secretary_only"})
# the hints ``sync_protocol.wuqing`` computes; an item names one, or is checked by hand only
COMPUTED_HINTS: dict[str, str] = {
    "base_file": "一户一档信息完整（家庭成员、身份证号、收入、住房等）",
    "measures": "帮扶措施与致贫原因、返贫致贫风险相对应",
    "helper_duty": "落实帮扶责任人并按要求入户走访",
    "trajectory": "识别、脱贫、监测轨迹及历年收入完整",
}
# what a template's text may not hold besides control characters: invisible format characters
# (bidirectional overrides, zero-width joiners), line and paragraph separators, private use
_HOSTILE_CATEGORIES = frozenset({"Cf", "Zl", "Zp", "Co", "Cs"})


def template_county(code: str) -> str | None:
    """The county a county template's code names (``411702.wuqing.v2`` → ``411702``); None for a
    built-in code or one stored before counties kept their own."""
    match = COUNTY_TEMPLATE_CODE.match(code)
    return match.group(1) if match else None


def choice_error(code: str, county_code: str, known: Collection[str],
                 retired: Collection[str] = ()) -> ErrorCode | None:
    """Why a county may not use the template of that code (None: it may): a built-in one, or one
    the database holds (``known``: the active codes) that is not another county's. ``retired``:
    the codes of retired versions, refused with their own code (a face that does not pass them
    takes a retired one as unknown)."""
    if code in TEMPLATES:
        return None
    owner = template_county(code)
    if owner is not None and owner != county_code:
        return ErrorCode.template_county_mismatch
    if code in retired:
        return ErrorCode.template_retired
    if code not in known:
        return ErrorCode.template_not_found
    return None


def recordable_templates(county_code: str, current: str,
                         stored: Iterable[Mapping[str, Any]] | None,
                         used: Iterable[str] = ()) -> dict[str, ChecklistTemplateDef]:
    """The templates (by code, as ``stored`` keeps them) a NEW 五清 item of a household of
    ``county_code`` may be recorded against (``sync_protocol.wuqing.checklist_item_error``): the
    template the county uses now (``current``), every version of the county's own that
    ``stored`` holds (retired ones too, when the face passes them), and the templates its policy
    named before (``used``: a built-in one, or one stored before counties kept their own) — never
    another county's, nor a code nobody stores. So a check recorded offline on the county's
    previous template is kept when the county switches (docs/protocol.md, "五清 templates").
    Reports keep counting the county's current template only."""
    rows = [row for row in stored or () if isinstance(row, Mapping)]
    codes = stored_codes(rows)
    allowed = {current} | {code for code in codes if template_county(code) == county_code}
    allowed |= {code for code in used if code in TEMPLATES or (
        code in codes and template_county(code) in (None, county_code))}
    return {code: template_from(code, rows) for code in sorted(allowed)}


def retire_error(code: str, county_codes: Collection[str], *, stored: bool,
                 in_use: bool) -> ErrorCode | None:
    """Why a county admin of ``county_codes`` may not retire the template of that code (None:
    they may; retiring a retired one again changes nothing). Only a county's own version that
    the database holds (``stored``, retired or not) and that its policy does not use
    (``in_use``: the county must choose another first) — never a built-in one, nor one kept
    before counties had their own (other counties may use it). Another county's code is refused
    before its existence is looked at, so the answer tells nothing about that county."""
    if code in TEMPLATES:
        return ErrorCode.template_built_in_kept
    owner = template_county(code)
    if owner is not None and owner not in county_codes:
        return ErrorCode.template_not_own
    if not stored:
        return ErrorCode.template_not_found
    if owner is None:
        return ErrorCode.template_not_own
    if in_use:
        return ErrorCode.template_in_use
    return None


def hostile_text(value: str) -> bool:
    """Control characters (the rule every field applies) or invisible format characters."""
    return has_control_chars(value) or any(
        unicodedata.category(ch) in _HOSTILE_CATEGORIES for ch in value)


def _text(value: Any, limit: int, field: str, invalid: ErrorCode, errors: list[FieldError],
          *, required: bool = True) -> str:
    """``value`` stripped, or "" with an error added: not text, empty (when required), too long
    (``invalid``), hostile characters (``template.text_invalid``)."""
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        errors.append(FieldError(invalid, field))
        return ""
    text = value.strip()
    if hostile_text(value):
        errors.append(FieldError(ErrorCode.template_text_invalid, field))
    elif (required and not text) or len(text) > limit:
        errors.append(FieldError(invalid, field))
    return text


def _item(raw: Any, at: str, seen: set[str], errors: list[FieldError]) -> ChecklistItemDef | None:
    if not isinstance(raw, Mapping) or set(raw) - ITEM_KEYS:
        errors.append(FieldError(ErrorCode.template_item_invalid, at))
        return None
    before = len(errors)
    code = raw.get("code")
    if not isinstance(code, str) or not ITEM_CODE.match(code):
        errors.append(FieldError(ErrorCode.template_item_code_invalid, f"{at}.code"))
    elif code in seen:
        errors.append(FieldError(ErrorCode.template_item_code_duplicate, f"{at}.code"))
    else:
        seen.add(code)
    title = _text(raw.get("title"), MAX_TITLE, f"{at}.title",
                  ErrorCode.template_item_title_invalid, errors)
    description = _text(raw.get("description"), MAX_DESCRIPTION, f"{at}.description",
                        ErrorCode.template_description_too_long, errors, required=False)
    hint = raw.get("hint") or None
    if hint is not None and (not isinstance(hint, str) or hint not in COMPUTED_HINTS):
        errors.append(FieldError(ErrorCode.template_hint_unknown, f"{at}.hint"))
    secretary = raw.get("secretary_only", False)
    if not isinstance(secretary, bool):
        errors.append(FieldError(ErrorCode.template_item_invalid, f"{at}.secretary_only"))
    if len(errors) > before:
        return None
    return ChecklistItemDef(str(code), title, description, manual_only=hint is None,
                            hint=str(hint) if hint else None, secretary_only=bool(secretary))


def new_template(data: Any, county_code: str, existing: Collection[str]
                 ) -> tuple[ChecklistTemplateDef | None, list[FieldError]]:
    """A county's new template version from what the county admin sent (``code``, ``name``,
    ``items``: each ``code``, ``title``, optional ``description`` and ``hint`` — one of
    ``COMPUTED_HINTS`` — and ``secretary_only``), or None with every problem found (field paths
    such as ``items[2].title``). ``existing``: the codes the database holds — a template is never
    overwritten, a built-in one least of all."""
    if not isinstance(data, Mapping) or set(data) - {"code", "name", "items"}:
        return None, [FieldError(ErrorCode.request_malformed)]
    code = data.get("code")
    if isinstance(code, str) and code in TEMPLATES:
        return None, [FieldError(ErrorCode.template_built_in, "code")]
    if not isinstance(code, str) or not COUNTY_TEMPLATE_CODE.match(code):
        return None, [FieldError(ErrorCode.template_code_invalid, "code")]
    if template_county(code) != county_code:
        return None, [FieldError(ErrorCode.template_county_mismatch, "code")]
    if code in existing:
        return None, [FieldError(ErrorCode.template_exists, "code")]
    errors: list[FieldError] = []
    name = _text(data.get("name"), MAX_NAME, "name", ErrorCode.template_name_invalid, errors)
    raw_items = data.get("items")
    if not isinstance(raw_items, list | tuple) or not 1 <= len(raw_items) <= MAX_ITEMS:
        errors.append(FieldError(ErrorCode.template_items_count, "items"))
        raw_items = []
    seen: set[str] = set()
    items = [_item(raw, f"items[{i}]", seen, errors) for i, raw in enumerate(raw_items)]
    if errors:
        return None, errors
    return ChecklistTemplateDef(code, name, tuple(i for i in items if i is not None)), []


def next_version(base: str, county_code: str, existing: Collection[str]) -> str:
    """The code a new version based on template ``base`` is offered under: the county's own
    template's next free version (``411702.wuqing.v1`` → ``411702.wuqing.v2``), or for a
    built-in one the county's first free copy (``wuqing.dswz`` → ``411702.dswz.v1``)."""
    match = COUNTY_TEMPLATE_CODE.match(base)
    if match is not None:
        name, version = match.group(2), int(match.group(3)) + 1
    else:
        parts = [p for p in base.split(".") if not re.fullmatch(r"v\d+", p)]
        name, version = (parts[-1] if parts else "wuqing"), 1
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,29}", name):
            name = "wuqing"
    while f"{county_code}.{name}.v{version}" in existing:
        version += 1
    return f"{county_code}.{name}.v{version}"
