"""应纳未纳: why a household that is not monitored may need to be (the 应纳未纳 report, and any
face that wants to warn about one household).

A household raises an alert when its latest recorded year's 人均纯收入 is below that year's
monitoring line, when it fell by more than the county's share against the year before
(``income_drop_share``, county policy), or when a 两不愁三保障 / drinking-water flag is set to no.
Figures come in already computed (``sync_protocol.income``); only the comparisons live here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .entities import FIELD_LABELS
from .policy import DEFAULT_INCOME_DROP_SHARE

# 两不愁三保障 and 饮水安全: a flag set to no (False) is a problem; unknown (None) is not
SECURITY_FIELDS = ("food_secure", "clothing_secure", "education_secure", "medical_secure",
                   "housing_secure", "water_secure", "drinking_water_safe")


def income_below_line(per_capita: float | None, line: float | None) -> bool:
    """人均纯收入 below the monitoring line of the same year (unknown either way: no)."""
    return per_capita is not None and line is not None and per_capita < line


def income_dropped(per_capita: float | None, previous: float | None, share: float) -> bool:
    """人均纯收入 fell by more than ``share`` (0.3 = 30 %) against the year before (which must
    have had a positive income)."""
    if per_capita is None or previous is None or previous <= 0:
        return False
    return per_capita < previous * (1 - share)


def drop_share(per_capita: float | None, previous: float | None) -> float | None:
    """How far 人均纯收入 fell against the year before (0.4 = by 40 %; negative: it rose)."""
    if per_capita is None or previous is None or previous <= 0:
        return None
    return (previous - per_capita) / previous


def security_problems(household: Mapping[str, Any]) -> list[str]:
    """The 两不愁三保障 / drinking-water flags set to no, as their Chinese labels."""
    return [FIELD_LABELS[name] for name in SECURITY_FIELDS if household.get(name) is False]


@dataclass(frozen=True)
class Alert:
    below_line: bool = False
    dropped: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def raised(self) -> bool:
        return self.below_line or self.dropped or bool(self.problems)


def alert(household: Mapping[str, Any], per_capita: float | None, previous: float | None,
          line: float | None, share: float = DEFAULT_INCOME_DROP_SHARE) -> Alert:
    """The reasons a household (not monitored) needs a look: the three rules above."""
    return Alert(income_below_line(per_capita, line), income_dropped(per_capita, previous, share),
                 security_problems(household))
