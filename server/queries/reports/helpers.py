"""走访覆盖 per 帮扶责任人: the households each helper was assigned in the period, and how many
of them the helper visited (``sync_protocol.wuqing.visit_by_helper``, in SQL as
``visit_by_helper_sql``: as visitor or as named co-visitor) — monitored households apart."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from server.db.tables import HelperAssignment, User, Visit
from server.queries.reports.common import (
    H,
    ReportFilters,
    Table,
    household_where,
    monitored_sql,
    share,
)
from server.scope import Principal
from sync_protocol.wuqing import NAME_SEPARATORS

A = HelperAssignment.__table__  # type: ignore[attr-defined]
V = Visit.__table__  # type: ignore[attr-defined]
U = User.__table__  # type: ignore[attr-defined]
SPACES = " \t\r\n\u3000"  # what str.strip() drops from a name (the ideographic space too)

COLUMNS = [("helper", "帮扶责任人"), ("unit", "工作单位"), ("households", "帮扶户数"),
           ("visited", "统计期内已走访户数"), ("not_visited", "未走访户数"),
           ("visited_share", "走访覆盖率"), ("monitored", "其中监测户数"),
           ("monitored_visited", "监测户已走访"), ("monitored_share", "监测户走访覆盖率")]


def counted_visit_sql(v: Any = V) -> Any:
    """SQL for ``sync_protocol.visits.counts``: neither deleted nor withdrawn."""
    return sa.and_(v.c.deleted.is_(False), sa.func.coalesce(v.c.withdrawn, False).is_(False))


def visit_by_helper_sql(a: Any = A, v: Any = V, u: Any = U) -> Any:
    """SQL for ``sync_protocol.wuqing.visit_by_helper`` of one assignment ``a`` and one visit
    ``v`` (``u``: the visitor's user row, outer-joined): the visitor is the helper's user, or a
    user of the helper's name, or the helper is named among the co-visitors. Tests check the
    two agree (tests/reports/test_figures.py)."""
    name = sa.func.btrim(a.c.helper_name, SPACES)
    co_names = sa.func.regexp_split_to_array(v.c.co_visitor, NAME_SEPARATORS)
    return sa.or_(
        sa.and_(a.c.helper_user_id.is_not(None), v.c.visitor_id == a.c.helper_user_id),
        sa.and_(name != "", sa.or_(
            sa.and_(u.c.name.is_not(None), name == sa.func.btrim(u.c.name, SPACES)),
            sa.and_(v.c.co_visitor.is_not(None), name == sa.any_(co_names)))))


def helper_table(session: Session, principal: Principal, f: ReportFilters
                 ) -> tuple[Table, dict[str, int]]:
    """One row per helper (their user, else name and unit) over the assignments active at some
    time in the period; a household is visited when one of its counting visits in the period
    was by that helper (``visit_by_helper_sql``). Two grouped statements in one."""
    assert f.date_from is not None and f.date_to is not None
    start, end = f.moments()
    active = [*household_where(principal, f), A.c.deleted.is_(False),
              sa.or_(A.c.start_date.is_(None), A.c.start_date <= f.date_to),
              sa.or_(A.c.end_date.is_(None), A.c.end_date >= f.date_from)]
    base = A.join(H, H.c.id == A.c.household_id)
    # the assignments with a visit by their helper (scoped by the assignment's own village
    # code; the households are filtered once, below)
    own = [principal.scope_clause(A.c.village_code), A.c.deleted.is_(False),
           *([A.c.village_code == f.village] if f.village else [])]
    visited_ids = (
        sa.select(A.c.id).distinct()
        .select_from(A.join(V, sa.and_(V.c.household_id == A.c.household_id,
                                       counted_visit_sql(), V.c.visited_at >= start,
                                       V.c.visited_at < end))
                     .outerjoin(U, U.c.id == V.c.visitor_id))
        .where(*own, visit_by_helper_sql())
        .subquery("visited_ids"))
    assigned = (sa.select(
        A.c.household_id, sa.cast(A.c.helper_user_id, sa.Text).label("uid"),
        A.c.helper_name.label("name"), sa.func.coalesce(A.c.helper_unit, "").label("unit"),
        monitored_sql().label("monitored"), visited_ids.c.id.is_not(None).label("visited"))
        .select_from(base.outerjoin(visited_ids, visited_ids.c.id == A.c.id))
        .where(*active).subquery("assigned"))
    a = assigned.c
    # a helper: their user; without one, their name and unit
    key = (sa.func.coalesce(a.uid, ""), sa.case((a.uid.is_(None), a.name), else_=""),
           sa.case((a.uid.is_(None), a.unit), else_=""))
    households = sa.func.count(sa.distinct(a.household_id))
    rows = session.execute(
        sa.select(*key, sa.func.min(a.name).label("helper"), sa.func.min(a.unit).label("unit"),
                  households.label("households"),
                  households.filter(a.visited).label("visited"),
                  households.filter(a.monitored).label("monitored"),
                  households.filter(a.visited, a.monitored).label("monitored_visited"))
        .group_by(*key)).all()
    out = [{"helper": r.helper, "unit": r.unit, "households": r.households,
            "visited": r.visited, "not_visited": r.households - r.visited,
            "visited_share": share(r.visited, r.households), "monitored": r.monitored,
            "monitored_visited": r.monitored_visited,
            "monitored_share": share(r.monitored_visited, r.monitored)} for r in rows]
    out.sort(key=lambda r: (-r["not_visited"], r["helper"], r["unit"]))
    totals = {k: sum(r[k] for r in out) for k in ("households", "visited", "not_visited")}
    return Table("by_helper", "按帮扶责任人", COLUMNS, out), totals
