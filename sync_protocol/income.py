"""Household income: 家庭纯收入 per year (生产经营性支出 subtracted) and per head."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

INCOME_CATEGORIES = ("wage", "business", "property", "transfer", "business_cost")
COST_CATEGORY = "business_cost"
DEFAULT_CATEGORY = "transfer"


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


def net_income(by_category: Mapping[str, float]) -> float:
    """家庭纯收入 of one year: every income less the costs of 生产经营."""
    return sum(v for k, v in by_category.items() if k != COST_CATEGORY) \
        - by_category.get(COST_CATEGORY, 0.0)


def net_income_by_year(incomes: Iterable[Mapping[str, Any]]) -> dict[int, float]:
    """Year → 家庭纯收入, newest year first."""
    years = income_by_category(incomes)
    return {year: net_income(years[year]) for year in sorted(years, reverse=True)}


def per_head(net: float, members: int) -> float | None:
    """人均纯收入 (None for a household without members)."""
    return net / members if members > 0 else None


def income_table(incomes: Iterable[Mapping[str, Any]],
                 members: int) -> list[dict[str, Any]]:
    """Per year, newest first: the category totals, ``net`` and ``per_capita`` (None without
    members)."""
    years = income_by_category(incomes)
    return [{"year": year, **years[year], "net": net_income(years[year]),
             "per_capita": per_head(net_income(years[year]), members)}
            for year in sorted(years, reverse=True)]
