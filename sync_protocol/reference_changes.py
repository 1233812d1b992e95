"""What changed for a village cadre between two copies of the reference data: the one place
that decides it.

A sync that brings other reference data (docs/protocol.md, "Reference data") may switch the 五清
template a county's households are checked against or change the county policy the tablet works
under. ``reference_changes`` compares the copy the cadre last knew with the new one and says, in
Chinese, what of it touches their work: the county's 五清 template (as ``policy.template``
chooses it from the county's rules and the templates the data holds) and the policy values the
tablet applies — the monitoring income line per year (监测收入标准), the visit intervals, the
notice days, the entry deadline and the shortest monitoring before 风险消除. Values only the
console uses (the stale-data days of the quality report, the 收入骤减 share of the alerts), staff
and region names are not news for a cadre.

Pure: the tablet calls it after a sync (``kivy_client.store_reference``); the console could
show a county admin the same lines before a change reaches the tablets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import policy
from .policy import CountyRules

# the county policy values a cadre's tablet works by, in the order they are told (days)
POLICY_DAYS: tuple[tuple[str, str], ...] = (
    ("visit_interval_days", "走访周期"),
    ("monitored_visit_interval_days", "监测对象走访周期"),
    ("notice_days", "公示天数"),
    ("entry_deadline_days", "纳入监测办理时限"),
    ("min_monitored_days", "风险消除前最短监测天数"),
)
LINE_TERM = "监测收入标准"
TEMPLATE_PREFIX = "五清模板已更新为"
POLICY_PREFIX = "县级政策已更新："


def reference_changes(before: Mapping[str, Any] | None,
                      after: Mapping[str, Any] | None) -> list[str]:
    """One line per change a cadre should be told of, between the reference data ``before`` (as
    the tablet held it) and ``after`` (as a sync brought it): the county's 五清 template
    (「name」), then its policy in one line. Nothing when ``before`` is empty (the first
    download is no news) and nothing for a county only one of the two carries (a scope that
    changed). With more than one county each line names its county."""
    if not before or not after:
        return []
    old_policies, new_policies = _policies(before), _policies(after)
    counties = [c for c in new_policies if c in old_policies]
    named = len(new_policies) > 1
    out: list[str] = []
    for county in counties:
        old_rules = CountyRules.of(old_policies[county], county)
        new_rules = CountyRules.of(new_policies[county], county)
        prefix = f"{_county_name(after, county)}：" if named else ""
        old_template = policy.template(old_rules, _templates(before))
        new_template = policy.template(new_rules, _templates(after))
        if old_template.code != new_template.code:
            out.append(f"{prefix}{TEMPLATE_PREFIX}「{new_template.name}」")
        elif old_template != new_template:
            out.append(f"{prefix}五清模板「{new_template.name}」的核查项已更新")
        was, now = _day_values(old_rules), _day_values(new_rules)
        parts = _line_changes(old_rules, new_rules) + [
            f"{label}由 {was[name]} 天调整为 {now[name]} 天"
            for name, label in POLICY_DAYS if was[name] != now[name]]
        if parts:
            out.append(f"{prefix}{POLICY_PREFIX}{'；'.join(parts)}")
    return out


def _line_changes(old: CountyRules, new: CountyRules) -> list[str]:
    """The monitoring income line, year by year (latest year first)."""
    before, after = old.procedures.monitoring_lines, new.procedures.monitoring_lines
    out = []
    for year in sorted(set(before) | set(after), reverse=True):
        was, now = before.get(year), after.get(year)
        if was == now:
            continue
        if now is None:
            out.append(f"{year}年{LINE_TERM}已取消")
        elif was is None:
            out.append(f"{year}年{LINE_TERM}定为 {_yuan(now)} 元")
        else:
            out.append(f"{year}年{LINE_TERM}由 {_yuan(was)} 元调整为 {_yuan(now)} 元")
    return out


def _day_values(rules: CountyRules) -> dict[str, int]:
    """The day counts of ``POLICY_DAYS`` of one county's rules."""
    procedures = rules.procedures
    return {"visit_interval_days": rules.visit_interval_days,
            "monitored_visit_interval_days": rules.monitored_visit_interval_days,
            "notice_days": procedures.notice_days,
            "entry_deadline_days": procedures.entry_deadline_days,
            "min_monitored_days": procedures.min_monitored_days}


def _yuan(amount: float) -> str:
    return f"{amount:,.0f}" if float(amount).is_integer() else f"{amount:,.2f}"


def _policies(reference: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    out: dict[str, Mapping[str, Any]] = {}
    for row in reference.get("county_policies") or ():
        if isinstance(row, Mapping) and row.get("county_code"):
            out.setdefault(str(row["county_code"]), row)
    return out


def _templates(reference: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [t for t in reference.get("checklist_templates") or () if isinstance(t, Mapping)]


def _county_name(reference: Mapping[str, Any], county: str) -> str:
    code = county.ljust(12, "0")
    for region in reference.get("regions") or ():
        if isinstance(region, Mapping) and region.get("code") == code and region.get("name"):
            return str(region["name"])
    return county
