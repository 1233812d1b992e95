"""Scoped look-ups several console pages share."""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel import Session, select

from server.console.web import not_found
from server.db.tables import Household, Region
from server.scope import Principal


def village_names(session: Session, principal: Principal) -> dict[str, str]:
    """Names of the villages (and townships) in scope, from the region table."""
    rows = session.exec(select(Region).where(principal.scope_clause(Region.code))).all()
    return {r.code: r.name for r in rows}


def scope_villages(session: Session, principal: Principal) -> list[tuple[str, str]]:
    """(code, name) of every village in scope: from the region table and from the households."""
    names = village_names(session, principal)
    codes = {c for c, r in names.items() if len(c) == 12 and not c.endswith("000")}
    codes |= set(session.exec(
        select(Household.village_code).where(principal.scope_clause(Household.village_code))
        .distinct()
    ).all())
    return sorted((c, names.get(c, c)) for c in codes)


def parse_uuid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(text))
    except ValueError as exc:
        raise not_found() from exc


def household_in_scope(session: Session, principal: Principal, household_id: Any) -> Household:
    """The household, or 404 (never saying whether it exists outside the scope)."""
    row = session.get(Household, parse_uuid(household_id))
    if row is None or not principal.covers(row.village_code):
        raise not_found()
    return row
