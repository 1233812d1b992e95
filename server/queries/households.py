"""Read-side SQL for households: the scoped, filtered list and one household with everything.

Every query takes the ``Principal`` and applies its scope in SQL, so nothing outside the user's
region prefixes is ever loaded.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from server.db.tables import (
    ChangeLog,
    ChecklistItem,
    Household,
    Member,
    Region,
    Visit,
)
from server.queries.bundles import county_rules, load_bundles
from server.queries.names import user_names
from server.queries.procedures import household_procedures
from server.reference import checklist_template, county_checklist, template_codes
from server.scope import Principal
from sync_protocol.crosscheck import cross_checks, plan_vs_done
from sync_protocol.enums import (
    LABELS,
    Cause,
    HouseholdType,
    MonitoringCategory,
    MonitoringStatus,
    PovertyStatus,
)
from sync_protocol.income import income_table
from sync_protocol.members import current_members
from sync_protocol.policy import (
    china_today,
    hint_policy,
    household_type,
    month_start,
)
from sync_protocol.templates import DEFAULT_TEMPLATE_CODE
from sync_protocol.wuqing import (
    CHECKED_VERDICTS,
    CLEAR_VERDICTS,
    compute_hints,
    is_all_clear,
    is_checked,
    manual_verdicts,
)

H = Household.__table__  # type: ignore[attr-defined]
M = Member.__table__  # type: ignore[attr-defined]
V = Visit.__table__  # type: ignore[attr-defined]
C = ChecklistItem.__table__  # type: ignore[attr-defined]


@dataclass
class HouseholdFilters:
    village: str | None = None
    township: str | None = None
    poverty_status: str | None = None  # 2014–2020 history (建档立卡 attribute)
    household_type: str | None = None  # 户类型: exited 脱贫户 / ordinary 一般农户
    monitoring_status: str | None = None  # 监测状态: none / monitored / eliminated
    monitoring_category: str | None = None
    wuqing_incomplete: bool = False  # older name of wuqing_checked=False
    wuqing_checked: bool | None = None  # 五清已核查 (every item clear or unclear) or not
    wuqing_all_clear: bool | None = None  # 全部为清 or not
    not_visited_this_month: bool = False
    q: str | None = None
    page: int = 1
    page_size: int = 50


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def scope_template_codes(session: Session, principal: Principal) -> tuple[str, list[str]]:
    """The checklist template of the user's county and its item codes."""
    if len(principal.county_codes) == 1:
        template = county_checklist(session, principal.county_codes[0])
    else:
        template = checklist_template(session, DEFAULT_TEMPLATE_CODE)
    return template.code, list(template.item_codes)


def _checked_counts(principal: Principal, template: str, items: list[str]) -> Any:
    """Per household: how many template items have a latest verdict that counts as checked
    (clear or unclear) and how many as clear (sync_protocol.wuqing's verdict sets)."""
    latest = (
        sa.select(C.c.household_id, C.c.item_code, C.c.verdict)
        .where(principal.scope_clause(C.c.village_code), C.c.deleted.is_(False),
               C.c.template_code == template, C.c.item_code.in_(items))
        .distinct(C.c.household_id, C.c.item_code)
        .order_by(C.c.household_id, C.c.item_code, C.c.checked_at.desc().nulls_last(),
                  C.c.updated_at.desc())
        .subquery("latest")
    )
    return (
        sa.select(latest.c.household_id,
                  sa.func.count().filter(latest.c.verdict.in_(CHECKED_VERDICTS))
                  .label("checked"),
                  sa.func.count().filter(latest.c.verdict.in_(CLEAR_VERDICTS)).label("clear"))
        .group_by(latest.c.household_id)
        .subquery("checked")
    )


def list_households(session: Session, principal: Principal, f: HouseholdFilters,
                    today: dt.date | None = None) -> dict[str, Any]:
    """The page of households in scope matching the filters, with totals for paging."""
    today = today or china_today()
    template, items = scope_template_codes(session, principal)
    checked = _checked_counts(principal, template, items)
    # the members who count today (sync_protocol.members.counts_on, in SQL)
    members = (sa.select(sa.func.count()).where(
                   M.c.household_id == H.c.id, M.c.deleted.is_(False),
                   sa.or_(M.c.joined_on.is_(None), M.c.joined_on <= today),
                   sa.or_(M.c.left_on.is_(None), M.c.left_on > today))
               .correlate(H).scalar_subquery())
    last_visit = (sa.select(sa.func.max(V.c.visited_at)).where(
                      V.c.household_id == H.c.id, V.c.deleted.is_(False),
                      sa.func.coalesce(V.c.withdrawn, False).is_(False))
                  .correlate(H).scalar_subquery())
    checked_n = sa.func.coalesce(checked.c.checked, 0)
    clear_n = sa.func.coalesce(checked.c.clear, 0)

    where = [principal.scope_clause(H.c.village_code), H.c.deleted.is_(False)]
    if f.village:
        where.append(H.c.village_code == f.village)
    if f.township:
        where.append(H.c.village_code.startswith(f.township, autoescape=True))
    if f.poverty_status:
        where.append(H.c.poverty_status == f.poverty_status)
    if f.household_type:
        where.append(H.c.household_type == f.household_type)
    if f.monitoring_status:  # a record from before monitoring model v2 counts as 非监测对象
        where.append(sa.func.coalesce(H.c.monitoring_status, MonitoringStatus.none.value)
                     == f.monitoring_status)
    if f.monitoring_category:
        where.append(H.c.monitoring_category == f.monitoring_category)
    if f.wuqing_incomplete:
        where.append(checked_n < len(items))
    if f.wuqing_checked is not None:
        where.append(checked_n >= len(items) if f.wuqing_checked else checked_n < len(items))
    if f.wuqing_all_clear is not None:
        where.append(clear_n >= len(items) if f.wuqing_all_clear else clear_n < len(items))
    if f.not_visited_this_month:
        where.append(sa.or_(last_visit.is_(None), last_visit < month_start(today)))
    if f.q:
        text = f.q.strip()
        member_match = sa.exists().where(
            M.c.household_id == H.c.id, M.c.deleted.is_(False),
            sa.or_(M.c.name.icontains(text, autoescape=True), M.c.id_number == text.upper()),
        )
        where.append(sa.or_(H.c.head_name.icontains(text, autoescape=True),
                            H.c.household_number.icontains(text, autoescape=True),
                            H.c.group_name.icontains(text, autoescape=True),
                            H.c.head_id_number == text.upper(), member_match))

    base = sa.select(H).outerjoin(checked, checked.c.household_id == H.c.id).where(*where)
    total = session.execute(
        sa.select(sa.func.count()).select_from(base.subquery())
    ).scalar_one()
    rows = session.execute(
        sa.select(H, members.label("member_count"), last_visit.label("last_visit_at"),
                  checked_n.label("checked"), clear_n.label("clear"))
        .outerjoin(checked, checked.c.household_id == H.c.id)
        .where(*where)
        .order_by(H.c.village_code, H.c.household_number.asc().nulls_last(), H.c.head_name,
                  H.c.id)
        .offset((f.page - 1) * f.page_size)
        .limit(f.page_size)
    ).all()
    names = _region_names(session, {r.village_code for r in rows})
    start = month_start(today)
    items_out = []
    for r in rows:
        last = r.last_visit_at
        items_out.append({
            "id": str(r.id),
            "village_code": r.village_code,
            "village_name": names.get(r.village_code, ""),
            "township_name": names.get(r.village_code[:9] + "000", ""),
            "group_name": r.group_name,
            "household_number": r.household_number,
            "head_name": r.head_name,
            "head_id_number": r.head_id_number,
            "phone": r.phone,
            "household_type": r.household_type,
            "household_type_label": LABELS[HouseholdType].get(
                household_type({"household_type": r.household_type,
                                "poverty_status": r.poverty_status}), ""),
            "monitoring_status": r.monitoring_status or MonitoringStatus.none.value,
            "monitoring_status_label": LABELS[MonitoringStatus].get(
                r.monitoring_status or MonitoringStatus.none.value, ""),
            "poverty_status": r.poverty_status,  # history: 历史贫困状态（2020年前）
            "poverty_status_label": LABELS[PovertyStatus].get(r.poverty_status or "", ""),
            "monitoring_category": r.monitoring_category,
            "monitoring_category_label": LABELS[MonitoringCategory].get(
                r.monitoring_category or "", ""),
            "causes": list(r.causes or []),
            "cause_labels": [LABELS[Cause].get(c, c) for c in r.causes or []],
            "member_count": r.member_count,
            "last_visit_at": _json_value(last),
            "visited_this_month": bool(last and last >= start),
            "wuqing_checked": r.checked >= len(items),
            "wuqing_all_clear": r.clear >= len(items),
            "wuqing": {"template_code": template, "checked": r.checked, "clear": r.clear,
                       "total": len(items)},
            "version": r.version,
            "updated_at": _json_value(r.updated_at),
        })
    return {"items": items_out, "total": total, "page": f.page, "page_size": f.page_size}


def _region_names(session: Session, villages: set[str]) -> dict[str, str]:
    codes = set(villages) | {v[:9] + "000" for v in villages}
    if not codes:
        return {}
    rows = session.execute(sa.select(Region.code, Region.name)  # type: ignore[call-overload]
                           .where(Region.code.in_(codes))).all()  # type: ignore[attr-defined]
    return {code: name for code, name in rows}


def _sort(items: list[dict[str, Any]], key: str, reverse: bool = False) -> list[dict[str, Any]]:
    return sorted(items, key=lambda x: (x.get(key) is None, str(x.get(key) or "")),
                  reverse=reverse)


def household_lines(session: Session, village_code: str) -> dict[int, float]:
    """The monitoring line by year for a household's county (its ``CountyRules``)."""
    return dict(county_rules(session, village_code).procedures.monitoring_lines)


def household_detail(session: Session, principal: Principal, household_id: uuid.UUID,
                     today: dt.date | None = None) -> dict[str, Any] | None:
    """One household in scope with members, incomes, measures, helpers, visits, 五清 (with
    hints), status events and change history; None when missing, deleted or out of scope."""
    today = today or china_today()
    household = session.execute(
        sa.select(Household).where(Household.id == household_id,  # type: ignore[arg-type]
                                   Household.deleted.is_(False),  # type: ignore[attr-defined]
                                   principal.scope_clause(Household.village_code))
    ).scalars().first()
    if household is None:
        return None
    bundle = load_bundles(session, [household])[household.id]
    policy = hint_policy(county_rules(session, household.village_code), bundle.household, today,
                         template_codes(session))
    interval, code = policy.visit_interval_days, policy.template_code
    template_def = checklist_template(session, code)
    template = template_def.to_dict()
    hints = compute_hints(bundle, policy, template_def)
    verdicts = manual_verdicts(bundle, code)
    user_ids = {r.get(k) for r in bundle.visits for k in ("visitor_id",)}
    user_ids |= {r.get("checked_by") for r in bundle.checklist}
    history = session.execute(
        sa.select(ChangeLog).where(ChangeLog.household_id == household.id)  # type: ignore[arg-type]
        .order_by(ChangeLog.at.desc(), ChangeLog.id.desc())  # type: ignore[attr-defined,union-attr]
        .limit(500)
    ).scalars().all()
    user_ids |= {str(h.user_id) for h in history if h.user_id}
    names = user_names(session, user_ids)
    regions = _region_names(session, {household.village_code})

    checklist_items = []
    for item in template["items"]:
        verdict = verdicts.get(item["code"])
        hint = hints.get(item["code"])
        checklist_items.append({
            **item,
            "response": ({**verdict,
                          "checked_by_name": names.get(str(verdict.get("checked_by")), "")}
                         if verdict else None),
            "verdict": verdict.get("verdict") if verdict else "unchecked",
            "hint": hint.to_dict() if hint else None,
        })
    checked, all_clear = is_checked(bundle, template_def), is_all_clear(bundle, template_def)
    lines = household_lines(session, household.village_code)
    visits = [{**v, "visitor_name": names.get(str(v.get("visitor_id")), "")}
              for v in _sort(bundle.visits, "visited_at", reverse=True)]
    hh = bundle.household
    return {
        "household": {
            **hh,
            "village_name": regions.get(household.village_code, ""),
            "township_name": regions.get(household.village_code[:9] + "000", ""),
            "poverty_status_label": LABELS[PovertyStatus].get(hh.get("poverty_status") or "", ""),
            "monitoring_category_label": LABELS[MonitoringCategory].get(
                hh.get("monitoring_category") or "", ""),
            "cause_labels": [LABELS[Cause].get(c, c) for c in hh.get("causes") or []],
            "wuqing_checked": checked,
            "wuqing_all_clear": all_clear,
            "member_count": len(current_members(bundle.members, today)),
        },
        "members": bundle.members,
        "income_by_year": income_table(bundle.incomes, bundle.members, today, lines),
        "cross_checks": [c.to_dict() for c in cross_checks(bundle, today, lines)],
        "incomes": sorted(bundle.incomes, key=lambda i: (i.get("year") or 0,
                                                         i.get("category") or "")),
        "measures": [{**m, "plan_vs_done": plan_vs_done(m)}  # 计划实施 vs 已落实
                     for m in _sort(bundle.measures, "start_date")],
        "helpers": _sort(bundle.helpers, "start_date"),
        "visits": visits,
        "status_events": _sort(bundle.status_events, "date"),
        "procedures": household_procedures(session, household.id),
        "checklist": {"template_code": code, "template_name": template["name"],
                      "checked": checked, "all_clear": all_clear, "items": checklist_items,
                      "visit_interval_days": interval},
        "history": [
            {"id": h.id, "entity": h.entity, "record_id": str(h.record_id), "op": h.op,
             "version": h.version, "user_id": _json_value(h.user_id),
             "user_name": names.get(str(h.user_id), "") if h.user_id else "",
             "device_id": h.device_id, "source": h.source, "hlc": h.hlc,
             "changes": h.changes, "at": _json_value(h.at)}
            for h in history
        ],
    }

