"""走访覆盖 per 帮扶责任人: the households each helper was assigned in the period, and how many
of them the helper visited (``sync_protocol.wuqing.visit_by_helper``: as visitor or as named
co-visitor) — monitored households apart."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from server.db.tables import HelperAssignment, Visit
from server.queries.names import user_names
from server.queries.reports.common import (
    H,
    ReportFilters,
    Table,
    household_where,
    monitored_sql,
    share,
)
from server.scope import Principal
from sync_protocol.wuqing import visit_by_helper

A = HelperAssignment.__table__  # type: ignore[attr-defined]
V = Visit.__table__  # type: ignore[attr-defined]

COLUMNS = [("helper", "帮扶责任人"), ("unit", "工作单位"), ("households", "帮扶户数"),
           ("visited", "统计期内已走访户数"), ("not_visited", "未走访户数"),
           ("visited_share", "走访覆盖率"), ("monitored", "其中监测户数"),
           ("monitored_visited", "监测户已走访"), ("monitored_share", "监测户走访覆盖率")]


def counted_visit_sql(v: Any = V) -> Any:
    """SQL for ``sync_protocol.visits.counts``: neither deleted nor withdrawn."""
    return sa.and_(v.c.deleted.is_(False), sa.func.coalesce(v.c.withdrawn, False).is_(False))


def helper_table(session: Session, principal: Principal, f: ReportFilters
                 ) -> tuple[Table, dict[str, int]]:
    """One row per helper (their user, else name and unit) over the assignments active at some
    time in the period; a household is visited when one of its counting visits in the period
    was by that helper. One statement; the matching rule is judged once per distinct helper,
    visitor and co-visitors."""
    assert f.date_from is not None and f.date_to is not None
    start, end = f.moments()
    # each household's (visitor, co-visitor) pairs in the period, ids as text (no UUID parsed
    # per visit; no DISTINCT, which would sort every visit), then one row per assignment
    pairs_sql = (sa.select(V.c.household_id, sa.func.array_agg(sa.func.concat(
                     sa.cast(V.c.visitor_id, sa.Text), "\t", V.c.co_visitor)).label("visits"))
                 .where(counted_visit_sql(), V.c.visited_at >= start, V.c.visited_at < end,
                        principal.scope_clause(V.c.village_code))
                 .group_by(V.c.household_id).subquery("pairs"))
    rows = session.execute(
        sa.select(A.c.id, A.c.household_id, sa.cast(A.c.helper_user_id, sa.Text),
                  A.c.helper_name, A.c.helper_unit, monitored_sql(), pairs_sql.c.visits)
        .join(H, H.c.id == A.c.household_id)
        .outerjoin(pairs_sql, pairs_sql.c.household_id == A.c.household_id)
        .where(*household_where(principal, f), A.c.deleted.is_(False),
               sa.or_(A.c.start_date.is_(None), A.c.start_date <= f.date_to),
               sa.or_(A.c.end_date.is_(None), A.c.end_date >= f.date_from))
    ).all()
    pairs = {pair: dict(zip(("visitor_id", "co_visitor"), pair.split("\t", 1), strict=True))
             for r in rows for pair in (r.visits or ())}
    names = user_names(session, {v["visitor_id"] for v in pairs.values()})
    # each distinct (helper, visitor, co-visitors) is judged once by the rule (a few hundred
    # in a county), however many households share it
    judged: dict[tuple[Any, str, str], bool] = {}

    def by_helper(user_id: Any, name: str, pair: str) -> bool:
        key = (user_id, name, pair)
        if key not in judged:
            judged[key] = visit_by_helper(pairs[pair], [{"helper_user_id": user_id,
                                                         "helper_name": name}], names)
        return judged[key]

    helpers: dict[Any, dict[str, Any]] = {}
    households: dict[Any, dict[Any, tuple[bool, bool]]] = defaultdict(dict)
    for _, household_id, user_id, name, unit, monitored, visits in rows:
        key = user_id or (name, unit)
        if key not in helpers:
            helpers[key] = {"helper": name, "unit": unit or ""}
        visited = any(by_helper(user_id, name, pair) for pair in visits or ())
        mine = households[key]
        mine[household_id] = (visited or mine.get(household_id, (False,))[0], bool(monitored))
    out = []
    for key, info in helpers.items():
        hh = households[key].values()
        n, seen = len(hh), sum(1 for v, _ in hh if v)
        mon, mon_seen = sum(1 for _, m in hh if m), sum(1 for v, m in hh if v and m)
        out.append({**info, "households": n, "visited": seen, "not_visited": n - seen,
                    "visited_share": share(seen, n), "monitored": mon,
                    "monitored_visited": mon_seen, "monitored_share": share(mon_seen, mon)})
    out.sort(key=lambda r: (-r["not_visited"], r["helper"], r["unit"]))
    totals = {k: sum(r[k] for r in out) for k in ("households", "visited", "not_visited")}
    return Table("by_helper", "按帮扶责任人", COLUMNS, out), totals
