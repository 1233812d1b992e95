"""Checks for the identifiers field work depends on: ID numbers, region codes, phone numbers."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from stdnum import numdb
from stdnum.cn import ric

from .errors import ErrorCode, FieldError
from .policy import china_today

# \Z, not $: "$" also matches before a final line feed, which would let "…\n" through
REGION_CODE_LENGTH = 12
REGION_CODE_RE = re.compile(rf"^\d{{{REGION_CODE_LENGTH}}}\Z")
SCOPE_PREFIX_LENGTHS = (2, 4, 6, 9, 12)
MOBILE_RE = re.compile(r"^1[3-9]\d{9}\Z")
LANDLINE_RE = re.compile(r"^0\d{2,3}-?\d{7,8}\Z")
SHA256_RE = re.compile(r"^[0-9a-f]{64}\Z")
DEVICE_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}\Z")
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,64}\Z")


def is_region_code(code: str) -> bool:
    """A 12-digit 统计用区划代码 whose levels are filled from the top.

    (No village under a 000 township, no county under a 00 city.)
    """
    if not isinstance(code, str) or not REGION_CODE_RE.match(code):
        return False
    if code[:2] == "00" or code[2:4] == "00" and code[4:] != "0" * 8:
        return False
    return True


def region_level(code: str) -> str:
    """province / city / county / township / village for a well-formed 12-digit code."""
    if code[2:] == "0" * 10:
        return "province"
    if code[4:] == "0" * 8:
        return "city"
    if code[6:] == "0" * 6:
        return "county"
    if code[9:] == "000":
        return "township"
    return "village"


def is_scope_prefix(prefix: str) -> bool:
    """A scope is a region-code prefix cut at a level boundary (2, 4, 6, 9 or 12 digits)."""
    return (
        isinstance(prefix, str)
        and prefix.isdigit()
        and len(prefix) in SCOPE_PREFIX_LENGTHS
        and not prefix.startswith("00")
    )


def in_scope(village_code: str | None, scopes: list[str] | tuple[str, ...]) -> bool:
    return bool(village_code) and village_code.startswith(tuple(scopes))  # type: ignore[union-attr]


def is_phone(value: str) -> bool:
    return bool(MOBILE_RE.match(value) or LANDLINE_RE.match(value))


def check_id_number(value: str, field: str = "id_number") -> list[FieldError]:
    """Errors (and warnings) for an 18-character 居民身份证号.

    Checksum, birth date and an unknown region code are errors. A region code that exists but was
    not yet (or no longer) in use in the birth year is only a warning: late registrations and
    re-issued numbers are real.
    """
    number = ric.compact(value) if isinstance(value, str) else ""
    well_formed = len(number) == 18 and number[:17].isdigit() and number[17] in "0123456789X"
    if not well_formed:
        return [FieldError(ErrorCode.validation_id_number_invalid, field)]
    if number[17] != ric.calc_check_digit(number):
        return [FieldError(ErrorCode.validation_id_number_checksum, field)]
    try:
        birth = ric.get_birth_date(number)
    except Exception:
        return [FieldError(ErrorCode.validation_id_number_birth_date, field)]
    if birth > china_today() or birth.year < 1890:
        return [FieldError(ErrorCode.validation_id_number_birth_date, field)]
    results = numdb.get("cn/loc").info(number[:6])
    info = {k: v for _part, props in results for k, v in props.items()}
    if not info or "county" not in info:
        return [FieldError(ErrorCode.validation_id_number_region, field)]
    try:
        ric.get_birth_place(number)
    except Exception:
        return [FieldError(ErrorCode.validation_id_number_region_year, field, warning=True)]
    return []


def normalise_id_number(value: str) -> str:
    return ric.compact(value)


def mask_id_number(value: str | None) -> str:
    """4117**********1234 — for anything published (公示) or exported for publication."""
    if not value:
        return ""
    if len(value) < 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_phone(value: str | None) -> str:
    if not value:
        return ""
    if len(value) < 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_name(value: str | None) -> str:
    """张三丰 → 张*丰; two characters → 张*."""
    if not value:
        return ""
    if len(value) <= 2:
        return value[0] + "*"
    return value[0] + "*" * (len(value) - 2) + value[-1]


def household_seen_from(side: Any, scopes: list[str] | tuple[str, ...],
                         township_name: str | None = None) -> Any:
    """One household of a ``duplicate_record`` conflict as seen by a viewer with ``scopes``.

    ``side`` is the stored ``{"record_id", "head_id_number", "household_number",
    "village_code"}``. A viewer whose scope covers the household's village sees it in full. Anyone
    else (the device that created the duplicate, a clerk of another township) learns only that it
    exists elsewhere, in which township, with both identifiers masked (``4117**********1234``):
    no record id, village, name, phone or address.
    """
    if isinstance(side, dict) and in_scope(side.get("village_code"), scopes):
        return side
    known = side if isinstance(side, dict) else {}
    village = str(known.get("village_code") or "")
    name = township_name or "本县其他乡镇"
    return {
        "elsewhere": True,
        "township_code": village[:9] or None,
        "township_name": name,
        "head_id_number": mask_id_number(known.get("head_id_number")),
        "household_number": mask_id_number(known.get("household_number")),
        "description": f"{name}已登记一户相同的农户（不在您的管辖范围内，仅显示部分信息）",
    }


def build_id_number(region6: str, birth: dt.date, sequence: int) -> str:
    """A well-formed ID number (valid checksum) — for demo data and tests."""
    body = f"{region6}{birth:%Y%m%d}{sequence % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")
