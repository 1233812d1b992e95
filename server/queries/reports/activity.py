"""走访覆盖 and 五清 (已核查 / 全部为清)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from server.db.tables import ChecklistItem, User, Visit
from server.queries.households import scope_template_codes
from server.queries.reports.common import (
    H,
    Report,
    ReportFilters,
    Table,
    household_where,
    monitored_sql,
    region_names,
    share,
    township_of,
)
from server.queries.reports.helpers import counted_visit_sql, helper_table
from server.reference import checklist_template
from server.scope import Principal
from sync_protocol.enums import LABELS, Role
from sync_protocol.wuqing import verdicts_all_clear, verdicts_checked

V = Visit.__table__  # type: ignore[attr-defined]
C = ChecklistItem.__table__  # type: ignore[attr-defined]
U = User.__table__  # type: ignore[attr-defined]


def visits_report(session: Session, principal: Principal, f: ReportFilters) -> Report:
    """走访覆盖 in the period: per visitor and per village, monitored vs other households."""
    f = f.resolved()
    start, end = f.moments()
    in_period = [counted_visit_sql(), V.c.visited_at >= start, V.c.visited_at < end]
    visited = (sa.select(V.c.household_id).where(*in_period, principal.scope_clause(
        V.c.village_code)).distinct().subquery("visited"))
    monitored = monitored_sql()
    is_visited = visited.c.household_id.is_not(None)
    rows = session.execute(
        sa.select(H.c.village_code, sa.func.count().label("households"),
                  sa.func.count().filter(is_visited).label("visited"),
                  sa.func.count().filter(monitored).label("monitored"),
                  sa.func.count().filter(monitored, is_visited).label("monitored_visited"))
        .outerjoin(visited, visited.c.household_id == H.c.id)
        .where(*household_where(principal, f))
        .group_by(H.c.village_code)
    ).all()
    names = region_names(session, principal)
    village_rows = []
    for r in rows:
        others, others_visited = r.households - r.monitored, r.visited - r.monitored_visited
        village_rows.append({
            "township": names.get(township_of(r.village_code), township_of(r.village_code)),
            "village": names.get(r.village_code, r.village_code),
            "households": r.households, "visited": r.visited,
            "visited_share": share(r.visited, r.households),
            "monitored": r.monitored, "monitored_visited": r.monitored_visited,
            "monitored_share": share(r.monitored_visited, r.monitored),
            "others": others, "others_visited": others_visited,
            "others_share": share(others_visited, others)})
    village_rows.sort(key=lambda r: (r["township"], r["village"]))
    by_visitor = session.execute(
        sa.select(V.c.visitor_id, U.c.name, U.c.role, sa.func.count().label("visits"),
                  sa.func.count(sa.distinct(V.c.household_id)).label("households"),
                  sa.func.count(sa.distinct(V.c.household_id)).filter(monitored)
                  .label("monitored"))
        .join(H, H.c.id == V.c.household_id)
        .outerjoin(U, U.c.id == V.c.visitor_id)
        .where(*in_period, *household_where(principal, f))
        .group_by(V.c.visitor_id, U.c.name, U.c.role)
        .order_by(sa.func.count().desc(), U.c.name)
    ).all()
    role_labels = LABELS[Role]
    visitor_rows = [{"visitor": r.name or "（未记录走访人）",
                     "role": role_labels.get(r.role or "", ""), "visits": r.visits,
                     "households": r.households, "monitored": r.monitored} for r in by_visitor]
    keys = ("households", "visited", "monitored", "monitored_visited", "others",
            "others_visited")
    t = {k: sum(r[k] for r in village_rows) for k in keys}
    helpers, helper_totals = helper_table(session, principal, f)
    return Report(
        "visits", "走访覆盖情况统计表", f,
        summary=[("households", "农户数", t["households"]),
                 ("visited", "统计期内已走访户数", t["visited"]),
                 ("visited_share", "走访覆盖率", share(t["visited"], t["households"])),
                 ("monitored", "风险未消除户数", t["monitored"]),
                 ("monitored_visited", "其中已走访", t["monitored_visited"]),
                 ("monitored_share", "监测户走访覆盖率",
                  share(t["monitored_visited"], t["monitored"])),
                 ("visits", "走访次数", sum(r["visits"] for r in visitor_rows)),
                 ("helper_households", "有帮扶责任人的户数（按责任人计）",
                  helper_totals["households"]),
                 ("helper_visited", "其中帮扶责任人已走访", helper_totals["visited"])],
        tables=[
            Table("by_village", "按乡镇、行政村",
                  [("township", "乡镇"), ("village", "行政村"), ("households", "农户数"),
                   ("visited", "已走访户数"), ("visited_share", "走访覆盖率"),
                   ("monitored", "监测户数（风险未消除）"), ("monitored_visited", "监测户已走访"),
                   ("monitored_share", "监测户走访覆盖率"), ("others", "其他农户数"),
                   ("others_visited", "其他农户已走访"), ("others_share", "其他农户走访覆盖率")],
                  village_rows),
            Table("by_visitor", "按走访人",
                  [("visitor", "走访人"), ("role", "角色"), ("visits", "走访次数"),
                   ("households", "走访户数"), ("monitored", "其中监测户数")], visitor_rows),
            helpers,
        ],
        chart=("各村已走访户数", "by_village", "village", "visited"),
        notes=["统计期按北京时间计算；监测户指风险未消除的监测对象；已撤回的走访记录不计。",
               "按帮扶责任人：统计期内在岗的帮扶关系，帮扶责任人本人走访或作为同行人员"
               "走访的才计为已走访。"],
    )


def wuqing_report(session: Session, principal: Principal, f: ReportFilters) -> Report:
    """五清: 已核查 (every item 清 or 不清) and 全部为清 side by side, and open rectifications
    (items whose latest verdict is 不清). Households are grouped in Postgres by their pattern of
    latest verdicts; each pattern is judged once by ``sync_protocol.wuqing``."""
    f = f.resolved()
    code, items = scope_template_codes(session, principal)
    template = checklist_template(session, code)
    latest = (
        sa.select(C.c.household_id, C.c.item_code, C.c.verdict)
        .where(principal.scope_clause(C.c.village_code), C.c.deleted.is_(False),
               C.c.template_code == code, C.c.item_code.in_(items))
        .distinct(C.c.household_id, C.c.item_code)
        .order_by(C.c.household_id, C.c.item_code, C.c.checked_at.desc().nulls_last(),
                  C.c.updated_at.desc())
        .subquery("latest")
    )
    per_household = (
        sa.select(latest.c.household_id,
                  *[sa.func.max(latest.c.verdict).filter(latest.c.item_code == item)
                    .label(f"v{i}") for i, item in enumerate(items)])
        .group_by(latest.c.household_id).subquery("verdicts"))
    columns = [per_household.c[f"v{i}"] for i in range(len(items))]
    rows = session.execute(
        sa.select(H.c.village_code, *columns, sa.func.count().label("n"))
        .outerjoin(per_household, per_household.c.household_id == H.c.id)
        .where(*household_where(principal, f))
        .group_by(H.c.village_code, *columns)
    ).all()
    per_village: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    per_item: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in rows:
        verdicts = [getattr(r, f"v{i}") for i in range(len(items))]
        v = per_village[r.village_code]
        v["households"] += r.n
        by_item = dict(zip(items, verdicts, strict=True))
        v["checked"] += r.n if verdicts_checked(by_item, items) else 0
        v["all_clear"] += r.n if verdicts_all_clear(by_item, items) else 0
        unclear = sum(1 for x in verdicts if x == "unclear")
        v["open_items"] += r.n * unclear
        v["open_households"] += r.n if unclear else 0
        for item, verdict in zip(items, verdicts, strict=True):
            per_item[item][verdict if verdict in ("clear", "unclear") else "unchecked"] += r.n
    names = region_names(session, principal)
    village_rows: list[dict[str, Any]] = []
    for village in sorted(per_village):
        v = per_village[village]
        village_rows.append({
            "township": names.get(township_of(village), township_of(village)),
            "village": names.get(village, village), "households": v["households"],
            "checked": v["checked"], "checked_share": share(v["checked"], v["households"]),
            "all_clear": v["all_clear"], "all_clear_share": share(v["all_clear"],
                                                                  v["households"]),
            "open_households": v["open_households"], "open_items": v["open_items"]})
    item_rows = [{"item": item.title, "clear": per_item[item.code]["clear"],
                  "unclear": per_item[item.code]["unclear"],
                  "unchecked": per_item[item.code]["unchecked"]} for item in template.items]
    t = {k: sum(r[k] for r in village_rows)
         for k in ("households", "checked", "all_clear", "open_households", "open_items")}
    return Report(
        "wuqing", "“五清”核查情况统计表", f,
        summary=[("households", "农户数", t["households"]),
                 ("checked", "五清已核查", t["checked"]),
                 ("all_clear", "全部为清", t["all_clear"]),
                 ("open_households", "有待整改事项户数", t["open_households"]),
                 ("open_items", "待整改事项（不清）", t["open_items"])],
        tables=[
            Table("by_village", "按乡镇、行政村",
                  [("township", "乡镇"), ("village", "行政村"), ("households", "农户数"),
                   ("checked", "五清已核查"), ("checked_share", "已核查比例"),
                   ("all_clear", "全部为清"), ("all_clear_share", "全部为清比例"),
                   ("open_households", "有待整改事项户数"), ("open_items", "待整改事项数")],
                  village_rows),
            Table("by_item", "按核查项目", [("item", "核查项目"), ("clear", "清"),
                                        ("unclear", "不清（待整改）"), ("unchecked", "未核查")],
                  item_rows),
        ],
        chart=("各村五清已核查户数", "by_village", "village", "checked"),
        notes=[f"核查模板：{template.name}；按每项最近一次核查结论统计（现状）。"],
    )
