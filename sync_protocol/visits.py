"""What a 走访记录 needs, and who may correct or withdraw one, when (shared by tablet and server).

A real visit has a time (``visited_at``, recorded by the device) and notes of what was found or
done (at least ``MIN_NOTES`` characters): a visit with neither is not a visit, however many
times it is tapped. Photos, location and the household's confirmation strengthen it but do not
replace the notes.

A visit is never deleted. Its author may correct it, or withdraw it (``withdrawn: true``), on the
day of the visit in China time; after that, or for anyone else, it is fixed. A withdrawn visit
stays on record (with the change log of who withdrew it and when) but no longer counts: not for
the 五清 visit hint, not for visit coverage, not as the household's last visit.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from .errors import ErrorCode, FieldError
from .hlc import Hlc
from .policy import china_date

MIN_NOTES = 4


def notes_ok(notes: Any) -> bool:
    return isinstance(notes, str) and len("".join(notes.split())) >= MIN_NOTES


def visit_errors(fields: dict[str, Any], *, creating: bool) -> list[FieldError]:
    """Problems with a visit's fields (a new one, or the fields an edit sends)."""
    errors: list[FieldError] = []
    if creating and not fields.get("visited_at"):
        errors.append(FieldError(ErrorCode.validation_field_required, "visited_at"))
    if (creating or "notes" in fields) and not notes_ok(fields.get("notes")):
        errors.append(FieldError(ErrorCode.visit_notes_required, "notes"))
    return errors


def edit_refusal(stored: dict[str, Any], user_id: Any, when: dt.datetime,
                 op: str = "upsert") -> ErrorCode | None:
    """Why a change to an existing visit is refused (None: allowed). ``when`` is the time the
    change was made."""
    if op == "delete":
        return ErrorCode.visit_delete_not_allowed
    if not stored.get("visitor_id") or str(stored.get("visitor_id")) != str(user_id):
        return ErrorCode.visit_not_author
    if china_date(stored.get("visited_at")) != china_date(when):
        return ErrorCode.visit_edit_window_closed
    return None


def change_refusal(fields: dict[str, Any], op: str, stored: dict[str, Any] | None,
                   user_id: Any = None, hlc: Hlc | None = None,
                   force: bool = False) -> FieldError | None:
    """The server's check of one pushed change to a visit: a create (``stored`` None) needs what
    a visit needs; an edit or withdrawal is its author's, on the day the change was made (the
    change's clock). Server-originated (forced) writes are not edits. None: accepted."""
    if stored is not None and not force:
        when = dt.datetime.fromtimestamp((hlc.millis if hlc else 0) / 1000, dt.UTC)
        code = edit_refusal(stored, user_id, when, op)
        if code is not None:
            return FieldError(code)
    if op == "delete":
        return None
    errors = visit_errors(fields, creating=stored is None)
    return errors[0] if errors else None


def may_edit(visit: dict[str, Any], user_id: Any, now: dt.datetime) -> bool:
    return not visit.get("deleted") and edit_refusal(visit, user_id, now) is None


def counts(visit: dict[str, Any]) -> bool:
    """Whether a visit counts (for 五清, coverage and the last visit)."""
    return not visit.get("deleted") and not visit.get("withdrawn")


def assignment_on(helpers: list[dict[str, Any]], day: dt.date) -> str | None:
    """The id of the helper assignment (帮扶责任人) current on ``day``, which a visit of that
    day is linked to: started by then, not ended before, the latest start winning."""
    def date(value: Any) -> dt.date | None:
        try:
            return dt.date.fromisoformat(str(value)[:10]) if value else None
        except ValueError:
            return None

    current = [h for h in helpers if not h.get("deleted")
               and (date(h.get("start_date")) or dt.date.min) <= day
               and (date(h.get("end_date")) or dt.date.max) >= day]
    current.sort(key=lambda h: (date(h.get("start_date")) or dt.date.min, str(h.get("id"))))
    return str(current[-1]["id"]) if current else None
