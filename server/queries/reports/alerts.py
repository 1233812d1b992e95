"""应纳未纳: households not monitored that may need to be (``sync_protocol.alerts``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, cast

import sqlalchemy as sa
from sqlmodel import Session

from server.db.tables import IncomeItem, Member
from server.queries.reports.common import (
    H,
    Report,
    ReportFilters,
    Table,
    household_where,
    monitored_sql,
    per_county,
    procedure_policies,
    region_names,
    township_of,
    village_rows,
)
from server.scope import Principal
from sync_protocol.alerts import SECURITY_FIELDS, alert, drop_share
from sync_protocol.income import COST_CATEGORY, line_for, per_head
from sync_protocol.policy import china_today
from sync_protocol.procedure import ProcedurePolicy

INC = IncomeItem.__table__  # type: ignore[attr-defined]
MEM = Member.__table__  # type: ignore[attr-defined]


def income_figures_query(where: list[Any], columns: Sequence[Any] = ()) -> sa.Select[Any]:
    """Each household matching ``where`` (its id, village code and ``columns``, by default the
    columns the alerts show) with its latest recorded income year, that year's and
    the year before's 家庭纯收入 (costs subtracted, ``sync_protocol.income``) and each of the
    two years' member counts. Per household: one backward probe of
    ``ix_income_item_household_year`` for the year, one range of it for the two years' rows
    (index-only), one pass over its members — never a grouping of every income row of the
    county."""
    year = (sa.select(INC.c.year)
            .where(INC.c.household_id == H.c.id, INC.c.deleted.is_(False))
            .order_by(INC.c.year.desc()).limit(1).lateral("latest_year"))
    two = INC.alias("two_years")
    signed = sa.case((two.c.category == COST_CATEGORY, -two.c.amount), else_=two.c.amount)
    sums = (sa.select(sa.func.sum(signed).filter(two.c.year == year.c.year).label("net"),
                      sa.func.sum(signed).filter(two.c.year == year.c.year - 1)
                      .label("previous_net"),
                      sa.func.count().filter(two.c.year == year.c.year - 1)
                      .label("previous_rows"))
            .where(two.c.household_id == H.c.id, two.c.deleted.is_(False),
                   two.c.year.between(year.c.year - 1, year.c.year))
            .lateral("sums"))
    # 家庭人口 of each year: the members who count at its end, today in the current year
    # (the SQL twin of sync_protocol.members.members_in_year: joined by then, not left by then)
    today = china_today()
    day = sa.func.least(sa.func.make_date(year.c.year, 12, 31), today)
    previous_day = sa.func.least(sa.func.make_date(year.c.year - 1, 12, 31), today)

    def counting(on: Any) -> Any:
        return sa.and_(sa.or_(MEM.c.joined_on.is_(None), MEM.c.joined_on <= on),
                       sa.or_(MEM.c.left_on.is_(None), MEM.c.left_on > on))

    people = (sa.select(sa.func.count().filter(counting(day)).label("members"),
                        sa.func.count().filter(counting(previous_day))
                        .label("previous_members"))
              .where(MEM.c.household_id == H.c.id, MEM.c.deleted.is_(False))
              .lateral("people"))
    shown = columns or (H.c.household_number, H.c.head_name,
                        *[H.c[name] for name in SECURITY_FIELDS])
    return (sa.select(H.c.id, H.c.village_code, *shown, year.c.year, sums.c.net,
                      sums.c.previous_net, sums.c.previous_rows, people.c.members,
                      people.c.previous_members)
            .select_from(H.outerjoin(year, sa.true()).outerjoin(sums, sa.true())
                         .outerjoin(people, sa.true()))
            .where(*where))


def candidates_query(principal: Principal, f: ReportFilters,
                     policies: Mapping[str, ProcedurePolicy]) -> sa.Select[Any]:
    """The households not monitored that may raise an alert: ``income_figures_query`` narrowed
    in Postgres by the ``sync_protocol.alerts`` rules written as SQL, with the boundaries
    included (<=), so it is a superset; the pure rules then decide each of them. Without this
    every household of the county would travel to Python (tests check the superset)."""
    fig = income_figures_query([*household_where(principal, f), sa.not_(monitored_sql())]
                               ).subquery("fig")
    lines = [(county, year, line) for county, p in policies.items()
             for year, line in p.monitoring_lines.items()]
    county = sa.func.substr(fig.c.village_code, 1, 6)
    share = per_county({c: p.income_drop_share for c, p in policies.items()},
                       ProcedurePolicy().income_drop_share, fig)
    known = sa.and_(fig.c.net.is_not(None), fig.c.members > 0)
    reasons = [*[fig.c[name].is_(False) for name in SECURITY_FIELDS],
               # per capita fell by the share or more: net/members <= prev/prev_members*(1-s)
               sa.and_(known, fig.c.previous_rows > 0, fig.c.previous_net > 0,
                       fig.c.previous_members > 0,
                       fig.c.net * fig.c.previous_members
                       <= fig.c.previous_net * fig.c.members * (1 - share))]
    query = sa.select(fig)
    if lines:
        line_values = sa.values(sa.column("county", sa.String), sa.column("year", sa.Integer),
                                sa.column("line", sa.Float), name="lines").data(lines)
        query = query.outerjoin(line_values, sa.and_(line_values.c.county == county,
                                                     line_values.c.year == fig.c.year))
        reasons.append(sa.and_(known, fig.c.net / fig.c.members <= line_values.c.line))
    return query.where(sa.or_(*reasons)).order_by(
        fig.c.village_code, fig.c.household_number.asc().nulls_last(), fig.c.head_name)


def _round(value: float | None) -> float | None:
    return round(value, 2) if value is not None else None


def alerts_report(session: Session, principal: Principal, f: ReportFilters) -> Report:
    """应纳未纳: households not monitored (never, or risk eliminated) whose latest per-capita net
    income is below that year's monitoring line or fell by more than the county's share, or
    with a 两不愁三保障 / drinking-water problem. Postgres gives the figures of the candidates,
    the rules in ``sync_protocol.alerts`` decide."""
    f = f.resolved()
    policies = procedure_policies(session, principal)
    default = ProcedurePolicy()
    rows = session.execute(candidates_query(principal, f, policies)).all()
    names = region_names(session, principal)
    detail: list[dict[str, Any]] = []
    per_village: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in rows:
        policy = policies.get(r.village_code[:6], default)
        per_capita = per_head(float(r.net), r.members) if r.net is not None else None
        previous = (per_head(float(r.previous_net), r.previous_members) if r.previous_rows
                    else None)
        # the current year's line is pro-rated by the share of the year gone by (as everywhere)
        line = line_for(r.year, policy.monitoring_lines, f.day)[0] if r.year is not None \
            else None
        found = alert(cast(Mapping[str, Any], r._mapping), per_capita, previous, line,
                      policy.income_drop_share)
        if not found.raised:
            continue
        v = per_village[r.village_code]
        v["total"] += 1
        v["income_below"] += found.below_line
        v["income_drop"] += found.dropped
        v["insecure"] += bool(found.problems)
        fell = drop_share(per_capita, previous)
        detail.append({
            "household_id": str(r.id), "township": names.get(township_of(r.village_code), ""),
            "village": names.get(r.village_code, r.village_code),
            "household_number": r.household_number or "", "head_name": r.head_name,
            "year": r.year, "per_capita": _round(per_capita), "line": line,
            "previous": _round(previous),
            "drop_share": round(fell, 4) if fell is not None and found.dropped else None,
            "income_below": "是" if found.below_line else "否",
            "income_drop": "是" if found.dropped else "否",
            "problems": "、".join(found.problems)})
    totals = {k: sum(per_village[c][k] for c in per_village)
              for k in ("total", "income_below", "income_drop", "insecure")}
    shares = sorted({p.income_drop_share for p in policies.values()}
                    or {default.income_drop_share})
    share_text = "、".join(f"{s:.0%}" for s in shares)
    return Report(
        "alerts", "应纳未纳预警名单", f,
        summary=[("total", "预警户数", totals["total"]),
                 ("income_below", "人均纯收入低于监测标准", totals["income_below"]),
                 ("income_drop", "人均纯收入较上年下降超过规定比例", totals["income_drop"]),
                 ("insecure", "“两不愁三保障”及饮水安全存在问题", totals["insecure"])],
        tables=[
            Table("by_village", "按乡镇、行政村",
                  [("township", "乡镇"), ("village", "行政村"), ("total", "预警户数"),
                   ("income_below", "人均纯收入低于监测标准"),
                   ("income_drop", "人均纯收入较上年下降超过规定比例"),
                   ("insecure", "“两不愁三保障”及饮水安全存在问题")],
                  village_rows(names, per_village)),
            Table("households", "预警农户名单",
                  [("township", "乡镇"), ("village", "行政村"), ("household_number", "户编号"),
                   ("head_name", "户主姓名"), ("year", "收入年度"),
                   ("per_capita", "人均纯收入（元）"), ("line", "监测标准（元/人/年）"),
                   ("income_below", "低于监测标准"), ("previous", "上年人均纯收入（元）"),
                   ("drop_share", "较上年下降比例"), ("income_drop", "下降超过规定比例"),
                   ("problems", "“两不愁三保障”及饮水安全问题")], detail),
        ],
        chart=("应纳未纳预警户数", "by_village", "village", "total"),
        notes=["对象为未纳入监测或风险已消除的农户；收入为最近一个登记年度的人均纯收入"
               "（按该年度末家庭人口计算，当年按截至今日），与上一年度比较。",
               f"收入骤减：人均纯收入较上年下降超过{share_text}（县级设定）。"],
    )
