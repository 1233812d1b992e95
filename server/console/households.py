"""Household list and the whole 一户一档 of one household: records, history, visits, 五清."""

from __future__ import annotations

import dataclasses
import math
import uuid

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func
from sqlmodel import col, select

from server import cards
from server.api.deps import SessionDep
from server.console.common import household_in_scope, scope_villages, village_names
from server.console.web import ClerkDep, ConsoleRoute, not_found, render
from server.db.tables import (
    Attachment,
    AttachmentBlob,
    ChangeLog,
    Conflict,
)
from server.queries.bundles import county_rules, load_bundles
from server.queries.households import HouseholdFilters, household_lines, list_households
from server.queries.names import user_names
from server.queries.procedures import household_procedures
from server.reference import rules_checklist, stored_templates
from server.sync import attachments
from sync_protocol.crosscheck import (
    PLAN_DIFFERS,
    PLAN_VS_DONE_TITLE,
    cross_checks,
    measure_title,
    plan_gaps,
)
from sync_protocol.entities import ENTITIES
from sync_protocol.enums import LABELS, HouseholdType, MonitoringCategory, MonitoringStatus
from sync_protocol.income import INCOME_CATEGORIES, RIGID_KINDS, TRANSFER_KINDS, income_table
from sync_protocol.members import current_members
from sync_protocol.policy import china_today, hint_policy
from sync_protocol.wuqing import (
    SECRETARY_NOTE,
    compute_hints,
    is_all_clear,
    is_checked,
    manual_verdicts,
    overdue_rectifications,
    status_label,
)

router = APIRouter(route_class=ConsoleRoute)
PAGE = 50
MAX_PAGE = 100_000  # as the read API's bound
HISTORY_SHOWN = 30
HISTORY_ALL = 2000  # ``?history=all``: the latest this many, and the page says when there are more


# the list's filters on the current status (2021+): 户类型, 监测状态, 监测对象类别
STATUS_FILTERS: dict[str, dict[str, str]] = {
    "household_type": LABELS[HouseholdType],
    "monitoring_status": LABELS[MonitoringStatus],
    "monitoring_category": {k: v for k, v in LABELS[MonitoringCategory].items() if k != "none"},
}
# the two 五清 figures (the read API's ``wuqing_checked`` / ``wuqing_all_clear``): name -> label
WUQING_FILTERS: dict[str, str] = {"wuqing_checked": "五清已核查", "wuqing_all_clear": "全部为清"}
YES_NO = {"1": "是", "0": "否"}


@router.get("/households")
def household_list(request: Request, session: SessionDep, user: ClerkDep, village: str = "",
                   q: str = "", page: int = 1, household_type: str = "",
                   monitoring_status: str = "", monitoring_category: str = "",
                   wuqing_checked: str = "", wuqing_all_clear: str = "") -> Response:
    """The read API's household list (``server.queries.households``), as a page."""
    page = min(max(1, page), MAX_PAGE)  # page=10**20 shows the last page, never a 500
    chosen = {name: value for name, value in (
        ("household_type", household_type), ("monitoring_status", monitoring_status),
        ("monitoring_category", monitoring_category)) if value in STATUS_FILTERS[name]}
    chosen.update({name: value for name, value in (
        ("wuqing_checked", wuqing_checked), ("wuqing_all_clear", wuqing_all_clear))
        if value in YES_NO})
    figures = {name: chosen[name] == "1" for name in WUQING_FILTERS if name in chosen}
    filters = HouseholdFilters(village=village or None, q=q.strip() or None, page=page,
                               page_size=PAGE, household_type=chosen.get("household_type"),
                               monitoring_status=chosen.get("monitoring_status"),
                               monitoring_category=chosen.get("monitoring_category"),
                               wuqing_checked=figures.get("wuqing_checked"),
                               wuqing_all_clear=figures.get("wuqing_all_clear"))
    found = list_households(session, user, filters)
    pages = max(1, -(-found["total"] // PAGE))
    if page > pages:
        page = pages
        found = list_households(session, user, dataclasses.replace(filters, page=page))
    rows, total = found["items"], found["total"]
    for row in rows:
        row["wuqing_label"] = status_label(row["wuqing_checked"], row["wuqing_all_clear"])
    counts = session.exec(
        select(Conflict.household_id, func.count()).where(
            Conflict.status == "open",
            col(Conflict.household_id).in_([uuid.UUID(h["id"]) for h in rows]))
        .group_by(col(Conflict.household_id))).all()
    open_counts = {str(hid): n for hid, n in counts}
    return render(request, "households.html", active="households", rows=rows, total=total,
                  page=page, pages=pages, village=village, q=q, status_filters=STATUS_FILTERS,
                  wuqing_filters=WUQING_FILTERS, yes_no=YES_NO, chosen=chosen,
                  villages=scope_villages(session, user), names=village_names(session, user),
                  open_counts=open_counts)


FAR_VISIT_M = 500


def distance_m(lat1: float | None, lng1: float | None, lat2: float | None,
               lng2: float | None) -> float | None:
    """Great-circle distance in metres, or None when a coordinate is missing."""
    if None in (lat1, lng1, lat2, lng2):
        return None
    p1, p2 = math.radians(lat1), math.radians(lat2)  # type: ignore[arg-type]
    dp, dl = p2 - p1, math.radians(lng2 - lng1)  # type: ignore[operator]
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6_371_000 * 2 * math.asin(math.sqrt(a))


@router.get("/households/{household_id}")
def household_page(request: Request, session: SessionDep, user: ClerkDep,
                   household_id: str, history: str = "") -> Response:
    hh = household_in_scope(session, user, household_id)
    bundle = load_bundles(session, [hh])[hh.id]
    today, lines = china_today(), household_lines(session, hh.village_code)
    rules = county_rules(session, hh.village_code)
    checklist = rules_checklist(session, rules)  # the county's own template when it chose one
    hints = compute_hints(bundle, hint_policy(rules, bundle.household, china_today(),
                                              (checklist.code,)), checklist)
    verdicts = manual_verdicts(bundle, checklist.code)
    overdue_codes = {str(r.get("item_code"))
                     for r in overdue_rectifications(bundle, checklist, china_today())}
    wuqing = status_label(is_checked(bundle, checklist), is_all_clear(bundle, checklist))
    history_all = history == "all"
    shown = HISTORY_ALL if history_all else HISTORY_SHOWN
    entries = session.exec(select(ChangeLog).where(ChangeLog.household_id == hh.id)
                           .order_by(col(ChangeLog.id).desc())
                           .limit(shown + 1)).all()  # one more: are there older ones?
    older = len(entries) > shown
    entries = entries[:shown]
    conflicts = session.exec(select(Conflict).where(
        Conflict.household_id == hh.id).order_by(col(Conflict.detected_at).desc())).all()
    people = [v.get("visitor_id") for v in bundle.visits] + [h.user_id for h in entries] \
        + [c.get("checked_by") for c in bundle.checklist]
    names = user_names(session, people)
    visits = sorted(bundle.visits, key=lambda v: v.get("visited_at") or "", reverse=True)
    for v in visits:
        v["distance_m"] = distance_m(hh.lat, hh.lng, v.get("lat"), v.get("lng"))
    return render(request, "household.html", active="households", hh=hh, b=bundle,
                  procedures=household_procedures(session, hh.id),
                  visits=visits, template=checklist, stored_templates=stored_templates(session),
                  hints=hints, verdicts=verdicts,
                  overdue_codes=overdue_codes, wuqing_status=wuqing,
                  history=entries, more_history=older and not history_all,
                  history_cut=HISTORY_ALL if older and history_all else None,
                  incomes=income_table(bundle.incomes, bundle.members, today, lines),
                  income_categories=INCOME_CATEGORIES, transfer_kinds=TRANSFER_KINDS,
                  rigid_kinds=RIGID_KINDS, cross=cross_checks(bundle, today, lines),
                  plan_gaps=plan_gaps(bundle.measures), measure_title=measure_title,
                  plan_title=PLAN_VS_DONE_TITLE, plan_differs=PLAN_DIFFERS,
                  secretary_note=SECRETARY_NOTE,
                  member_count=len(current_members(bundle.members, today)),
                  conflicts=conflicts, names=names,
                  villages=village_names(session, user), entities=ENTITIES,
                  household_fields=ENTITIES["household"].fields, far_m=FAR_VISIT_M)


@router.get("/households/{household_id}/card.pdf")
def household_card(session: SessionDep, user: ClerkDep, household_id: str) -> Response:
    """The household's 明白卡 (server.cards; audited)."""
    return cards.household_card(session, user, household_id)


@router.get("/villages/{village}/cards.pdf")
def village_cards(session: SessionDep, user: ClerkDep, village: str) -> Response:
    """Every household's 明白卡 of one village in one PDF (server.cards; audited)."""
    return cards.village_cards(session, user, village)


@router.get("/attachments/{sha256}")
def attachment(session: SessionDep, user: ClerkDep, sha256: str) -> Response:
    """A photo, only when a record in the clerk's scope references it (or they uploaded it)."""
    referenced = attachments.may_use(session, user, sha256)
    meta = session.get(Attachment, sha256) if referenced else None
    blob = session.get(AttachmentBlob, sha256) if meta else None
    if blob is None or meta is None:
        raise not_found()
    return Response(blob.data, media_type=meta.mime_type,
                    headers={"Cache-Control": "private, max-age=86400"})
