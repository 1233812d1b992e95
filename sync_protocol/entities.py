"""The synced entities of domain.md: which fields each has, their types and their checks.

Each ``*Fields`` model lists every field a client may send for that entity; all are optional
because a push carries only the fields that changed. ``validate_fields`` turns a raw ``fields``
dict into clean JSON values or a list of ``FieldError``s — the same code on the tablet and the
server.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from .enums import (
    Cause,
    CheckLevel,
    DisabilityCategory,
    DisabilityGrade,
    Employment,
    Finding,
    FundSource,
    Gender,
    Health,
    HouseholdAttribute,
    HouseholdType,
    HousingGrade,
    IncomeCategory,
    IncomeItemKind,
    JoinReason,
    LaborAbility,
    LeaveReason,
    MeasureCategory,
    MeasureStatus,
    MonitoringCategory,
    MonitoringStatus,
    PovertyStatus,
    ProcedureKind,
    ProcedureSource,
    ProcedureStage,
    Relation,
    RiskElimination,
    RiskType,
    Schooling,
    SchoolStage,
    StatusEventKind,
    Verdict,
)
from .errors import ErrorCode, FieldError
from .income import RIGID_KINDS, TRANSFER_KINDS
from .input_rules import birth_date, china_time_if_naive, date_in_range, multi_line, single_line
from .members import member_errors
from .stored import FieldSpec, Fixed, Width, field_specs
from .validation import (
    REGION_CODE_LENGTH,
    SHA256_RE,
    check_id_number,
    is_phone,
    is_region_code,
    normalise_id_number,
)
from .visits import visit_errors


def _region(value: str) -> str:
    if not is_region_code(value):
        raise PydanticCustomError(str(ErrorCode.validation_region_code_invalid), "region")
    return value


def _phone(value: str) -> str:
    value = value.strip().replace(" ", "")
    if value and not is_phone(value):
        raise PydanticCustomError(str(ErrorCode.validation_phone_invalid), "phone")
    return value


def _id_number(value: str) -> str:
    errors = [e for e in check_id_number(value) if not e.warning]
    if errors:
        raise PydanticCustomError(str(errors[0].code), "id")
    return normalise_id_number(value)


def _attachment_ids(value: list[str]) -> list[str]:
    for item in value:
        if not SHA256_RE.match(item):
            raise PydanticCustomError(str(ErrorCode.validation_attachment_id_invalid), "sha")
    return value


def _unique_causes(value: list[Cause]) -> list[Cause]:
    return list(dict.fromkeys(value))


def _unique_risks(value: list[RiskType]) -> list[RiskType]:
    return list(dict.fromkeys(value))


def _unique(value: list[Any]) -> list[Any]:
    return list(dict.fromkeys(value))


def _one_or_list(value: Any) -> Any:
    """A v1 tablet sends ``health`` as one code: read it as a list of that code."""
    if isinstance(value, str):
        return [value] if value else []
    return value


def _names(value: list[str]) -> list[str]:
    return list(dict.fromkeys(v.strip() for v in value if v.strip()))


# Every free-text type refuses control characters (``input_rules``) before its own checks, so
# a NUL never reaches a regex, a database or an export. Only ``Text`` (notes) is multi-line.
OneLine = BeforeValidator(single_line)
RegionCode = Annotated[str, OneLine, AfterValidator(_region), Width(REGION_CODE_LENGTH)]
Phone = Annotated[str, OneLine, Field(max_length=20), AfterValidator(_phone)]
IdNumber = Annotated[str, OneLine, Field(max_length=20), AfterValidator(_id_number)]
AttachmentIds = Annotated[list[Annotated[str, OneLine]], Field(max_length=50),
                          AfterValidator(_attachment_ids)]
ShortText = Annotated[str, OneLine, Field(max_length=100)]
Text = Annotated[str, BeforeValidator(multi_line), Field(max_length=2000)]
Address = Annotated[str, OneLine, Field(max_length=200)]
BankAccount = Annotated[str, OneLine, Field(max_length=40, pattern=r"^[0-9 ]*$")]
Date = Annotated[dt.date, AfterValidator(date_in_range)]
DateTime = Annotated[dt.datetime, AfterValidator(china_time_if_naive),
                     AfterValidator(date_in_range)]
BirthDate = Annotated[dt.date, AfterValidator(birth_date)]
Amount = Annotated[float, Field(ge=-10_000_000, le=100_000_000), Fixed(14, 2)]
Lat = Annotated[float, Field(ge=-90, le=90)]
Lng = Annotated[float, Field(ge=-180, le=180)]
Year = Annotated[int, Field(ge=1980, le=2100)]
Area = Annotated[float, Field(ge=0, le=100_000)]
Names = Annotated[list[ShortText], Field(max_length=10), AfterValidator(_names)]
RiskTypes = Annotated[list[RiskType], Field(max_length=3), AfterValidator(_unique_risks)]
HealthList = Annotated[list[Health], BeforeValidator(_one_or_list), Field(max_length=4),
                       AfterValidator(_unique)]
EmploymentList = Annotated[list[Employment], Field(max_length=7), AfterValidator(_unique)]
Findings = Annotated[list[Finding], Field(max_length=3), AfterValidator(_unique)]


class _Fields(BaseModel):
    model_config = ConfigDict(extra="forbid", use_enum_values=True)


class HouseholdFields(_Fields):
    village_code: RegionCode | None = None
    group_name: ShortText | None = None
    household_number: ShortText | None = None
    head_name: ShortText | None = None
    head_id_number: IdNumber | None = None
    address: Address | None = None
    phone: Phone | None = None
    poverty_status: PovertyStatus | None = None
    monitoring_category: MonitoringCategory | None = None
    causes: (
        Annotated[list[Cause], Field(max_length=17), AfterValidator(_unique_causes)] | None
    ) = None
    housing_grade: HousingGrade | None = None
    drinking_water_safe: bool | None = None
    lat: Lat | None = None
    lng: Lng | None = None
    household_attribute: HouseholdAttribute | None = None
    identified_year: Year | None = None
    exit_year: Year | None = None
    bank_account: BankAccount | None = None
    cultivated_land_mu: Area | None = None
    forest_land_mu: Area | None = None
    has_power: bool | None = None
    road_type: ShortText | None = None
    toilet: ShortText | None = None
    cooking_fuel: ShortText | None = None
    food_secure: bool | None = None
    clothing_secure: bool | None = None
    education_secure: bool | None = None
    medical_secure: bool | None = None
    housing_secure: bool | None = None
    water_secure: bool | None = None
    # monitoring model v2 (domain.md); the monitoring fields are derived (sync_protocol.procedure)
    household_type: HouseholdType | None = None
    monitoring_status: MonitoringStatus | None = None
    risk_types: RiskTypes | None = None
    monitoring_since: Date | None = None
    eliminated_on: Date | None = None
    elimination_method: RiskElimination | None = None
    reservoir_migrant: bool | None = None
    relocated: bool | None = None
    relocation_site: ShortText | None = None


class MemberFields(_Fields):
    household_id: uuid.UUID | None = None
    name: ShortText | None = None
    id_number: IdNumber | None = None
    relation: Relation | None = None
    gender: Gender | None = None
    birth_date: BirthDate | None = None
    health: HealthList | None = None
    labor_ability: LaborAbility | None = None
    schooling: Schooling | None = None
    education_level: ShortText | None = None
    disability_cert: ShortText | None = None
    migrant_place: ShortText | None = None
    migrant_months: Annotated[int, Field(ge=0, le=12)] | None = None
    public_welfare_job: bool | None = None
    medical_insurance: bool | None = None
    serious_illness_insurance: bool | None = None
    pension_insurance: bool | None = None
    dibao: bool | None = None
    tekun: bool | None = None
    # household file v2 (domain.md)
    disease: ShortText | None = None
    disability_category: DisabilityCategory | None = None
    disability_grade: DisabilityGrade | None = None
    family_doctor_signed: bool | None = None
    school_stage: SchoolStage | None = None
    school_grade: Annotated[int, Field(ge=1, le=6)] | None = None
    employment: EmploymentList | None = None
    joined_on: Date | None = None
    joined_reason: JoinReason | None = None
    left_on: Date | None = None
    left_reason: LeaveReason | None = None


class IncomeItemFields(_Fields):
    household_id: uuid.UUID | None = None
    year: Year | None = None
    category: IncomeCategory | None = None
    item_kind: IncomeItemKind | None = None
    item: ShortText | None = None
    amount: Amount | None = None


class MeasureFields(_Fields):
    household_id: uuid.UUID | None = None
    member_id: uuid.UUID | None = None
    category: MeasureCategory | None = None
    item: ShortText | None = None
    start_date: Date | None = None
    amount: Amount | None = None
    provider: ShortText | None = None
    status: MeasureStatus | None = None
    year: Year | None = None
    fund_source: FundSource | None = None
    planned_on: Date | None = None
    planned_amount: Amount | None = None
    done_on: Date | None = None


class HelperAssignmentFields(_Fields):
    household_id: uuid.UUID | None = None
    helper_user_id: uuid.UUID | None = None
    helper_name: ShortText | None = None
    helper_unit: ShortText | None = None
    helper_position: ShortText | None = None
    helper_phone: Phone | None = None
    start_date: Date | None = None
    end_date: Date | None = None


class VisitFields(_Fields):
    household_id: uuid.UUID | None = None
    visited_at: DateTime | None = None
    visitor_id: uuid.UUID | None = None
    co_visitor: ShortText | None = None
    purpose: ShortText | None = None
    notes: Text | None = None
    lat: Lat | None = None
    lng: Lng | None = None
    location_captured: bool | None = None
    attachment_ids: AttachmentIds | None = None
    household_confirmed: bool | None = None
    withdrawn: bool | None = None  # withdrawn by its author on the day (sync_protocol.visits)
    helper_assignment_id: uuid.UUID | None = None
    findings: Findings | None = None
    finding_note: Text | None = None
    proposes_entry: bool | None = None  # a finding proposes starting a 纳入监测 procedure


class ChecklistItemFields(_Fields):
    household_id: uuid.UUID | None = None
    template_code: ShortText | None = None
    item_code: ShortText | None = None
    verdict: Verdict | None = None
    note: Text | None = None
    attachment_ids: AttachmentIds | None = None
    checked_by: uuid.UUID | None = None
    checked_at: DateTime | None = None
    check_level: CheckLevel | None = None
    rectify_by: Date | None = None
    rectified_at: Date | None = None
    rectify_note: Text | None = None


class StatusEventFields(_Fields):
    household_id: uuid.UUID | None = None
    kind: StatusEventKind | None = None
    date: Date | None = None
    note: Text | None = None
    recorded_by: uuid.UUID | None = None


class ProcedureFields(_Fields):
    household_id: uuid.UUID | None = None
    kind: ProcedureKind | None = None
    source: ProcedureSource | None = None
    category: MonitoringCategory | None = None
    risk_types: RiskTypes | None = None
    method: RiskElimination | None = None
    stage: ProcedureStage | None = None
    proposed_on: Date | None = None
    verifiers: Names | None = None
    verified_at: DateTime | None = None
    visit_id: uuid.UUID | None = None
    review_note: Text | None = None
    notice_start: Date | None = None
    notice_end: Date | None = None
    objection: Text | None = None
    objection_resolution: Text | None = None
    return_reason: Text | None = None
    decision_note: Text | None = None
    stage_by: uuid.UUID | None = None
    stage_at: DateTime | None = None


@dataclass(frozen=True)
class EntitySpec:
    """How one synced entity behaves: its fields, what a create needs, what never changes, what
    the server fills when a create leaves it out (``filled``: kept NOT NULL all the same)."""

    name: str
    label: str
    model: type[_Fields]
    required: tuple[str, ...]
    immutable: tuple[str, ...] = ()
    filled: tuple[str, ...] = ()

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(self.model.model_fields)

    @property
    def stored(self) -> dict[str, FieldSpec]:
        """Each field as the database keeps it (``sync_protocol.stored``)."""
        return field_specs(self.model, self.required + self.filled)

    @property
    def is_household(self) -> bool:
        return self.name == "household"


ENTITIES: dict[str, EntitySpec] = {
    spec.name: spec
    for spec in (
        EntitySpec("household", "农户", HouseholdFields, ("village_code", "head_name")),
        EntitySpec("member", "家庭成员", MemberFields, ("household_id", "name"), ("household_id",)),
        EntitySpec(
            "income_item",
            "收入",
            IncomeItemFields,
            ("household_id", "year", "category", "amount"),
            ("household_id",),
        ),
        EntitySpec(
            "measure", "帮扶措施", MeasureFields, ("household_id", "category"), ("household_id",)
        ),
        EntitySpec(
            "helper_assignment",
            "帮扶责任人",
            HelperAssignmentFields,
            ("household_id", "helper_name"),
            ("household_id",),
        ),
        EntitySpec(
            "visit", "走访记录", VisitFields, ("household_id", "visited_at"),
            ("household_id", "visitor_id", "visited_at")
        ),
        EntitySpec(
            "checklist_item",
            "五清核查",
            ChecklistItemFields,
            ("household_id", "template_code", "item_code", "verdict"),
            ("household_id", "template_code", "item_code"),
        ),
        EntitySpec(
            "status_event", "脱贫轨迹", StatusEventFields, ("household_id", "kind", "date"),
            ("household_id",),
        ),
        EntitySpec(
            "procedure", "监测程序", ProcedureFields, ("household_id", "kind"),
            ("household_id", "kind"), filled=("stage",),  # proposed (sync_protocol.procedure)
        ),
    )
}

CHILD_ENTITIES = tuple(name for name in ENTITIES if name != "household")

# poverty_status is the 2014–2020 建档立卡 attribute: shown as history, never as the current
# status (which is 户类型 + 监测状态 since 2021)
HISTORY_STATUS_LABEL = "历史贫困状态（2020年前）"

FIELD_LABELS: dict[str, str] = {
    "village_code": "所属行政村",
    "group_name": "村民小组/自然村",
    "household_number": "户编号",
    "head_name": "户主姓名",
    "head_id_number": "户主身份证号",
    "address": "住址",
    "phone": "联系电话",
    "poverty_status": HISTORY_STATUS_LABEL,
    "monitoring_category": "监测对象类别",
    "causes": "致贫/返贫原因",
    "housing_grade": "房屋安全鉴定等级",
    "drinking_water_safe": "饮水安全",
    "lat": "纬度",
    "lng": "经度",
    "household_attribute": "脱贫户属性",
    "identified_year": "识别年度",
    "exit_year": "脱贫年度",
    "bank_account": "银行账号",
    "cultivated_land_mu": "耕地面积（亩）",
    "forest_land_mu": "林地面积（亩）",
    "has_power": "是否通生活用电",
    "road_type": "入户路类型",
    "toilet": "厕所类型",
    "cooking_fuel": "主要燃料类型",
    "food_secure": "不愁吃",
    "clothing_secure": "不愁穿",
    "education_secure": "义务教育有保障",
    "medical_secure": "基本医疗有保障",
    "housing_secure": "住房安全有保障",
    "water_secure": "饮水安全有保障",
    "household_id": "所属农户",
    "name": "姓名",
    "id_number": "身份证号",
    "relation": "与户主关系",
    "gender": "性别",
    "birth_date": "出生日期",
    "health": "健康状况",
    "labor_ability": "劳动技能",
    "schooling": "在校生情况",
    "education_level": "文化程度",
    "disability_cert": "残疾证号",
    "migrant_place": "务工地点",
    "migrant_months": "务工时间（月）",
    "public_welfare_job": "公益岗位",
    "medical_insurance": "参加城乡居民基本医疗保险",
    "serious_illness_insurance": "参加大病保险",
    "pension_insurance": "参加城乡居民基本养老保险",
    "dibao": "享受低保",
    "tekun": "特困供养",
    "disease": "病种",
    "disability_category": "残疾类别",
    "disability_grade": "残疾等级",
    "family_doctor_signed": "家庭医生签约",
    "school_stage": "在校生状况",
    "school_grade": "年级",
    "employment": "务工状况",
    "joined_on": "增员日期",
    "joined_reason": "增员原因",
    "left_on": "减员日期",
    "left_reason": "减员原因",
    "item_kind": "收支明细",
    "fund_source": "资金来源",
    "planned_on": "计划实施日期",
    "planned_amount": "计划金额（元）",
    "done_on": "落实日期",
    "helper_assignment_id": "帮扶责任人（结对）",
    "findings": "走访发现",
    "finding_note": "发现情况说明",
    "proposes_entry": "建议启动纳入监测",
    "year": "年度",
    "category": "类别",
    "item": "项目",
    "amount": "金额（元）",
    "member_id": "受益成员",
    "start_date": "开始日期",
    "end_date": "结束日期",
    "provider": "实施单位",
    "status": "状态",
    "helper_user_id": "帮扶责任人账号",
    "helper_name": "帮扶责任人",
    "helper_unit": "工作单位",
    "helper_position": "职务",
    "helper_phone": "帮扶责任人电话",
    "visited_at": "走访时间",
    "visitor_id": "走访人",
    "co_visitor": "同行人员",
    "withdrawn": "已撤回",
    "purpose": "走访类型",
    "notes": "走访情况",
    "location_captured": "已采集定位",
    "attachment_ids": "照片/附件",
    "household_confirmed": "农户已确认",
    "template_code": "五清模板",
    "item_code": "核查项目",
    "verdict": "核查结论",
    "note": "备注",
    "checked_by": "核查人",
    "checked_at": "核查时间",
    "check_level": "核查层级",
    "rectify_by": "整改期限",
    "rectified_at": "整改完成日期",
    "rectify_note": "整改情况",
    "kind": "事件",
    "date": "日期",
    "recorded_by": "记录人",
    "household_type": "户类型",
    "monitoring_status": "监测状态",
    "risk_types": "返贫致贫风险类型",
    "monitoring_since": "纳入监测日期",
    "eliminated_on": "风险消除日期",
    "elimination_method": "风险消除方式",
    "reservoir_migrant": "大中型水库移民后期扶持人口",
    "relocated": "易地扶贫搬迁户",
    "relocation_site": "安置点",
    "source": "识别来源",
    "method": "风险消除方式",
    "stage": "办理环节",
    "proposed_on": "提出日期",
    "verifiers": "入户核实人员",
    "verified_at": "入户核实时间",
    "visit_id": "核实走访记录",
    "review_note": "村级评议结果",
    "notice_start": "公示开始日期",
    "notice_end": "公示结束日期",
    "objection": "公示异议",
    "objection_resolution": "异议处理结果",
    "return_reason": "退回理由",
    "decision_note": "审定意见",
    "stage_by": "办理人",
    "stage_at": "办理时间",
}

_PYDANTIC_CODES = {
    "extra_forbidden": ErrorCode.validation_field_unknown,
    "missing": ErrorCode.validation_field_required,
    "string_too_long": ErrorCode.validation_too_long,
    "too_long": ErrorCode.validation_too_long,
    "enum": ErrorCode.validation_enum_invalid,
    "literal_error": ErrorCode.validation_enum_invalid,
    "uuid_parsing": ErrorCode.validation_uuid_invalid,
    "uuid_type": ErrorCode.validation_uuid_invalid,
    "date_parsing": ErrorCode.validation_date_invalid,
    "date_from_datetime_parsing": ErrorCode.validation_date_invalid,
    "date_from_datetime_inexact": ErrorCode.validation_date_invalid,
    "datetime_parsing": ErrorCode.validation_date_invalid,
    "datetime_from_date_parsing": ErrorCode.validation_date_invalid,
    "greater_than_equal": ErrorCode.validation_out_of_range,
    "less_than_equal": ErrorCode.validation_out_of_range,
    "string_pattern_mismatch": ErrorCode.validation_type_invalid,
}

_VALUES = {str(code) for code in ErrorCode}


def _field_error(err: Any) -> FieldError:
    loc = err.get("loc") or ()
    field = str(loc[0]) if loc else None
    kind = err.get("type", "")
    if kind in _VALUES:
        code = ErrorCode(kind)
    else:
        code = _PYDANTIC_CODES.get(kind, ErrorCode.validation_type_invalid)
    if field in ("amount",) and code == ErrorCode.validation_type_invalid:
        code = ErrorCode.validation_amount_invalid
    if field in ("lat", "lng") and code == ErrorCode.validation_out_of_range:
        code = ErrorCode.validation_coordinates_invalid
    error = FieldError(code, field)
    if field in FIELD_LABELS:
        error.message = f"{FIELD_LABELS[field]}：{error.message}"
    return error


def _labelled(error: FieldError) -> FieldError:
    if error.field in FIELD_LABELS:
        error.message = f"{FIELD_LABELS[error.field]}：{error.message}"
    return error


def income_item_errors(fields: dict[str, Any]) -> list[FieldError]:
    """A breakdown kind (``item_kind``) sent with a category must belong to it: 低保金 … under
    转移性收入, 医疗自付 and 教育支出 under 刚性支出."""
    kind, category = fields.get("item_kind"), fields.get("category")
    if not kind or not category:
        return []
    if (kind in TRANSFER_KINDS and category != "transfer") or (
            kind in RIGID_KINDS and category != "rigid_expense"):
        return [FieldError(ErrorCode.validation_income_item_kind, "item_kind")]
    return []


def record_errors(entity: str, fields: dict[str, Any], *, creating: bool) -> list[FieldError]:
    """The rules of one change that span several of its fields (member, income item), labelled;
    the push runs them after its own per-field validation."""
    if entity == "member":
        return [_labelled(e) for e in member_errors(fields, creating=creating)]
    if entity == "income_item":
        return [_labelled(e) for e in income_item_errors(fields)]
    return []


@dataclass
class Validated:
    """The outcome of ``validate_fields``: clean JSON values, errors, warnings."""

    fields: dict[str, Any]
    errors: list[FieldError]
    warnings: list[FieldError]

    @property
    def ok(self) -> bool:
        return not self.errors


def validate_fields(entity: str, fields: Any, *, creating: bool) -> Validated:
    """Check a push's ``fields`` for ``entity``; on a create every required field must be there."""
    spec = ENTITIES.get(entity)
    if spec is None:
        return Validated({}, [FieldError(ErrorCode.sync_entity_unknown, None)], [])
    if not isinstance(fields, dict):
        return Validated({}, [FieldError(ErrorCode.validation_type_invalid, None)], [])
    try:
        model = spec.model.model_validate(fields)
    except ValidationError as exc:
        return Validated({}, [_field_error(e) for e in exc.errors()], [])
    clean = model.model_dump(mode="json", exclude_unset=True)
    errors: list[FieldError] = []
    if creating:
        for name in spec.required:
            if clean.get(name) in (None, ""):
                errors.append(_field_error({"loc": (name,), "type": "missing"}))
    if entity == "visit":
        errors += visit_errors(clean, creating=creating)
    errors += record_errors(entity, clean, creating=creating)
    warnings: list[FieldError] = []
    for name in ("head_id_number", "id_number"):
        if clean.get(name):
            warnings += [w for w in check_id_number(clean[name], name) if w.warning]
    return Validated(clean, errors, warnings)


def to_python(entity: str, fields: dict[str, Any]) -> dict[str, Any]:
    """JSON values (as on the wire) → Python values (dates, UUIDs) for the database."""
    model = ENTITIES[entity].model.model_validate(fields)
    return model.model_dump(mode="python", exclude_unset=True)


def to_json(entity: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Python values (from the database) → JSON values as on the wire."""
    model = ENTITIES[entity].model.model_construct(**fields)
    out = model.model_dump(mode="json")
    return {k: out[k] for k in fields if k in out}
