"""Data-quality figures per village: 五清已核查 / 全部为清, overdue rectifications (整改),
overdue visits, invalid or missing fields, stale records, open conflicts, rejected changes by
device."""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from server.console.common import village_names
from server.db.tables import Conflict, Household, SyncRejection, User
from server.queries.bundles import as_dict, county_rules, load_bundles
from server.reference import rules_checklist
from server.scope import Principal
from sync_protocol.entities import ENTITIES, FIELD_LABELS, validate_fields
from sync_protocol.policy import (
    CountyRules,
    china_date,
    china_today,
    missing_fields,
    visit_interval_days,
)
from sync_protocol.templates import ChecklistTemplateDef
from sync_protocol.validation import check_id_number
from sync_protocol.visits import counts as visit_counts
from sync_protocol.wuqing import (
    HouseholdBundle,
    is_all_clear,
    is_checked,
    overdue_rectifications,
)

ID_FIELDS = ("head_id_number", "id_number")
LIST_LIMIT = 200


@dataclass
class Issue:
    household_id: uuid.UUID
    head_name: str
    village_code: str
    text: str


@dataclass
class VillageQuality:
    code: str
    name: str
    households: int = 0
    wuqing_checked: int = 0  # 五清已核查
    wuqing_all_clear: int = 0  # 全部为清
    rectify_overdue: int = 0  # households with an overdue 整改
    overdue: int = 0
    invalid: int = 0
    stale: int = 0
    open_conflicts: int = 0


@dataclass
class QualityReport:
    villages: list[VillageQuality]
    overdue: list[Issue] = field(default_factory=list)
    rectifications: list[Issue] = field(default_factory=list)  # overdue 整改, per village
    invalid: list[Issue] = field(default_factory=list)
    stale: list[Issue] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    reused_photos: list[dict[str, Any]] = field(default_factory=list)
    today: dt.date = field(default_factory=china_today)

    @property
    def totals(self) -> VillageQuality:
        t = VillageQuality("", "合计")
        for v in self.villages:
            for name in ("households", "wuqing_checked", "wuqing_all_clear", "rectify_overdue",
                         "overdue", "invalid", "stale", "open_conflicts"):
                setattr(t, name, getattr(t, name) + getattr(v, name))
        return t


@functools.lru_cache(maxsize=200_000)
def _id_number_error(number: str) -> str | None:
    """The first error of an ID number (cached: the region look-up is slow and numbers repeat
    on every dashboard load)."""
    errors = [e for e in check_id_number(number) if not e.warning]
    return errors[0].message if errors else None


def _field_problems(entity: str, record: dict[str, Any]) -> list[str]:
    """Chinese descriptions of the record's missing required fields and invalid values."""
    spec = ENTITIES[entity]
    values = {k: record.get(k) for k in spec.fields if record.get(k) not in (None, "")}
    values.pop("household_id", None)
    out = [f"{FIELD_LABELS.get(k, k)}未填写" for k in missing_fields(entity, record)]
    for name in ID_FIELDS:
        number = values.pop(name, None)
        if isinstance(number, str) and (problem := _id_number_error(number)):
            out.append(f"{FIELD_LABELS[name]}：{problem}")
    checked = validate_fields(entity, values, creating=False)
    out += [e.message for e in checked.errors]
    return out


def household_problems(bundle: HouseholdBundle) -> list[str]:
    problems = _field_problems("household", bundle.household)
    seen: Counter[str] = Counter(str(m["id_number"]) for m in bundle.members
                                 if m.get("id_number"))
    for m in bundle.members:
        for p in _field_problems("member", m):
            problems.append(f"成员{m.get('name') or ''}：{p}")
    for number, n in seen.items():
        if n > 1:
            problems.append(f"成员身份证号重复（{number[:6]}…）")
    return problems


def _last_change(bundle: HouseholdBundle) -> dt.datetime:
    stamps = [bundle.household["updated_at"]]
    for rows in (bundle.members, bundle.incomes, bundle.measures, bundle.helpers, bundle.visits,
                 bundle.status_events, bundle.checklist):
        stamps += [r["updated_at"] for r in rows]
    return max(dt.datetime.fromisoformat(s) for s in stamps)


def visit_dates(bundle: HouseholdBundle) -> list[dt.date]:
    """The dates (in China) of the household's visits that count (not withdrawn)."""
    return [d for d in (china_date(v.get("visited_at")) for v in bundle.visits
                        if visit_counts(v)) if d]


def last_visit(bundle: HouseholdBundle) -> dt.date | None:
    return max(visit_dates(bundle), default=None)


def _late_text(title: str, item: dict[str, Any], today: dt.date) -> str:
    due = china_date(item.get("rectify_by")) or today
    return f"{title}：整改期限{due:%Y-%m-%d}，已逾期{(today - due).days}天"


def build_report(session: Session, principal: Principal, village: str = "",
                 today: dt.date | None = None) -> QualityReport:
    today = today or china_today()
    names = village_names(session, principal)
    query = select(Household).where(principal.scope_clause(Household.village_code),
                                    Household.deleted.is_(False))  # type: ignore[attr-defined]
    if village:
        query = query.where(Household.village_code == village)
    households = session.exec(query.order_by(Household.village_code, Household.head_name)).all()
    bundles = load_bundles(session, households)
    policies: dict[str, CountyRules] = {}
    templates_by_county: dict[str, ChecklistTemplateDef] = {}
    per: dict[str, VillageQuality] = {}
    report = QualityReport([], today=today)
    now = dt.datetime.now(dt.UTC)
    for hh in households:
        b = bundles[hh.id]
        vq = per.setdefault(hh.village_code, VillageQuality(hh.village_code,
                                                            names.get(hh.village_code,
                                                                      hh.village_code)))
        rules = county_rules(session, hh.village_code, policies)
        vq.households += 1
        if rules.county_code not in templates_by_county:
            templates_by_county[rules.county_code] = rules_checklist(session, rules)
        template = templates_by_county[rules.county_code]
        vq.wuqing_checked += is_checked(b, template)
        vq.wuqing_all_clear += is_all_clear(b, template)
        late = overdue_rectifications(b, template, today)
        if late:
            vq.rectify_overdue += 1
            titles = {item.code: item.title for item in template.items}
            report.rectifications.append(Issue(hh.id, hh.head_name, hh.village_code, "；".join(
                _late_text(titles.get(str(r.get("item_code")), str(r.get("item_code"))), r, today)
                for r in late)))
        interval = visit_interval_days(rules, b.household)
        last = last_visit(b)
        if last is None or (today - last).days > interval:
            vq.overdue += 1
            when = f"最近走访 {last:%Y-%m-%d}" if last else "从未走访"
            report.overdue.append(Issue(hh.id, hh.head_name, hh.village_code,
                                        f"{when}（要求每 {interval} 天至少走访一次）"))
        problems = household_problems(b)
        if problems:
            vq.invalid += 1
            report.invalid.append(Issue(hh.id, hh.head_name, hh.village_code,
                                        "；".join(problems[:6])))
        changed = _last_change(b)
        if (now - changed).days > rules.stale_after_days:
            vq.stale += 1
            report.stale.append(Issue(hh.id, hh.head_name, hh.village_code,
                                      f"{(now - changed).days} 天未更新（{changed:%Y-%m-%d}）"))
    conflict_q = select(Conflict.village_code, func.count()).where(
        Conflict.status == "open", principal.scope_clause(Conflict.village_code))
    if village:
        conflict_q = conflict_q.where(Conflict.village_code == village)
    for code, n in session.exec(conflict_q.group_by(Conflict.village_code)).all():
        per.setdefault(code, VillageQuality(code, names.get(code, code))).open_conflicts = n
    report.villages = sorted(per.values(), key=lambda v: v.code)
    report.rectifications.sort(key=lambda i: i.village_code)
    for name in ("overdue", "rectifications", "invalid", "stale"):
        setattr(report, name, getattr(report, name)[:LIST_LIMIT])
    report.rejected = rejected_by_device(session, principal)
    report.reused_photos = reused_photos(bundles.values())
    return report


def reused_photos(bundles: Any) -> list[dict[str, Any]]:
    """Photos attached to visits of more than one household, or to several visits — a known way
    to fake visits (domain.md)."""
    uses: dict[str, list[tuple[str, str, str]]] = {}
    for b in bundles:
        h = b.household
        for v in b.visits:
            for sha in v.get("attachment_ids") or []:
                uses.setdefault(sha, []).append((h["id"], h.get("head_name") or "",
                                                 str(v.get("visited_at") or "")[:10]))
    out: list[dict[str, Any]] = []
    for sha, rows in uses.items():
        if len(rows) > 1:
            out.append({"sha256": sha, "count": len(rows),
                        "households": sorted({(hid, name) for hid, name, _ in rows}),
                        "dates": sorted({d for _, _, d in rows})})
    return sorted(out, key=lambda r: r["count"], reverse=True)[:LIST_LIMIT]


def users_in_scope(session: Session, principal: Principal) -> list[User]:
    """Users whose every scope lies inside the principal's scope."""
    users = session.exec(select(User)).all()
    return [u for u in users
            if u.scopes and all(any(s.startswith(p) for p in principal.scopes) for s in u.scopes)]


def rejected_by_device(session: Session, principal: Principal) -> list[dict[str, Any]]:
    """Rejected pushes per device of the users in scope, with the most frequent reason."""
    users = {u.id: u for u in users_in_scope(session, principal)}
    if not users:
        return []
    rows = session.exec(select(SyncRejection).where(
        SyncRejection.user_id.in_(list(users)))  # type: ignore[attr-defined]
        .order_by(SyncRejection.at.desc()).limit(5000)).all()  # type: ignore[attr-defined]
    out: dict[tuple[Any, str], dict[str, Any]] = {}
    for r in rows:
        entry = out.setdefault((r.user_id, r.device_id), {
            "user": users[r.user_id].name, "device_id": r.device_id, "count": 0,
            "last_at": r.at, "reasons": Counter()})
        entry["count"] += 1
        entry["reasons"][r.message or r.code or "未知原因"] += 1
    result = sorted(out.values(), key=lambda e: e["count"], reverse=True)
    for e in result:
        e["reasons"] = "；".join(f"{m}（{n}）" for m, n in e["reasons"].most_common(3))
    return result


__all__ = ["build_report", "QualityReport", "VillageQuality", "as_dict"]
