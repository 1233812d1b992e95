"""Which fields each entity's form shows, in what order, with which hint.

The input kind and the choices of a field come from its definition in ``sync_protocol.entities``
(through ``sync_protocol.display.field_kind``), so a new enum field gets the right input here by
being listed once.
"""

from __future__ import annotations

from typing import Any

from sync_protocol.display import field_kind
from sync_protocol.enums import LABELS
from sync_protocol.members import derived_from_id
from sync_protocol.validation import check_id_number

from .widgets import FieldSpec, Form

# field_kind's kinds the tablet's Form shows with another input
_FORM_KIND = {"enum_list": "multi_enum", "text_list": "text", "datetime": "text"}


def field(entity: str, name: str, *, kind: str | None = None, hint: str = "",
          label: str | None = None, readonly: bool = False) -> FieldSpec:
    """The form input of one field of an entity (``kind`` overrides, e.g. ``multiline``)."""
    derived, enum = field_kind(entity, name)
    return FieldSpec(name, kind or _FORM_KIND.get(derived, derived),
                     LABELS.get(enum) if enum is not None else None, label=label,
                     readonly=readonly, hint=hint)


def _household(name: str, **kw: Any) -> FieldSpec:
    return field("household", name, **kw)


HOUSEHOLD_BASIC = [
    _household("head_name"),
    _household("head_id_number", hint="18位居民身份证号"),
    _household("household_number", hint="新户可暂不填写；来自全国系统的户编号不能在平板上修改"),
    # picked from the villages of the user's scope (choices set by the household screen)
    _household("village_code", kind="enum"),
    *(_household(n) for n in ("group_name", "address", "phone", "household_type")),
    # derived: set by an approved monitoring procedure (监测程序 tab), shown read-only
    field("household", "monitoring_status", readonly=True),
    field("household", "monitoring_category", readonly=True),
    *(_household(n) for n in ("reservoir_migrant", "relocated", "relocation_site")),
    # 2014–2020 history (建档立卡): 历史贫困状态（2020年前）, never the current status
    *(_household(n) for n in ("poverty_status", "household_attribute", "identified_year",
                              "exit_year")),
    _household("bank_account", hint="惠农补贴“一卡通”账号（个人信息，注意保密）"),
    *(_household(n) for n in ("cultivated_land_mu", "forest_land_mu", "has_power", "road_type",
                              "toilet", "cooking_fuel")),
]

SECURITY = [_household(n) for n in (
    "food_secure", "clothing_secure", "education_secure", "medical_secure", "housing_secure",
    "water_secure", "housing_grade", "drinking_water_safe")]

CAUSES = [_household("causes", label="致贫/返贫原因（先选主要原因）")]

MEMBER = [
    field("member", "name"),
    field("member", "id_number", hint="18位居民身份证号（性别、出生日期随之自动填写）"),
    field("member", "relation"),
    field("member", "gender", label="性别（由身份证号生成）"),
    field("member", "birth_date", label="出生日期（由身份证号生成）", hint="例如 1980-05-01"),
    field("member", "health", label="健康状况（可多选）"),
    *(field("member", n) for n in (
        "disease", "disability_category", "disability_grade", "disability_cert",
        "family_doctor_signed", "labor_ability", "schooling", "school_stage", "school_grade",
        "education_level", "employment", "migrant_place", "migrant_months",
        "public_welfare_job", "medical_insurance", "serious_illness_insurance",
        "pension_insurance", "dibao", "tekun")),
    field("member", "joined_on", hint="新增成员填写，例如 2025-02-01"),
    field("member", "joined_reason"),
    field("member", "left_on", hint="减员填写（不删除成员），例如 2026-03-01"),
    field("member", "left_reason"),
]

INCOME = [
    *(field("income_item", n) for n in ("year", "category")),
    field("income_item", "item_kind", hint="转移性收入、刚性支出请选明细"),
    *(field("income_item", n) for n in ("item", "amount")),
]

MEASURE = [
    field("measure", "category"),
    field("measure", "item"),
    field("measure", "year"),
    field("measure", "fund_source"),
    field("measure", "planned_on", hint="例如 2026-03-01"),
    field("measure", "planned_amount"),
    field("measure", "start_date", hint="例如 2026-03-01"),
    field("measure", "done_on", hint="已落实时填写"),
    field("measure", "amount", label="落实金额（元）"),
    field("measure", "provider"),
    field("measure", "status"),
]


def fill_from_id_number(form: Form) -> None:
    """Member form: a valid ID number fills gender and birth date (``sync_protocol.members``),
    so they are read from the number, not typed."""
    number, gender, birth = (form.inputs.get(n) for n in ("id_number", "gender", "birth_date"))
    if number is None or gender is None or birth is None:
        return

    def fill(_widget: Any, text: str) -> None:
        text = text.strip()
        if any(not e.warning for e in check_id_number(text)):
            return
        derived = derived_from_id(text)
        if "gender" in derived:
            gender.text = form.specs["gender"].choices.get(derived["gender"], gender.text)
        birth.text = derived.get("birth_date", birth.text)

    number.bind(text=fill)

HELPER = [
    *(field("helper_assignment", n) for n in ("helper_name", "helper_unit", "helper_position",
                                                "helper_phone")),
    field("helper_assignment", "start_date", hint="例如 2026-01-01"),
    field("helper_assignment", "end_date", hint="仍在岗可不填"),
]

STATUS_EVENT = [
    field("status_event", "kind"),
    field("status_event", "date", hint="例如 2026-06-30"),
    field("status_event", "note", kind="multiline"),
]
