"""Enumerations of domain.md with their official Chinese labels.

Each enum is a ``StrEnum`` whose value is the stable code used on the wire and in the database;
``LABELS[Enum]`` maps every member to the label a user sees.
"""

from enum import StrEnum


class Role(StrEnum):
    village_cadre = "village_cadre"
    first_secretary = "first_secretary"
    township_clerk = "township_clerk"
    county_admin = "county_admin"
    village_secretary = "village_secretary"


class PovertyStatus(StrEnum):
    new = "new"
    not_exited = "not_exited"
    pre_exit = "pre_exit"
    exited = "exited"
    returned = "returned"
    cancelled = "cancelled"
    none = "none"


class MonitoringCategory(StrEnum):
    none = "none"
    unstable = "unstable"
    marginal = "marginal"
    sudden_hardship = "sudden_hardship"


class Cause(StrEnum):
    illness = "illness"
    disability = "disability"
    schooling = "schooling"
    disaster = "disaster"
    marriage = "marriage"
    no_land = "no_land"
    no_water = "no_water"
    no_skills = "no_skills"
    no_labor = "no_labor"
    no_capital = "no_capital"
    poor_transport = "poor_transport"
    low_motivation = "low_motivation"
    funeral = "funeral"
    accident = "accident"
    business_failure = "business_failure"
    unstable_job = "unstable_job"
    other = "other"


class Health(StrEnum):
    healthy = "healthy"
    chronic = "chronic"
    serious_illness = "serious_illness"
    disabled = "disabled"


class LaborAbility(StrEnum):
    normal = "normal"
    skilled = "skilled"
    weak = "weak"
    lost = "lost"
    none = "none"


class HousingGrade(StrEnum):
    A = "A"
    B = "B"
    C = "C"
    D = "D"


class IncomeCategory(StrEnum):
    wage = "wage"
    business = "business"
    property = "property"
    transfer = "transfer"
    business_cost = "business_cost"
    rigid_expense = "rigid_expense"


class MeasureCategory(StrEnum):
    industry = "industry"
    employment = "employment"
    finance = "finance"
    public_job = "public_job"
    housing = "housing"
    water = "water"
    health = "health"
    compulsory_education = "compulsory_education"
    other_education = "other_education"
    social_security = "social_security"
    social_aid = "social_aid"
    relocation = "relocation"
    living_conditions = "living_conditions"
    infrastructure = "infrastructure"
    eco_compensation = "eco_compensation"
    asset_income = "asset_income"
    skills_training = "skills_training"
    consumption = "consumption"
    temporary_aid = "temporary_aid"


class MeasureStatus(StrEnum):
    planned = "planned"
    in_progress = "in_progress"
    done = "done"


class Verdict(StrEnum):
    clear = "clear"
    unclear = "unclear"
    unchecked = "unchecked"


class CheckLevel(StrEnum):
    self_check = "self"
    township = "township"
    cross = "cross"
    inspection = "inspection"


class StatusEventKind(StrEnum):
    identified = "identified"
    pre_exit = "pre_exit"
    exited = "exited"
    returned = "returned"
    monitoring_started = "monitoring_started"
    risk_eliminated = "risk_eliminated"
    cancelled = "cancelled"


class RiskElimination(StrEnum):
    assisted = "assisted"
    natural = "natural"


class Gender(StrEnum):
    male = "male"
    female = "female"


class HouseholdAttribute(StrEnum):
    general = "general"
    dibao = "dibao"
    tekun = "tekun"


class Relation(StrEnum):
    head = "head"
    spouse = "spouse"
    son = "son"
    daughter = "daughter"
    son_in_law = "son_in_law"
    daughter_in_law = "daughter_in_law"
    grandchild = "grandchild"
    parent = "parent"
    grandparent = "grandparent"
    sibling = "sibling"
    other = "other"


class Schooling(StrEnum):
    preschool = "preschool"
    primary = "primary"
    junior = "junior"
    senior = "senior"
    vocational = "vocational"
    college = "college"
    not_in_school = "not_in_school"
    dropped_out = "dropped_out"


class DisabilityCategory(StrEnum):
    visual = "visual"
    hearing = "hearing"
    speech = "speech"
    physical = "physical"
    intellectual = "intellectual"
    mental = "mental"
    multiple = "multiple"


class DisabilityGrade(StrEnum):
    grade1 = "1"
    grade2 = "2"
    grade3 = "3"
    grade4 = "4"


class SchoolStage(StrEnum):
    preschool = "preschool"
    primary = "primary"
    junior = "junior"
    senior = "senior"
    secondary_vocational = "secondary_vocational"
    higher_vocational = "higher_vocational"
    college = "college"


class Employment(StrEnum):
    in_county = "in_county"
    in_province = "in_province"
    out_of_province = "out_of_province"
    public_welfare_job = "public_welfare_job"
    self_employed = "self_employed"
    farming = "farming"
    unemployed = "unemployed"


class JoinReason(StrEnum):
    birth = "birth"
    marriage_in = "marriage_in"
    moved_in = "moved_in"
    other = "other"


class LeaveReason(StrEnum):
    death = "death"
    marriage_out = "marriage_out"
    moved_out = "moved_out"
    other = "other"


class IncomeItemKind(StrEnum):
    """The breakdown of 转移性收入 and of 刚性支出 (household file v2)."""

    dibao = "dibao"
    tekun = "tekun"
    pension = "pension"
    eco_compensation = "eco_compensation"
    other_transfer = "other_transfer"
    medical_out_of_pocket = "medical_out_of_pocket"
    education_expense = "education_expense"


class FundSource(StrEnum):
    central = "central"
    provincial = "provincial"
    city_county = "city_county"
    department = "department"
    social = "social"
    credit = "credit"
    self_raised = "self_raised"
    other = "other"


class Finding(StrEnum):
    income_change = "income_change"
    guarantee_problem = "guarantee_problem"
    risk_clue = "risk_clue"


class HouseholdType(StrEnum):
    exited = "exited"
    ordinary = "ordinary"


class MonitoringStatus(StrEnum):
    none = "none"
    monitored = "monitored"
    eliminated = "eliminated"


class RiskType(StrEnum):
    illness = "illness"
    disability = "disability"
    schooling = "schooling"
    disaster = "disaster"
    accident = "accident"
    business_failure = "business_failure"
    unstable_job = "unstable_job"
    no_labor = "no_labor"
    housing_unsafe = "housing_unsafe"
    water_unsafe = "water_unsafe"
    large_expense = "large_expense"
    income_drop = "income_drop"
    other = "other"


class ProcedureKind(StrEnum):
    entry = "entry"
    elimination = "elimination"


class ProcedureSource(StrEnum):
    self_report = "self_report"
    screening = "screening"
    department_alert = "department_alert"


class ProcedureStage(StrEnum):
    proposed = "proposed"
    verified = "verified"
    reviewed = "reviewed"
    notice = "notice"
    township_approved = "township_approved"
    approved = "approved"
    returned = "returned"
    rejected = "rejected"
    withdrawn = "withdrawn"


class ConflictKind(StrEnum):
    field = "field"
    delete_edit = "delete_edit"
    duplicate_record = "duplicate_record"


class ConflictStatus(StrEnum):
    open = "open"
    resolved = "resolved"


LABELS: dict[type[StrEnum], dict[str, str]] = {
    Role: {
        "village_cadre": "村干部",
        "first_secretary": "驻村第一书记",
        "township_clerk": "乡镇乡村振兴（防返贫）专干",
        "county_admin": "县级管理员",
        "village_secretary": "村党支部书记",
    },
    PovertyStatus: {
        "new": "新识别",
        "not_exited": "未脱贫",
        "pre_exit": "预脱贫",
        "exited": "已脱贫",
        "returned": "返贫",
        "cancelled": "注销",
        "none": "一般农户",
    },
    MonitoringCategory: {
        "none": "非监测对象",
        "unstable": "脱贫不稳定户",
        "marginal": "边缘易致贫户",
        "sudden_hardship": "突发严重困难户",
    },
    Cause: {
        "illness": "因病",
        "disability": "因残",
        "schooling": "因学",
        "disaster": "因灾",
        "marriage": "因婚",
        "no_land": "缺土地",
        "no_water": "缺水",
        "no_skills": "缺技术",
        "no_labor": "缺劳动力",
        "no_capital": "缺资金",
        "poor_transport": "交通条件落后",
        "low_motivation": "自身发展动力不足",
        "funeral": "因丧",
        "accident": "因意外事故",
        "business_failure": "因产业项目失败",
        "unstable_job": "因务工就业不稳",
        "other": "其他",
    },
    Health: {
        "healthy": "健康",
        "chronic": "长期慢性病",
        "serious_illness": "大病",
        "disabled": "残疾",
    },
    LaborAbility: {
        "normal": "普通劳动力",
        "skilled": "技能劳动力",
        "weak": "弱劳动力或半劳动力",
        "lost": "丧失劳动力",
        "none": "无劳动力",
    },
    HousingGrade: {"A": "A级", "B": "B级", "C": "C级（局部危房）", "D": "D级（整幢危房）"},
    IncomeCategory: {
        "wage": "工资性收入",
        "business": "生产经营性收入",
        "property": "财产性收入",
        "transfer": "转移性收入",
        "business_cost": "生产经营性支出",
        "rigid_expense": "刚性支出",
    },
    MeasureCategory: {
        "industry": "产业帮扶",
        "employment": "就业帮扶",
        "finance": "金融帮扶（小额信贷）",
        "public_job": "公益岗位",
        "housing": "住房安全保障",
        "water": "饮水安全保障",
        "health": "健康帮扶",
        "compulsory_education": "义务教育保障",
        "other_education": "其他教育帮扶（雨露计划）",
        "social_security": "综合保障（低保/特困）",
        "social_aid": "社会帮扶",
        "relocation": "易地搬迁",
        "living_conditions": "生产生活条件改善",
        "infrastructure": "基础设施建设",
        "eco_compensation": "生态补偿（生态护林员）",
        "asset_income": "资产收益（入股分红/光伏）",
        "skills_training": "技能培训",
        "consumption": "消费帮扶",
        "temporary_aid": "临时救助",
    },
    MeasureStatus: {"planned": "计划实施", "in_progress": "实施中", "done": "已落实"},
    Verdict: {"clear": "清", "unclear": "不清", "unchecked": "未核查"},
    CheckLevel: {"self": "村级自查", "township": "乡镇核查", "cross": "交叉核查",
                 "inspection": "督导抽查"},
    StatusEventKind: {
        "identified": "识别为贫困户",
        "pre_exit": "预脱贫",
        "exited": "脱贫",
        "returned": "返贫",
        "monitoring_started": "纳入监测",
        "risk_eliminated": "风险消除",
        "cancelled": "注销",
    },
    RiskElimination: {"assisted": "帮扶消除", "natural": "自然消除"},
    Gender: {"male": "男", "female": "女"},
    HouseholdAttribute: {"general": "一般脱贫户", "dibao": "低保脱贫户", "tekun": "特困脱贫户"},
    Relation: {
        "head": "户主",
        "spouse": "配偶",
        "son": "之子",
        "daughter": "之女",
        "son_in_law": "之女婿",
        "daughter_in_law": "之儿媳",
        "grandchild": "之孙子女",
        "parent": "之父母",
        "grandparent": "之祖父母",
        "sibling": "兄弟姐妹",
        "other": "其他",
    },
    Schooling: {
        "preschool": "学前教育",
        "primary": "小学",
        "junior": "初中",
        "senior": "高中",
        "vocational": "中职/高职",
        "college": "大专及以上",
        "not_in_school": "非在校生",
        "dropped_out": "辍学",
    },
    DisabilityCategory: {
        "visual": "视力残疾",
        "hearing": "听力残疾",
        "speech": "言语残疾",
        "physical": "肢体残疾",
        "intellectual": "智力残疾",
        "mental": "精神残疾",
        "multiple": "多重残疾",
    },
    DisabilityGrade: {"1": "一级", "2": "二级", "3": "三级", "4": "四级"},
    SchoolStage: {
        "preschool": "学前教育",
        "primary": "小学",
        "junior": "初中",
        "senior": "高中",
        "secondary_vocational": "中职",
        "higher_vocational": "高职",
        "college": "大专及以上",
    },
    Employment: {
        "in_county": "县内务工",
        "in_province": "省内县外务工",
        "out_of_province": "省外务工",
        "public_welfare_job": "公益岗位",
        "self_employed": "自主创业",
        "farming": "在家务农",
        "unemployed": "有劳动能力未就业",
    },
    JoinReason: {"birth": "出生", "marriage_in": "婚入", "moved_in": "迁入", "other": "其他"},
    LeaveReason: {"death": "死亡", "marriage_out": "婚出", "moved_out": "迁出", "other": "其他"},
    IncomeItemKind: {
        "dibao": "低保金",
        "tekun": "特困供养金",
        "pension": "养老金",
        "eco_compensation": "生态补偿金",
        "other_transfer": "其他转移性收入",
        "medical_out_of_pocket": "医疗自付",
        "education_expense": "教育支出",
    },
    FundSource: {
        "central": "中央衔接资金",
        "provincial": "省级衔接资金",
        "city_county": "市县衔接资金",
        "department": "行业部门资金",
        "social": "社会帮扶资金",
        "credit": "金融信贷资金",
        "self_raised": "农户自筹",
        "other": "其他",
    },
    Finding: {"income_change": "收入变化", "guarantee_problem": "三保障问题",
              "risk_clue": "风险线索"},
    HouseholdType: {"exited": "脱贫户", "ordinary": "一般农户"},
    MonitoringStatus: {"none": "非监测对象", "monitored": "风险未消除", "eliminated": "风险已消除"},
    RiskType: {
        "illness": "因病",
        "disability": "因残",
        "schooling": "因学",
        "disaster": "因灾",
        "accident": "因意外事故",
        "business_failure": "因产业项目失败",
        "unstable_job": "因务工就业不稳",
        "no_labor": "缺劳动力",
        "housing_unsafe": "住房出现安全问题",
        "water_unsafe": "饮水安全问题",
        "large_expense": "大额刚性支出",
        "income_drop": "收入骤减",
        "other": "其他",
    },
    ProcedureKind: {"entry": "纳入监测", "elimination": "风险消除"},
    ProcedureSource: {
        "self_report": "农户自主申报",
        "screening": "干部排查",
        "department_alert": "部门筛查预警",
    },
    ProcedureStage: {
        "proposed": "已提出",
        "verified": "已入户核实",
        "reviewed": "已村级评议",
        "notice": "公示中",
        "township_approved": "乡镇已审核",
        "approved": "县级已确认",
        "returned": "退回",
        "rejected": "不予通过",
        "withdrawn": "已撤回",
    },
    ConflictKind: {
        "field": "字段冲突",
        "delete_edit": "删除与修改冲突",
        "duplicate_record": "疑似重复户",
    },
    ConflictStatus: {"open": "待处理", "resolved": "已处理"},
}


# Words retired by the 2021+ official wording that older files (and the national system's old
# exports) still carry: read as their codes on import, never shown.
RETIRED_LABELS: dict[type[StrEnum], dict[str, str]] = {
    PovertyStatus: {"非贫困户": "none"},
    HouseholdAttribute: {"一般贫困户": "general", "低保贫困户": "dibao",
                         "特困供养贫困户": "tekun"},
    MeasureStatus: {"计划": "planned"},
}


def label(value: StrEnum | str | None, enum: type[StrEnum] | None = None) -> str:
    """The Chinese label of an enumeration value, or the raw value when it is unknown."""
    if value is None:
        return ""
    enum = enum or type(value)  # type: ignore[assignment]
    return LABELS.get(enum, {}).get(str(value), str(value))  # type: ignore[arg-type]
