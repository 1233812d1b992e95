"""Households with their child records as plain dicts — the shape ``sync_protocol.wuqing`` reads.

The one loader behind the read API's household detail, the console's household pages, exports and
the data-quality dashboard.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from server import reference
from server.db.tables import SYNCED_TABLES, Household
from server.queries.names import user_names
from sync_protocol.entities import ENTITIES
from sync_protocol.policy import CountyRules
from sync_protocol.wuqing import BUNDLE_FIELDS, HouseholdBundle


def as_dict(entity: str, row: Any) -> dict[str, Any]:
    """A record's wire fields plus id, version, deleted and updated_at, in JSON form.

    ``row`` is an ORM object or a row mapping."""
    get: Callable[[str], Any] = (row.get if isinstance(row, Mapping)
                                 else lambda name: getattr(row, name, None))
    out: dict[str, Any] = {"id": str(get("id")), "version": get("version"),
                           "deleted": get("deleted"), "updated_at": get("updated_at").isoformat()}
    for name in ENTITIES[entity].fields:
        value = get(name)
        if isinstance(value, dt.date | dt.datetime):
            value = value.isoformat()
        elif isinstance(value, uuid.UUID):
            value = str(value)
        out[name] = value
    return out


def load_bundles(session: Session,
                 households: Iterable[Household]) -> dict[uuid.UUID, HouseholdBundle]:
    """One query per child table for all the given households (plain rows, no ORM objects and
    no per-field sync bookkeeping: the dashboard reads thousands of them)."""
    by_id = {h.id: HouseholdBundle(household=as_dict("household", h)) for h in households}
    if not by_id:
        return {}
    ids = list(by_id)
    for entity, attr in BUNDLE_FIELDS.items():
        table = SYNCED_TABLES[entity].__table__  # type: ignore[attr-defined]
        names = {"id", "version", "deleted", "updated_at", "household_id",
                 *ENTITIES[entity].fields}
        rows = session.execute(sa.select(*[c for c in table.c if c.name in names]).where(
            table.c.household_id.in_(ids), table.c.deleted.is_(False))).mappings()
        grouped: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            grouped[row["household_id"]].append(as_dict(entity, row))
        for hid, items in grouped.items():
            getattr(by_id[hid], attr).extend(items)
    # the visitors' names: 帮扶责任清 matches a visitor to the helper by user id or name
    visitors = user_names(session, {v.get("visitor_id") for b in by_id.values() for v in b.visits})
    for b in by_id.values():
        b.user_names = {str(v["visitor_id"]): visitors[str(v["visitor_id"])] for v in b.visits
                        if v.get("visitor_id") and str(v["visitor_id"]) in visitors}
    return by_id


def county_rules(session: Session, village_code: str,
                 cache: dict[str, CountyRules] | None = None) -> CountyRules:
    """The rules of the village's county (defaults when it has none), cached per county."""
    county = village_code[:6]
    if cache is not None and county in cache:
        return cache[county]
    rules = reference.county_rules(session, county)
    if cache is not None:
        cache[county] = rules
    return rules
