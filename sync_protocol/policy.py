"""County rules and the policy decisions every face takes from them.

One home for: "today" in China time, whether a household is monitored, the visit interval a
household must keep, the checklist template a county uses, the ``HintPolicy`` the 五清 hints
are computed under, and the procedure policy (``CountyRules.procedures``) the monitoring
procedures are judged under. The server builds ``CountyRules`` from its county policy as
``GET /api/v1/policy`` shows it (``server.reference.county_rules``), the tablet from the same dict
in the reference data the server sent; both then ask the same functions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from .templates import (
    DEFAULT_TEMPLATE_CODE,
    ChecklistTemplateDef,
    choice_error,
    stored_codes,
    template_from,
)

CHINA_TZ = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")
DEFAULT_VISIT_INTERVAL_DAYS = 30
# the county's default 收入骤减 share (county_policy.income_drop_share; sync_protocol.alerts): a
# fall of more than 30 % of 人均纯收入 against the year before
DEFAULT_INCOME_DROP_SHARE = 0.3


# --- today ----------------------------------------------------------------------------------------


def china_now(now: dt.datetime | None = None) -> dt.datetime:
    """``now`` (default: the current moment) in China time; a naive value is taken as UTC."""
    moment = now or dt.datetime.now(dt.UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(CHINA_TZ)


def china_today(now: dt.datetime | None = None) -> dt.date:
    """Field work runs on Beijing time: "today", "this month" and "overdue" are dates in China,
    whatever time zone the server or the tablet is set to."""
    return china_now(now).date()


def china_date(value: Any) -> dt.date | None:
    """The date in China of a moment (a datetime or ISO text; naive means UTC), or a date as
    it is; None when empty or not a date. A visit at 00:30 UTC on 30 November was on 30 November
    in Beijing, one at 20:00 UTC on 1 December."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return china_now(value).date()
    if isinstance(value, dt.date):
        return value
    text = str(value)
    try:
        if len(text) <= 10:
            return dt.date.fromisoformat(text)
        return china_now(dt.datetime.fromisoformat(text.replace("Z", "+00:00"))).date()
    except ValueError:
        return None


def month_start(today: dt.date) -> dt.datetime:
    """The first moment of ``today``'s month in China time."""
    return dt.datetime.combine(today.replace(day=1), dt.time(), CHINA_TZ)


# --- county rules ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcedurePolicy:
    """A county's rules for the monitoring procedures (part of ``CountyRules``)."""

    notice_days: int = 5
    entry_deadline_days: int = 15
    min_monitored_days: int = 180
    # the monitoring income line (yuan per person per year), by year
    monitoring_lines: Mapping[int, float] = field(default_factory=dict)
    # 应纳未纳 收入骤减: the share of 人均纯收入 lost against the year before that raises an alert
    income_drop_share: float = DEFAULT_INCOME_DROP_SHARE

    def monitoring_line(self, year: int) -> float | None:
        value = self.monitoring_lines.get(year)
        return float(value) if value is not None else None

    @classmethod
    def of(cls, get: Any) -> ProcedurePolicy:
        """From a getter of the policy's values (see ``CountyRules.of``): a missing, negative
        or non-numeric value takes the default; lines keyed by year (text or number)."""
        defaults = cls()

        def number(name: str) -> int:
            value = get(name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                return int(getattr(defaults, name))
            return int(value)

        lines: dict[int, float] = {}
        raw = get("monitoring_lines")
        for year, amount in (raw.items() if isinstance(raw, Mapping) else ()):
            try:
                lines[int(year)] = float(amount)
            except (TypeError, ValueError):
                continue
        drop = get("income_drop_share")
        share = float(drop) if isinstance(drop, int | float) and not isinstance(drop, bool) \
            and 0 < drop < 1 else defaults.income_drop_share
        return cls(number("notice_days"), number("entry_deadline_days"),
                   number("min_monitored_days"), dict(sorted(lines.items())), share)


@dataclass(frozen=True)
class CountyRules:
    """A county's policy (the defaults when it has none): visits, the 五清 template and the
    monitoring procedures (``procedures``: notice days, entry deadline, minimum monitored days,
    the monitoring income line per year)."""

    county_code: str = ""
    visit_interval_days: int = DEFAULT_VISIT_INTERVAL_DAYS
    monitored_visit_interval_days: int = DEFAULT_VISIT_INTERVAL_DAYS
    stale_after_days: int = 180
    checklist_template: str = DEFAULT_TEMPLATE_CODE
    procedures: ProcedurePolicy = field(default_factory=ProcedurePolicy)

    @classmethod
    def of(cls, source: Mapping[str, Any] | Any | None, county_code: str = "") -> CountyRules:
        """Rules from a reference-data dict or an object with the same attributes (the server's
        ``CountyPolicy`` row); a missing, empty or malformed value takes the default."""
        if source is None:
            return cls(county_code=county_code)
        get = source.get if isinstance(source, Mapping) else (
            lambda name: getattr(source, name, None))
        defaults = cls()

        def number(name: str) -> int:
            try:
                value = int(get(name) or 0)
            except (TypeError, ValueError):
                value = 0
            return value if value > 0 else getattr(defaults, name)

        return cls(
            county_code=str(get("county_code") or county_code),
            visit_interval_days=number("visit_interval_days"),
            monitored_visit_interval_days=number("monitored_visit_interval_days"),
            stale_after_days=number("stale_after_days"),
            checklist_template=str(get("checklist_template") or DEFAULT_TEMPLATE_CODE),
            procedures=ProcedurePolicy.of(get),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def rules_for_village(village_code: str | None,
                      policies: Iterable[Mapping[str, Any]] | None) -> CountyRules:
    """The rules of the village's county among reference-data policies (defaults when absent)."""
    county = str(village_code or "")[:6]
    for policy in policies or ():
        if isinstance(policy, Mapping) and str(policy.get("county_code") or "") == county:
            return CountyRules.of(policy, county)
    return CountyRules(county_code=county)


# --- households -----------------------------------------------------------------------------------

# The fields a complete 一户一档 must have (the 底子清 hint and the data-quality dashboard).
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "household": ("village_code", "head_name", "head_id_number", "address", "phone",
                  "poverty_status"),
    "member": ("name", "id_number", "relation", "gender"),
}


def missing_fields(entity: str, record: Mapping[str, Any]) -> list[str]:
    """The required fields of ``entity`` that the record leaves empty, in the listed order."""
    return [name for name in REQUIRED_FIELDS.get(entity, ()) if record.get(name) in (None, "")]



def is_monitored(household: Mapping[str, Any]) -> bool:
    """A 防止返贫监测对象 whose risk is not eliminated: monitoring status ``monitored``
    (风险未消除, set by an approved procedure). A record without a monitoring status (data from
    before monitoring model v2) falls back to its monitoring category.

    The only place this is decided."""
    status = household.get("monitoring_status")
    if status not in (None, ""):
        return bool(status == "monitored")
    return household.get("monitoring_category") not in (None, "", "none")


def household_type(household: Mapping[str, Any]) -> str:
    """户类型: ``exited`` 脱贫户 or ``ordinary`` 一般农户. A record without one (from before
    monitoring model v2) takes it from its 2014–2020 history as migration 0008 did: registered
    (any poverty_status but none / cancelled) is 脱贫户."""
    value = household.get("household_type")
    if value not in (None, ""):
        return str(value)
    history = household.get("poverty_status")
    return "ordinary" if history in (None, "", "none", "cancelled") else "exited"


def visit_interval_days(rules: CountyRules, household: Mapping[str, Any]) -> int:
    """How many days may pass between two visits (monitored households: the shorter interval)."""
    if is_monitored(household):
        return rules.monitored_visit_interval_days
    return rules.visit_interval_days


def template_code(rules: CountyRules, known: Collection[str] = ()) -> str:
    """The checklist template the county uses: a built-in one, or one of ``known`` (the codes of
    the templates the server's table or the tablet's reference data holds: a county's own) that is
    not another county's (``templates.choice_error``); ``wuqing.v1`` otherwise."""
    code = rules.checklist_template
    return code if choice_error(code, rules.county_code, known) is None \
        else DEFAULT_TEMPLATE_CODE


def template(rules: CountyRules, stored: Iterable[Mapping[str, Any]] | None = None
             ) -> ChecklistTemplateDef:
    """The county's template as ``stored`` keeps it (the server's ``checklist_template`` rows,
    the tablet's reference data; a county's own template is known only there)."""
    rows = list(stored or ())
    return template_from(template_code(rules, stored_codes(rows)), rows)


@dataclass
class HintPolicy:
    """What the 五清 hints of one household are computed under."""

    today: dt.date
    visit_interval_days: int = DEFAULT_VISIT_INTERVAL_DAYS
    template_code: str = DEFAULT_TEMPLATE_CODE


def hint_policy(rules: CountyRules, household: Mapping[str, Any],
                today: dt.date | None = None, known: Collection[str] = ()) -> HintPolicy:
    """The hint policy of one household under its county's rules (today: China's today;
    ``known``: the stored templates' codes, as for ``template_code``)."""
    return HintPolicy(today=today or china_today(),
                      visit_interval_days=visit_interval_days(rules, household),
                      template_code=template_code(rules, known))


# --- the household number ------------------------------------------------------------------------


def household_number_locked(server_fields: Mapping[str, Any] | None) -> bool:
    """户编号 is the national system's number: once the server holds one for a household, a
    tablet shows it read-only (a new household may get its number typed until it is synced)."""
    return bool(server_fields and server_fields.get("household_number"))


# --- offline unlock -------------------------------------------------------------------------------

UNLOCK_FREE_ATTEMPTS = 3
UNLOCK_MAX_DELAY_S = 300


def unlock_delay_s(failures: int) -> int:
    """Seconds a tablet waits before the next offline unlock attempt after ``failures`` wrong
    passwords or PINs in a row: the first three are free, then 30 s, 60 s, 120 s ... up to
    5 minutes (a 4-digit PIN then takes weeks to guess). A correct unlock resets the count."""
    if failures < UNLOCK_FREE_ATTEMPTS:
        return 0
    return int(min(UNLOCK_MAX_DELAY_S, 30 * 2 ** (failures - UNLOCK_FREE_ATTEMPTS)))
