"""Report pages: ``/console/reports`` lists them, ``/console/reports/{name}`` shows one (table
and chart), ``/console/reports/{name}.xlsx`` exports it (audited). Figures from
``server.queries.reports``, the read API's own layer."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup
from openpyxl import Workbook

from server.api.deps import SessionDep
from server.api.routes.reports import parse_filters
from server.audit import audit
from server.console import charts
from server.console.common import scope_villages
from server.console.exports import _append, _sheet, _xlsx
from server.console.web import ClerkDep, ConsoleRoute, not_found, render
from server.queries.reports import REPORTS, Report, build_report

router = APIRouter(route_class=ConsoleRoute)


def cell(value: Any, key: str) -> Any:
    """A figure as a report shows it: shares as percentages, nothing as empty."""
    if value is None:
        return ""
    if key.endswith("_share") and isinstance(value, float):
        return f"{value:.1%}"
    return value


def _date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _report(session: Any, user: Any, name: str, village: str, date_from: str,
            date_to: str) -> Report:
    if name not in REPORTS:
        raise not_found()
    if village and not user.covers(village):
        raise not_found()
    filters = parse_filters(village or None, _date(date_from), _date(date_to))
    return build_report(session, user, name, filters)


def chart_of(report: Report) -> Markup | None:
    if report.chart is None:
        return None
    title, table, label, value = report.chart
    rows = [(str(r.get(label) or ""), int(r.get(value) or 0)) for r in report.table(table).rows]
    return charts.count_bars(rows[:30], title, color="#2f6fb3") if rows else None


@router.get("/reports")
def reports_page(request: Request, user: ClerkDep) -> Response:
    return render(request, "reports.html", active="reports",
                  reports=[(name, title, text) for name, (title, text, _) in REPORTS.items()])


@router.get("/reports/{name}.xlsx")
def report_xlsx(session: SessionDep, user: ClerkDep, name: str, village: str = "",
                date_from: str = "", date_to: str = "") -> Response:
    report = _report(session, user, name, village, date_from, date_to)
    f = report.filters
    wb = Workbook()
    summary = wb.active
    summary.title = "汇总"
    _append(summary, [report.title])
    _append(summary, [f"统计期：{f.date_from} 至 {f.date_to}"])
    _append(summary, ["项目", "数值"])
    for _, label, value in report.summary:
        _append(summary, [label, cell(value, "_share" if isinstance(value, float) else "")])
    for note in report.notes:
        _append(summary, [note])
    rows = 0
    for table in report.tables:
        rows += _sheet(wb, table.title[:31], [title for _, title in table.columns],
                       ([cell(r.get(k), k) for k, _ in table.columns] for r in table.rows))
    audit(session, user.user_id, "export", {"kind": f"report.{name}", "title": report.title,
                                            "village": village, "from": str(f.date_from),
                                            "to": str(f.date_to), "rows": rows,
                                            "device_id": user.device_id})
    return _xlsx(wb, report.title)


@router.get("/reports/{name}")
def report_page(request: Request, session: SessionDep, user: ClerkDep, name: str,
                village: str = "", date_from: str = "", date_to: str = "") -> Response:
    report = _report(session, user, name, village, date_from, date_to)
    return render(request, "report.html", active="reports", report=report, name=name,
                  chart=chart_of(report), cell=cell, village=village,
                  villages=scope_villages(session, user),
                  query=f"village={village}&date_from={report.filters.date_from}"
                        f"&date_to={report.filters.date_to}")
