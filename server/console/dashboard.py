"""The data-quality dashboard page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from server.api.deps import SessionDep
from server.console import charts
from server.console.common import scope_villages, village_names
from server.console.quality import build_report
from server.console.web import ClerkDep, ConsoleRoute, render

router = APIRouter(route_class=ConsoleRoute)


@router.get("/quality")
def quality(request: Request, session: SessionDep, user: ClerkDep, village: str = "") -> Response:
    report = build_report(session, user, village)
    rows = [v for v in report.villages if v.households]
    completion = charts.percent_bars([(v.name, v.wuqing_checked, v.households) for v in rows],
                                     "五清已核查率")
    visited = charts.percent_bars([(v.name, v.households - v.overdue, v.households)
                                   for v in rows], "按期走访率")
    return render(request, "quality.html", active="quality", report=report,
                  totals=report.totals, completion_chart=completion, visited_chart=visited,
                  villages=scope_villages(session, user), village=village,
                  names=village_names(session, user))
