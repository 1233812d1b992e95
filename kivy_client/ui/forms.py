"""Which fields each entity's form shows, in what order, with which hint.

The input kind and the choices of a field come from its definition in ``sync_protocol.entities``
(through ``sync_protocol.display.field_kind``), so a new enum field gets the right input here by
being listed once.
"""

from __future__ import annotations

from typing import Any

from sync_protocol.display import field_kind
from sync_protocol.enums import LABELS

from .widgets import FieldSpec

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
    _household("household_number", hint="新户可暂不填写"),
    _household("village_code", hint="12位统计用区划代码"),
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
    field("member", "id_number", hint="18位居民身份证号"),
    field("member", "relation"),
    field("member", "gender"),
    field("member", "birth_date", hint="例如 1980-05-01"),
    *(field("member", n) for n in (
        "health", "labor_ability", "schooling", "education_level", "disability_cert",
        "migrant_place", "migrant_months", "public_welfare_job", "medical_insurance",
        "serious_illness_insurance", "pension_insurance", "dibao", "tekun")),
]

INCOME = [field("income_item", n) for n in ("year", "category", "item", "amount")]

MEASURE = [
    field("measure", "category"),
    field("measure", "item"),
    field("measure", "start_date", hint="例如 2026-03-01"),
    field("measure", "amount"),
    field("measure", "provider"),
    field("measure", "status"),
]

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
