"""Household income: 家庭纯收入 per year (生产经营性支出 subtracted), per head of that year's
household, the breakdown of 转移性收入 and 刚性支出, and the current year as a partial year.

Per-capita net income of a year divides by the members who count at the end of that year
(``members.members_in_year``: 增减员 move them in and out). The current year is partial: its
figure is compared with the monitoring line pro-rated to the share of the year gone by, and it
is marked ``partial``, so a spring figure is never flagged as if the year were over.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from .members import members_in_year
from .policy import china_today

INCOME_CATEGORIES = ("wage", "business", "property", "transfer", "business_cost",
                     "rigid_expense")
COST_CATEGORY = "business_cost"
RIGID_CATEGORY = "rigid_expense"
NOT_INCOME = (COST_CATEGORY, RIGID_CATEGORY)
DEFAULT_CATEGORY = "transfer"
TRANSFER_KINDS = ("dibao", "tekun", "pension", "eco_compensation", "other_transfer")
RIGID_KINDS = ("medical_out_of_pocket", "education_expense")

Members = int | Iterable[Mapping[str, Any]]


def _year_amount(row: Mapping[str, Any]) -> tuple[int, float] | None:
    if row.get("deleted"):
        return None
    try:
        year, amount = row.get("year"), row.get("amount")
        if year is None or amount is None or isinstance(amount, bool):
            return None
        return int(year), float(amount)
    except (TypeError, ValueError):
        return None


def income_by_category(incomes: Iterable[Mapping[str, Any]]) -> dict[int, dict[str, float]]:
    """Year → category → total amount (every category present, 0 when none)."""
    years: dict[int, dict[str, float]] = {}
    for row in incomes:
        parsed = _year_amount(row)
        if parsed is None:
            continue
        year, amount = parsed
        category = str(row.get("category") or DEFAULT_CATEGORY)
        by_cat = years.setdefault(year, dict.fromkeys(INCOME_CATEGORIES, 0.0))
        by_cat[category] = by_cat.get(category, 0.0) + amount
    return years


def breakdown(incomes: Iterable[Mapping[str, Any]], year: int) -> dict[str, float]:
    """The 转移性收入 and 刚性支出 of a year by ``item_kind`` (a transfer without a kind counts
    as 其他转移性收入; a rigid expense without one is left out of the breakdown)."""
    out = dict.fromkeys(TRANSFER_KINDS + RIGID_KINDS, 0.0)
    for row in incomes:
        parsed = _year_amount(row)
        if parsed is None or parsed[0] != year:
            continue
        kind = row.get("item_kind")
        if row.get("category") == "transfer":
            kind = kind if kind in TRANSFER_KINDS else "other_transfer"
        if kind in out:
            out[str(kind)] += parsed[1]
    return out


def net_income(by_category: Mapping[str, float]) -> float:
    """家庭纯收入 of one year: every income less the costs of 生产经营 (刚性支出 are not income;
    they are shown beside it)."""
    return sum(v for k, v in by_category.items() if k not in NOT_INCOME) \
        - by_category.get(COST_CATEGORY, 0.0)


def net_income_by_year(incomes: Iterable[Mapping[str, Any]]) -> dict[int, float]:
    """Year → 家庭纯收入, newest year first."""
    years = income_by_category(incomes)
    return {year: net_income(years[year]) for year in sorted(years, reverse=True)}


def per_head(net: float, members: int) -> float | None:
    """人均纯收入 (None for a household without members)."""
    return net / members if members > 0 else None


def people_in_year(members: Members, year: int, today: dt.date) -> int:
    """家庭人口 of a year: a fixed count, or the member rows counted at the year's end."""
    if isinstance(members, int):
        return members
    return members_in_year(members, year, today)


def year_share(year: int, today: dt.date) -> float:
    """The share of a year gone by on ``today``: 1 for a past year, 0 for a future one."""
    if year < today.year:
        return 1.0
    if year > today.year:
        return 0.0
    start = dt.date(year, 1, 1)
    days = (dt.date(year + 1, 1, 1) - start).days
    return ((today - start).days + 1) / days


def per_capita_by_year(incomes: Iterable[Mapping[str, Any]], members: Members,
                       today: dt.date) -> dict[int, float]:
    """人均纯收入 by year, newest first (years without members are left out)."""
    rows = members if isinstance(members, int) else list(members)
    out: dict[int, float] = {}
    for year, net in net_income_by_year(incomes).items():
        head = per_head(net, people_in_year(rows, year, today))
        if head is not None:
            out[year] = head
    return out


def line_for(year: int, lines: Mapping[int, float] | None, today: dt.date
             ) -> tuple[float | None, bool]:
    """The monitoring line to compare a year's per-capita income with, and whether it is
    pro-rated (the current year: the line times the share of the year gone by)."""
    line = (lines or {}).get(year)
    if line is None:
        return None, False
    share = year_share(year, today)
    return (line * share, True) if share < 1 else (float(line), False)


def income_table(incomes: Iterable[Mapping[str, Any]], members: Members,
                 today: dt.date | None = None,
                 lines: Mapping[int, float] | None = None) -> list[dict[str, Any]]:
    """Per year, newest first: the category totals, ``net``, ``people`` (that year's members),
    ``per_capita`` (None without members), the transfer/rigid ``breakdown``, ``net_after_rigid``
    (纯收入 less 刚性支出), ``partial`` (the current year), ``line`` (the monitoring line,
    pro-rated when partial), ``below_line``."""
    today = today or china_today()
    rows = list(incomes)
    people_rows = members if isinstance(members, int) else list(members)
    years = income_by_category(rows)
    out = []
    for year in sorted(years, reverse=True):
        net = net_income(years[year])
        people = people_in_year(people_rows, year, today)
        head = per_head(net, people)
        line, prorated = line_for(year, lines, today)
        out.append({"year": year, **years[year], "net": net, "people": people,
                    "per_capita": head, "breakdown": breakdown(rows, year),
                    "net_after_rigid": net - years[year][RIGID_CATEGORY],
                    "partial": year_share(year, today) < 1, "line": line,
                    "line_prorated": prorated,
                    "below_line": head is not None and line is not None and head < line})
    return out
