"""Which fields each entity's form shows, in what order and with which input kind."""

from __future__ import annotations

from sync_protocol.enums import (
    LABELS,
    Cause,
    Gender,
    Health,
    HouseholdAttribute,
    HousingGrade,
    IncomeCategory,
    LaborAbility,
    MeasureCategory,
    MeasureStatus,
    MonitoringCategory,
    PovertyStatus,
    Relation,
    Schooling,
    StatusEventKind,
)

from .widgets import FieldSpec

HOUSEHOLD_BASIC = [
    FieldSpec("head_name"),
    FieldSpec("head_id_number", hint="18位居民身份证号"),
    FieldSpec("household_number", hint="新户可暂不填写"),
    FieldSpec("village_code", hint="12位统计用区划代码"),
    FieldSpec("group_name"),
    FieldSpec("address"),
    FieldSpec("phone"),
    FieldSpec("poverty_status", "enum", LABELS[PovertyStatus]),
    FieldSpec("monitoring_category", "enum", LABELS[MonitoringCategory]),
    FieldSpec("household_attribute", "enum", LABELS[HouseholdAttribute]),
    FieldSpec("identified_year", "int"),
    FieldSpec("exit_year", "int"),
    FieldSpec("bank_account", hint="惠农补贴“一卡通”账号（个人信息，注意保密）"),
    FieldSpec("cultivated_land_mu", "float"),
    FieldSpec("forest_land_mu", "float"),
    FieldSpec("has_power", "bool"),
    FieldSpec("road_type"),
    FieldSpec("toilet"),
    FieldSpec("cooking_fuel"),
]

SECURITY = [
    FieldSpec("food_secure", "bool"),
    FieldSpec("clothing_secure", "bool"),
    FieldSpec("education_secure", "bool"),
    FieldSpec("medical_secure", "bool"),
    FieldSpec("housing_secure", "bool"),
    FieldSpec("water_secure", "bool"),
    FieldSpec("housing_grade", "enum", LABELS[HousingGrade]),
    FieldSpec("drinking_water_safe", "bool"),
]

CAUSES = [FieldSpec("causes", "multi_enum", LABELS[Cause], label="致贫/返贫原因（先选主要原因）")]

MEMBER = [
    FieldSpec("name"),
    FieldSpec("id_number", hint="18位居民身份证号"),
    FieldSpec("relation", "enum", LABELS[Relation]),
    FieldSpec("gender", "enum", LABELS[Gender]),
    FieldSpec("birth_date", "date", hint="例如 1980-05-01"),
    FieldSpec("health", "enum", LABELS[Health]),
    FieldSpec("labor_ability", "enum", LABELS[LaborAbility]),
    FieldSpec("schooling", "enum", LABELS[Schooling]),
    FieldSpec("education_level"),
    FieldSpec("disability_cert"),
    FieldSpec("migrant_place"),
    FieldSpec("migrant_months", "int"),
    FieldSpec("public_welfare_job", "bool"),
    FieldSpec("medical_insurance", "bool"),
    FieldSpec("serious_illness_insurance", "bool"),
    FieldSpec("pension_insurance", "bool"),
    FieldSpec("dibao", "bool"),
    FieldSpec("tekun", "bool"),
]

INCOME = [
    FieldSpec("year", "int"),
    FieldSpec("category", "enum", LABELS[IncomeCategory]),
    FieldSpec("item"),
    FieldSpec("amount", "float"),
]

MEASURE = [
    FieldSpec("category", "enum", LABELS[MeasureCategory]),
    FieldSpec("item"),
    FieldSpec("start_date", "date", hint="例如 2026-03-01"),
    FieldSpec("amount", "float"),
    FieldSpec("provider"),
    FieldSpec("status", "enum", LABELS[MeasureStatus]),
]

HELPER = [
    FieldSpec("helper_name"),
    FieldSpec("helper_unit"),
    FieldSpec("helper_position"),
    FieldSpec("helper_phone"),
    FieldSpec("start_date", "date", hint="例如 2026-01-01"),
    FieldSpec("end_date", "date", hint="仍在岗可不填"),
]

STATUS_EVENT = [
    FieldSpec("kind", "enum", LABELS[StatusEventKind]),
    FieldSpec("date", "date", hint="例如 2026-06-30"),
    FieldSpec("note", "multiline"),
]
