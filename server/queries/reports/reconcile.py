"""ruhu's side of a reconciliation with the national system (``sync_protocol.national``): the
households in scope with the figures the national export carries."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlmodel import Session

from server.queries.reports.alerts import income_figures_query
from server.queries.reports.common import H
from server.scope import Principal
from sync_protocol.income import per_head


def ruhu_households(session: Session, principal: Principal,
                    villages: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Households in scope (in ``villages`` when given), not deleted: id, village, 户编号,
    户主, 户主身份证号, 户类型, monitoring category and status, 人口数 (current members) and the
    latest recorded year's 人均纯收入 — one statement."""
    where = [principal.scope_clause(H.c.village_code), H.c.deleted.is_(False)]
    if villages is not None:
        where.append(H.c.village_code.in_(sorted(set(villages))))
    rows = session.execute(income_figures_query(where, (
        H.c.household_number, H.c.head_name, H.c.head_id_number, H.c.household_type,
        H.c.monitoring_category, H.c.monitoring_status))).all()
    out = []
    for r in rows:
        d = dict(r._mapping)
        d["id"] = str(r.id)
        d["per_capita"] = per_head(float(r.net), r.members) if r.net is not None else None
        out.append(d)
    return out
