"""帮扶责任人 changes: a new helper adds a row and closes the current one (history is kept).

domain.md: a change of helper is never a rename of the current assignment. When a new
assignment starts, every assignment of the household still open (no ``end_date``) that began
before it ends the day before the new one starts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any


def assignments_to_close(assignments: Iterable[Mapping[str, Any]], new_id: str,
                         start: str | None, today: dt.date) -> dict[str, str]:
    """Assignment id → the ``end_date`` it gets when assignment ``new_id`` starts on ``start``
    (ISO date; default ``today``, China time)."""
    first_day = dt.date.fromisoformat(start) if start else today
    last_day = (first_day - dt.timedelta(days=1)).isoformat()
    return {str(a["id"]): last_day for a in assignments
            if str(a.get("id")) != new_id and not a.get("end_date")
            and str(a.get("start_date") or "") < first_day.isoformat()}
