"""The monthly reports of a township and a county (docs/reports.md): scoped, filtered by
village and period, aggregated in Postgres.

``REPORTS`` maps each report's name (the read API's and the console's) to its title and builder.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlmodel import Session

from server.queries.reports.activity import visits_report, wuqing_report
from server.queries.reports.alerts import alerts_report
from server.queries.reports.common import Report, ReportFilters, Table, monitored_sql
from server.queries.reports.measures import measures_report
from server.queries.reports.monitoring import elimination_report, monitoring_report
from server.scope import Principal
from sync_protocol.enums import Role
from sync_protocol.errors import ErrorCode, RuhuError

Builder = Callable[[Session, Principal, ReportFilters], Report]

# name -> (title, what it shows, builder)
REPORTS: dict[str, tuple[str, str, Builder]] = {
    "monitoring": ("监测对象", "监测对象按类别、返贫致贫风险类型、乡镇和行政村统计，"
                   "本月、本年新增，按信息来源（农户自主申报、干部排查、部门筛查预警）统计。",
                   monitoring_report),
    "elimination": ("风险消除进度", "风险未消除、风险已消除（帮扶消除、自然消除）户数，监测期满仍未"
                    "消除的户数，纳入监测程序超期未办结数。", elimination_report),
    "measures": ("帮扶措施落实", "按返贫致贫风险类型和帮扶措施类别统计计划实施与落实情况，"
                 "列出有返贫致贫风险类型但无对应帮扶措施的户数。", measures_report),
    "alerts": ("应纳未纳预警", "未纳入监测的农户中，人均纯收入低于监测标准或较上年大幅下降，"
               "或“两不愁三保障”及饮水安全存在问题的农户。", alerts_report),
    "visits": ("走访覆盖", "统计期内按走访人、按行政村统计走访覆盖情况，监测户与其他农户分列。",
               visits_report),
    "wuqing": ("五清核查", "五清已核查与全部为清户数对照，待整改事项（不清）。", wuqing_report),
}
REPORT_ROLES = frozenset({Role.township_clerk.value, Role.county_admin.value})


def build_report(session: Session, principal: Principal, name: str,
                 filters: ReportFilters) -> Report:
    """The named report for the principal (403 for village roles, 404 for an unknown name)."""
    if principal.role not in REPORT_ROLES:
        raise RuhuError(ErrorCode.auth_forbidden, status_code=403)
    if name not in REPORTS:
        raise RuhuError(ErrorCode.report_not_found, status_code=404)
    # the county-wide aggregates (hundreds of thousands of income rows) fit in memory instead of
    # spilling to disk at the default 4 MB; SET LOCAL ends with the request's transaction
    session.execute(sa.text("SET LOCAL work_mem = '64MB'"))
    return REPORTS[name][2](session, principal, filters)


__all__ = ["REPORTS", "Report", "ReportFilters", "Table", "build_report", "monitored_sql"]
