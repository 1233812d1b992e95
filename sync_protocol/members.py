"""Members of a household file v2: what the ID number says, who counts in which year, and the
rules of one member change.

Gender and birth date come from the 18-digit 居民身份证号 (digit 17 odd = male, digits 7-14 the
birth date); the tablet fills them from the number and the server refuses a change whose gender
or birth date contradicts the number sent with it. 增减员: a member joins (``joined_on``,
``joined_reason``) or leaves (``left_on``, ``left_reason``) and keeps their row; they count from
the day they joined until the day before they left.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from stdnum.cn import ric

from .errors import ErrorCode, FieldError
from .input_rules import as_date

HEALTHY = "healthy"


def health_codes(member: Mapping[str, Any]) -> list[str]:
    """A member's health codes (a list since v2; a v1 record holds one code)."""
    value = member.get("health")
    if isinstance(value, str):
        return [value] if value else []
    return [str(v) for v in value or []]


def id_gender(number: Any) -> str | None:
    """``male`` / ``female`` from the 17th digit of an 18-digit ID number (None when malformed)."""
    if not isinstance(number, str):
        return None
    number = ric.compact(number)
    if len(number) != 18 or not number[16].isdigit():
        return None
    return "male" if int(number[16]) % 2 else "female"


def id_birth_date(number: Any) -> dt.date | None:
    """The birth date digits 7-14 of an ID number hold (None when malformed)."""
    if not isinstance(number, str):
        return None
    try:
        return ric.get_birth_date(ric.compact(number))
    except Exception:
        return None


def derived_from_id(number: Any) -> dict[str, str]:
    """The fields a tablet fills from an ID number: ``gender`` and ``birth_date`` (ISO), each only
    when the number yields it."""
    out: dict[str, str] = {}
    gender, birth = id_gender(number), id_birth_date(number)
    if gender:
        out["gender"] = gender
    if birth:
        out["birth_date"] = birth.isoformat()
    return out


def id_mismatches(member: Mapping[str, Any]) -> list[str]:
    """The fields (``gender``, ``birth_date``) of a member that contradict their ID number."""
    number = member.get("id_number")
    if not number:
        return []
    out = []
    gender = id_gender(number)
    if gender and member.get("gender") and member.get("gender") != gender:
        out.append("gender")
    birth = id_birth_date(number)
    stated = as_date(member.get("birth_date"))
    if birth and stated and stated != birth:
        out.append("birth_date")
    return out


_MISMATCH_CODES = {"gender": ErrorCode.validation_id_number_gender_mismatch,
                   "birth_date": ErrorCode.validation_id_number_birth_mismatch}


def member_errors(fields: Mapping[str, Any], *, creating: bool) -> list[FieldError]:
    """The rules of one member change (clean JSON values) that span fields: gender and birth
    date sent with an ID number must agree with it; 健康 excludes the other health codes; a
    leave date not before the join date; a reason needs its date."""
    errors = [FieldError(_MISMATCH_CODES[f], f) for f in id_mismatches(fields)]
    health = fields.get("health") or []
    if HEALTHY in health and len(health) > 1:
        errors.append(FieldError(ErrorCode.validation_health_conflict, "health"))
    joined, left = as_date(fields.get("joined_on")), as_date(fields.get("left_on"))
    if joined and left and left < joined:
        errors.append(FieldError(ErrorCode.validation_member_dates, "left_on"))
    for reason, date in (("joined_reason", "joined_on"), ("left_reason", "left_on")):
        if fields.get(reason) and not fields.get(date) and (creating or date in fields):
            errors.append(FieldError(ErrorCode.validation_reason_without_date, date))
    return errors


def counts_on(member: Mapping[str, Any], day: dt.date) -> bool:
    """Whether a member belongs to the household on ``day`` (not deleted, joined, not left)."""
    if member.get("deleted"):
        return False
    joined, left = as_date(member.get("joined_on")), as_date(member.get("left_on"))
    return (joined is None or joined <= day) and (left is None or left > day)


def current_members(members: Iterable[Mapping[str, Any]], today: dt.date
                    ) -> list[Mapping[str, Any]]:
    """The members who count today."""
    return [m for m in members if counts_on(m, today)]


def year_end(year: int, today: dt.date) -> dt.date:
    """The day a year's household is counted on: 31 December, or today in the current year."""
    return min(dt.date(year, 12, 31), today)


def members_in_year(members: Iterable[Mapping[str, Any]], year: int, today: dt.date) -> int:
    """家庭人口 of a year: the members who count at its end (today in the current year)."""
    day = year_end(year, today)
    return sum(1 for m in members if counts_on(m, day))


def members_by_year(members: Iterable[Mapping[str, Any]], years: Iterable[int],
                    today: dt.date) -> dict[int, int]:
    rows = list(members)
    return {year: members_in_year(rows, year, today) for year in years}


def age_on(member: Mapping[str, Any], day: dt.date) -> int | None:
    """Age in whole years on ``day`` (from the birth date, else from the ID number)."""
    birth = as_date(member.get("birth_date")) or id_birth_date(member.get("id_number"))
    if birth is None:
        return None
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))
