"""Duplicate households: the keys and the pure match (the server only finds candidates in SQL).

A household that is created, or given a new head ID number or household number, and matches an
active household of the same county on one of those keys (a non-empty value, equal) is a
duplicate: both are kept and the pair becomes a ``duplicate_record`` conflict for a clerk.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# the fields that identify a household; a match on either one is a duplicate
DUPLICATE_KEYS: frozenset[str] = frozenset({"head_id_number", "household_number"})


def county_of(village_code: str | None) -> str:
    """The county part (six digits) of a village code: duplicates are looked for per county."""
    return (village_code or "")[:6]


def keys_to_check(created: bool, changed: Iterable[str]) -> frozenset[str]:
    """The keys a household change must be checked on: all of them for a new household, else the
    keys it changed (none: no check)."""
    return DUPLICATE_KEYS if created else DUPLICATE_KEYS.intersection(changed)


def lookup_values(households: Iterable[Mapping[str, Any]]) -> dict[str, set[Any]]:
    """Per key, the non-empty values the given household fields set: what to look up among the
    stored households (one query for a whole batch)."""
    wanted: dict[str, set[Any]] = {k: set() for k in sorted(DUPLICATE_KEYS)}
    for fields in households:
        for k in wanted:
            value = fields.get(k)
            if value not in (None, ""):
                wanted[k].add(value)
    return wanted


@dataclass(frozen=True, slots=True)
class Match:
    """The household ``candidate`` (id, village code, keys) that matches on ``field``."""

    candidate: Mapping[str, Any]
    field: str


def find_duplicate(record_id: str, village_code: str | None, mine: Mapping[str, Any],
                   keys: Iterable[str], candidates: Iterable[Mapping[str, Any]]) -> Match | None:
    """The first candidate household (a mapping with ``id``, ``village_code``, the keys and
    optionally ``deleted``) other than ``record_id``, active and in the same county, that has the
    same non-empty value as ``mine`` on one of ``keys``; None when there is none."""
    wanted = sorted(keys)
    if not any(mine.get(k) for k in wanted):
        return None
    county = county_of(village_code)
    for d in candidates:
        if str(d["id"]) == record_id or d.get("deleted"):
            continue
        if county_of(d["village_code"]) != county:
            continue
        same = [k for k in wanted if mine.get(k) and d.get(k) == mine.get(k)]
        if same:
            return Match(d, same[0])
    return None
