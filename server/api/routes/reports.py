"""Read API of the reports (docs/reports.md): ``GET /api/v1/reports/{name}``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel

from server.api.deps import SessionDep, require_roles
from server.queries.reports import REPORTS, ReportFilters, build_report
from server.scope import Principal
from sync_protocol.enums import Role
from sync_protocol.errors import ErrorCode, RuhuError, message
from sync_protocol.validation import is_region_code, region_level

router = APIRouter(prefix="/api/v1", tags=["reports"])
Office = Annotated[Principal, Depends(require_roles(Role.township_clerk, Role.county_admin))]


class ReportColumn(BaseModel):
    key: str
    title: str


class ReportTable(BaseModel):
    key: str
    title: str
    columns: list[ReportColumn]
    rows: list[dict[str, Any]]




class ReportOut(BaseModel):
    """One report: the filters it was computed with, the headline figures (``summary``, with
    their Chinese labels in ``summary_labels``), its tables (official Chinese column titles)
    and notes on how the figures are counted."""

    name: str
    title: str
    filters: dict[str, str | None]
    summary: dict[str, int | float | None]
    summary_labels: dict[str, str]
    tables: list[ReportTable]
    notes: list[str]


def parse_filters(village: str | None, date_from: dt.date | None,
                  date_to: dt.date | None) -> ReportFilters:
    """The report filters of a request (422 ``validation.region_code_invalid`` for a village
    code that is not a 12-digit village, 422 ``report.period_invalid`` for from > to)."""
    if village is not None and not (is_region_code(village) and region_level(village)
                                    == "village"):
        raise RuhuError(ErrorCode.validation_region_code_invalid,
                        f"行政村：{message(ErrorCode.validation_region_code_invalid)}",
                        status_code=422, extra={"field": "village"})
    return ReportFilters(village=village or None, date_from=date_from,
                         date_to=date_to).resolved()


NAMES = " | ".join(f"`{name}` {title}" for name, (title, _, _) in REPORTS.items())


@router.get(
    "/reports/{name}", response_model=ReportOut, summary="统计报表（监测对象、风险消除、帮扶措施、"
    "应纳未纳、走访覆盖、五清）",
    description="One report over the caller's scope (township clerk: their township; county "
    "admin: their county; village roles: 403 `auth.forbidden`). Names: " + NAMES + ". An "
    "unknown name is 404 `report.not_found`. Filters: `village` (12 digits; a village outside "
    "the scope yields empty figures), `from`/`to` (ISO dates, China time; default this year "
    "up to today; from > to is 422 `report.period_invalid`). Totals agree with "
    "`GET /api/v1/households` for the same village.",
    responses={403: {"description": "village roles"}, 404: {"description": "unknown report"}},
)
def get_report(
    session: SessionDep, user: Office,
    name: Annotated[str, Path(max_length=30, description="monitoring, elimination, measures, "
                                                        "alerts, visits or wuqing")],
    village: Annotated[str | None, Query(max_length=20, description="12位行政村代码")] = None,
    date_from: Annotated[dt.date | None, Query(alias="from", description="统计期开始日期")] = None,
    date_to: Annotated[dt.date | None, Query(alias="to", description="统计期结束日期")] = None,
) -> dict[str, Any]:
    if name not in REPORTS:
        raise RuhuError(ErrorCode.report_not_found, status_code=404)
    filters = parse_filters(village, date_from, date_to)
    return build_report(session, user, name, filters).to_dict()
