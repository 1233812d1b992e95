"""监测对象 and 风险消除进度: one grouped query each over the households in scope."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from server.db.tables import Procedure
from server.queries.reports.common import (
    H,
    Report,
    ReportFilters,
    Table,
    ever_monitored_sql,
    household_where,
    main_risk_sql,
    monitored_sql,
    per_county,
    procedure_policies,
    region_names,
    township_of,
)
from server.scope import Principal
from sync_protocol import procedure as machine
from sync_protocol.enums import (
    LABELS,
    MonitoringCategory,
    ProcedureKind,
    ProcedureSource,
    ProcedureStage,
    RiskElimination,
    RiskType,
)

P = Procedure.__table__  # type: ignore[attr-defined]
NO_SOURCE = "未经监测程序（导入或历史数据）"


def _area_rows(session: Session, principal: Principal, counts: dict[str, dict[str, int]],
               keys: list[str]) -> list[dict[str, Any]]:
    names = region_names(session, principal)
    rows = []
    for village in sorted(counts):
        c = counts[village]
        rows.append({"township": names.get(township_of(village), township_of(village)),
                     "village_code": village, "village": names.get(village, village),
                     **{k: c.get(k, 0) for k in keys}})
    return rows


def monitoring_report(session: Session, principal: Principal, f: ReportFilters) -> Report:
    """监测对象: by category, main risk type, township and village; new this month, this year and
    in the period; by the source of the approved 纳入监测 procedure."""
    f = f.resolved()
    today = f.day
    source = (
        sa.select(P.c.household_id, P.c.source)
        .where(P.c.deleted.is_(False), P.c.kind == ProcedureKind.entry.value,
               P.c.stage == ProcedureStage.approved.value,
               principal.scope_clause(P.c.village_code))
        .distinct(P.c.household_id)
        .order_by(P.c.household_id, P.c.stage_at.desc().nulls_last(), P.c.updated_at.desc())
        .subquery("entry_source")
    )
    since = H.c.monitoring_since
    category = sa.func.coalesce(H.c.monitoring_category, "none")
    status = sa.case((monitored_sql(), "monitored"), else_="eliminated")
    rows = session.execute(
        sa.select(
            H.c.village_code, category.label("category"), main_risk_sql().label("risk"),
            status.label("status"), sa.func.coalesce(source.c.source, "").label("source"),
            sa.func.count().label("n"),
            sa.func.count().filter(since >= today.replace(day=1)).label("new_month"),
            sa.func.count().filter(since >= today.replace(month=1, day=1)).label("new_year"),
            sa.func.count().filter(since.between(f.date_from, f.date_to)).label("new_period"),
        )
        .outerjoin(source, source.c.household_id == H.c.id)
        .where(*household_where(principal, f), ever_monitored_sql())
        .group_by(*[sa.text(str(i)) for i in range(1, 6)])  # the five grouped columns
    ).all()

    by_cat: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_risk: dict[str, int] = defaultdict(int)
    by_source: dict[str, int] = defaultdict(int)
    by_village: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    totals: dict[str, int] = defaultdict(int)
    for r in rows:
        for bucket in (by_cat[r.category], by_village[r.village_code], totals):
            bucket["total"] += r.n
            bucket[r.status] += r.n
            for k in ("new_month", "new_year", "new_period"):
                bucket[k] += getattr(r, k)
        by_risk[r.risk] += r.n
        by_source[r.source] += r.n

    cat_labels = LABELS[MonitoringCategory]
    risk_labels = LABELS[RiskType]
    source_labels = LABELS[ProcedureSource]
    counts = [("total", "监测对象户数"), ("monitored", "风险未消除"), ("eliminated", "风险已消除")]
    news = [("new_month", "本月新增"), ("new_year", "本年新增"), ("new_period", "统计期内新增")]
    cat_columns = [("category", "监测对象类别"), *counts, *news]
    cat_table = Table("by_category", "按监测对象类别", cat_columns, [
        {"code": c, "category": cat_labels[c],
         **{k: by_cat[c][k] if c in by_cat else 0 for k, _ in counts + news}}
        for c in MonitoringCategory if c != MonitoringCategory.none])
    risk_table = Table("by_risk", "按主要返贫致贫风险类型", [("risk", "主要返贫致贫风险类型"),
                                                 ("total", "监测对象户数")], [
        {"code": code, "risk": risk_labels.get(code, "未填写") if code else "未填写", "total": n}
        for code, n in sorted(by_risk.items(), key=lambda kv: (-kv[1], kv[0]))])
    source_table = Table("by_source", "按纳入监测信息来源", [("source", "信息来源"),
                                                      ("total", "监测对象户数")], [
        {"code": code, "source": source_labels.get(code, NO_SOURCE) if code else NO_SOURCE,
         "total": n}
        for code, n in sorted(by_source.items(), key=lambda kv: (kv[0] == "", kv[0]))])
    area_table = Table("by_village", "按乡镇、行政村",
                       [("township", "乡镇"), ("village", "行政村"), *counts, *news],
                       _area_rows(session, principal, by_village, [k for k, _ in counts + news]))
    return Report(
        "monitoring", "防止返贫监测对象统计表", f,
        summary=[("total", "监测对象户数", totals["total"]),
                 ("monitored", "风险未消除户数", totals["monitored"]),
                 ("eliminated", "风险已消除户数", totals["eliminated"]),
                 ("new_month", "本月新增", totals["new_month"]),
                 ("new_year", "本年新增", totals["new_year"]),
                 ("new_period", "统计期内新增", totals["new_period"])],
        tables=[cat_table, risk_table, source_table, area_table],
        chart=("监测对象按主要返贫致贫风险类型", "by_risk", "risk", "total"),
    )


def elimination_report(session: Session, principal: Principal, f: ReportFilters) -> Report:
    """风险消除进度: monitored, eliminated by method, monitored longer than the county minimum
    without elimination, and 纳入监测 procedures overdue against the entry deadline."""
    f = f.resolved()
    today = f.day
    policies = procedure_policies(session, principal)
    default_min = machine.ProcedurePolicy().min_monitored_days
    min_days = per_county({c: p.min_monitored_days for c, p in policies.items()}, default_min)
    monitored = monitored_sql()
    eliminated = sa.and_(sa.not_(monitored), ever_monitored_sql())
    method = sa.func.coalesce(H.c.elimination_method, "")
    long_monitored = sa.and_(monitored, H.c.monitoring_since.is_not(None),
                             H.c.monitoring_since + min_days <= today)
    rows = session.execute(
        sa.select(
            H.c.village_code,
            sa.func.count().filter(monitored).label("monitored"),
            sa.func.count().filter(eliminated).label("eliminated"),
            sa.func.count().filter(eliminated, method == RiskElimination.assisted.value)
            .label("assisted"),
            sa.func.count().filter(eliminated, method == RiskElimination.natural.value)
            .label("natural"),
            sa.func.count().filter(eliminated, H.c.eliminated_on.between(f.date_from, f.date_to))
            .label("eliminated_period"),
            sa.func.count().filter(long_monitored).label("long_monitored"),
        )
        .where(*household_where(principal, f), ever_monitored_sql())
        .group_by(H.c.village_code)
    ).all()
    counts: dict[str, dict[str, int]] = {r.village_code: dict(r._mapping) for r in rows}
    # open 纳入监测 procedures (few): judged by the one rule, sync_protocol.procedure.is_overdue
    open_entries = session.execute(
        sa.select(P.c.village_code, P.c.kind, P.c.stage, P.c.proposed_on)
        .join(H, H.c.id == P.c.household_id)
        .where(*household_where(principal, f), P.c.deleted.is_(False),
               P.c.kind == ProcedureKind.entry.value,
               P.c.stage.in_([s.value for s in machine.OPEN_STAGES]))
    ).mappings().all()
    default_policy = machine.ProcedurePolicy()
    for proc in open_entries:
        village = proc["village_code"]
        c = counts.setdefault(village, {})
        c["open_entries"] = c.get("open_entries", 0) + 1
        if machine.is_overdue(dict(proc), policies.get(village[:6], default_policy), today):
            c["overdue_entries"] = c.get("overdue_entries", 0) + 1
    keys = [("monitored", "风险未消除"), ("eliminated", "风险已消除"),
            ("assisted", "其中：帮扶消除"), ("natural", "其中：自然消除"),
            ("eliminated_period", "统计期内消除"),
            ("long_monitored", "监测期满未消除"), ("open_entries", "纳入监测办理中"),
            ("overdue_entries", "纳入监测超期未办结")]
    area = _area_rows(session, principal, counts, [k for k, _ in keys])
    totals = {k: sum(r[k] for r in area) for k, _ in keys}
    days = sorted({p.min_monitored_days for p in policies.values()}) or [default_min]
    deadline = sorted({p.entry_deadline_days for p in policies.values()}) or [
        default_policy.entry_deadline_days]
    return Report(
        "elimination", "风险消除进度统计表", f,
        summary=[(k, label, totals[k]) for k, label in keys],
        tables=[Table("by_village", "按乡镇、行政村",
                      [("township", "乡镇"), ("village", "行政村"), *keys], area)],
        chart=("监测期满未消除户数", "by_village", "village", "long_monitored"),
        notes=[f"监测期满：纳入监测满{'、'.join(map(str, days))}天（本县政策）仍为风险未消除。",
               "超期未办结：纳入监测程序自申报之日起超过"
               f"{'、'.join(map(str, deadline))}天仍未办结。",
               "统计期内消除按风险消除日期统计；其余为截至今日的现状。"],
    )


