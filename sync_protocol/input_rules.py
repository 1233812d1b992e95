"""Rules for raw text and dates that every entry point shares (tablet, API, console, exports).

Control characters: a single-line field (names, codes, addresses, search terms, query and path
parameters) refuses every C0 control character (U+0000-U+001F) and DEL (U+007F). A multi-line
field (notes: ``Text`` in ``entities``, a resolution note) also allows tab, line feed and carriage
return. Both refuse unpaired surrogates (U+D800-U+DFFF), which JSON escapes can carry but which no
database or spreadsheet can store. NUL in particular makes Postgres refuse the whole statement.

Dates: every date a user enters lies in ``MIN_DATE``..``MAX_DATE``; a birth date is not in the
future, counted in China time (field work runs on Beijing time whatever the device's zone).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic_core import PydanticCustomError

from .control_chars import MULTI_LINE_BAD, SINGLE_LINE_BAD
from .control_chars import has_control_chars as has_control_chars
from .errors import ErrorCode
from .policy import CHINA_TZ, china_today

_SINGLE_LINE_BAD = SINGLE_LINE_BAD
_MULTI_LINE_BAD = MULTI_LINE_BAD
# what an xlsx cell (XML 1.0) cannot hold; tab, LF and CR are kept
_EXPORT_BAD = _MULTI_LINE_BAD

MIN_DATE = dt.date(1900, 1, 1)
MAX_DATE = dt.date(2100, 12, 31)
MIN_BIRTH_DATE = dt.date(1890, 1, 1)


def strip_control_chars(value: str) -> str:
    """``value`` without what an export cannot hold (data stored before the rule existed)."""
    return _EXPORT_BAD.sub("", value)


def _control_error() -> PydanticCustomError:
    return PydanticCustomError(str(ErrorCode.validation_control_char), "control character")


def single_line(value: Any) -> Any:
    """Pydantic before-validator for one-line text; non-strings are left to the field's type."""
    if isinstance(value, str) and _SINGLE_LINE_BAD.search(value):
        raise _control_error()
    return value


def multi_line(value: Any) -> Any:
    """Pydantic before-validator for multi-line text (tab, LF and CR allowed)."""
    if isinstance(value, str) and _MULTI_LINE_BAD.search(value):
        raise _control_error()
    return value


def date_in_range(value: dt.date) -> dt.date:
    """Pydantic after-validator: a date (or the date of a datetime) in MIN_DATE..MAX_DATE."""
    day = value.date() if isinstance(value, dt.datetime) else value
    if not MIN_DATE <= day <= MAX_DATE:
        raise PydanticCustomError(str(ErrorCode.validation_date_out_of_range), "date range")
    return value


def china_time_if_naive(value: dt.datetime) -> dt.datetime:
    """Pydantic after-validator: a time sent without a zone is a time in China (UTC+8).

    The tablet sends UTC with its offset; a time without one (an old export, a hand-made
    client) would otherwise be read in the database session's zone on the server while the
    sender kept it as written, and the two would show different moments."""
    return value.replace(tzinfo=CHINA_TZ) if value.tzinfo is None else value


def birth_date(value: dt.date) -> dt.date:
    """Pydantic after-validator: a birth date from 1890 up to today in China, not later."""
    if not MIN_BIRTH_DATE <= value <= china_today():
        raise PydanticCustomError(str(ErrorCode.validation_birth_date_invalid), "birth date")
    return value


def as_date(value: Any) -> dt.date | None:
    """A date from a JSON string (the tablet) or a Python date/datetime (the database)."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None
