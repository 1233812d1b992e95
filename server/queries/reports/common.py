"""What every report shares: filters, the result shape, the scoped household filter and the
county policies the figures are computed under."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from server.db.tables import Household, Region
from server.reference import county_rules
from server.scope import Principal
from sync_protocol import procedure as machine
from sync_protocol.errors import ErrorCode, RuhuError
from sync_protocol.policy import CHINA_TZ, china_today

H = Household.__table__  # type: ignore[attr-defined]
# the periods a report may cover (anything else is a typo, and far dates would overflow)
EARLIEST, LATEST = dt.date(2000, 1, 1), dt.date(2100, 12, 31)


@dataclass(frozen=True)
class ReportFilters:
    """A village (12 digits) or the whole scope, and the period (default: this year so far, in
    China time). ``today`` is China's today unless a test fixes it."""

    village: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    today: dt.date | None = None

    def resolved(self) -> ReportFilters:
        today = self.today or china_today()
        start = self.date_from or today.replace(month=1, day=1)
        end = self.date_to or today
        if start > end or start < EARLIEST or end > LATEST:
            raise RuhuError(ErrorCode.report_period_invalid, status_code=422,
                            extra={"field": "from"})
        return replace(self, today=today, date_from=start, date_to=end)

    @property
    def day(self) -> dt.date:
        assert self.today is not None
        return self.today

    def moments(self) -> tuple[dt.datetime, dt.datetime]:
        """The period as [start, end) moments in China time (for timestamps such as visits)."""
        assert self.date_from is not None and self.date_to is not None
        return (dt.datetime.combine(self.date_from, dt.time(), CHINA_TZ),
                dt.datetime.combine(self.date_to + dt.timedelta(days=1), dt.time(), CHINA_TZ))


@dataclass
class Table:
    key: str
    title: str
    # (row key, official Chinese column name)
    columns: list[tuple[str, str]]
    rows: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "title": self.title,
                "columns": [{"key": k, "title": t} for k, t in self.columns], "rows": self.rows}


@dataclass
class Report:
    name: str
    title: str
    filters: ReportFilters
    # (key, Chinese label, value)
    summary: list[tuple[str, str, Any]] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    # the chart: (title, table key, label column, value column)
    chart: tuple[str, str, str, str] | None = None
    notes: list[str] = field(default_factory=list)

    def table(self, key: str) -> Table:
        return next(t for t in self.tables if t.key == key)

    def value(self, key: str) -> Any:
        return next(v for k, _, v in self.summary if k == key)

    def to_dict(self) -> dict[str, Any]:
        f = self.filters
        return {
            "name": self.name, "title": self.title,
            "filters": {"village": f.village, "from": _iso(f.date_from), "to": _iso(f.date_to),
                        "today": _iso(f.today)},
            "summary": {k: v for k, _, v in self.summary},
            "summary_labels": {k: label for k, label, _ in self.summary},
            "tables": [t.to_dict() for t in self.tables],
            "notes": list(self.notes),
        }


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def household_where(principal: Principal, f: ReportFilters) -> list[Any]:
    """The households a report counts: in scope, not deleted, in the village when one is given
    (the same filter as ``queries.households.list_households``)."""
    where = [principal.scope_clause(H.c.village_code), H.c.deleted.is_(False)]
    if f.village:
        where.append(H.c.village_code == f.village)
    return where


def monitored_sql(h: Any = H) -> Any:
    """SQL for ``sync_protocol.policy.is_monitored`` (tests/reports check the two agree):
    status ``monitored``; without a status, a monitoring category other than none."""
    status = sa.func.coalesce(h.c.monitoring_status, "")
    return sa.or_(status == "monitored",
                  sa.and_(status == "",
                          sa.func.coalesce(h.c.monitoring_category, "none").notin_(["", "none"])))


def ever_monitored_sql(h: Any = H) -> Any:
    """监测对象 (risk eliminated or not): a monitoring category other than none."""
    return sa.func.coalesce(h.c.monitoring_category, "none").notin_(["", "none"])


def main_risk_sql(h: Any = H) -> Any:
    """主要返贫致贫风险类型: the first of the household's risk types ("" when none)."""
    return sa.func.coalesce(h.c.risk_types.op("->>")(0), "")


def procedure_policies(session: Session, principal: Principal
                       ) -> dict[str, machine.ProcedurePolicy]:
    """The procedure policy of each county in scope."""
    return {county: county_rules(session, county).procedures
            for county in principal.county_codes}


def per_county(values: dict[str, Any], default: Any, h: Any = H) -> Any:
    """SQL: the value of the household's county (``default`` for a county not listed)."""
    if not values:
        return sa.literal(default)
    county = sa.func.substr(h.c.village_code, 1, 6)
    return sa.case(*[(county == c, sa.literal(v)) for c, v in values.items()], else_=default)


def region_names(session: Session, principal: Principal) -> dict[str, str]:
    """Names of the villages and townships in scope."""
    rows = session.execute(sa.select(Region.code, Region.name)  # type: ignore[call-overload]
                           .where(principal.scope_clause(Region.code))).all()
    return {code: name for code, name in rows}


def village_rows(names: dict[str, str], counts: dict[str, dict[str, int]]
                 ) -> list[dict[str, Any]]:
    """One row per village (township and village names, then the counts), by village code."""
    return [{"township": names.get(township_of(code), township_of(code)),
             "village": names.get(code, code), **counts[code]} for code in sorted(counts)]


def township_of(village: str) -> str:
    return village[:9] + "000"


def share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
