"""Row <-> wire conversions shared by push, pull and conflicts."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from server.db.tables import SYNCED_TABLES
from sync_protocol.entities import ENTITIES


def table_of(model: Any) -> sa.Table:
    """The Core table of a SQLModel class (typed, for mypy)."""
    table: sa.Table = model.__table__
    return table


ENTITY_ORDER: tuple[str, ...] = tuple(ENTITIES)  # household first: it is locked first
ENTITY_INDEX = {name: i for i, name in enumerate(ENTITY_ORDER)}
TABLES: dict[str, sa.Table] = {name: table_of(SYNCED_TABLES[name]) for name in ENTITY_ORDER}
FIELDS: dict[str, tuple[str, ...]] = {name: ENTITIES[name].fields for name in ENTITY_ORDER}
# JSONB list columns are NOT NULL: a client's ``null`` there means "empty"
LIST_FIELDS: dict[str, frozenset[str]] = {
    name: frozenset(f for f in FIELDS[name] if isinstance(TABLES[name].c[f].type, JSONB))
    for name in ENTITY_ORDER
}
NOT_NULL_FIELDS: dict[str, frozenset[str]] = {
    name: frozenset(
        f for f in FIELDS[name]
        if not TABLES[name].c[f].nullable and f not in LIST_FIELDS[name]
    )
    for name in ENTITY_ORDER
}
TXID_NOW = sa.text("(pg_current_xact_id()::text)::bigint")


_PLAIN = frozenset({str, int, float, bool, type(None)})


def jsonable(value: Any) -> Any:
    """A database value as it travels on the wire (dates ISO 8601, datetimes UTC with ``Z``)."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is list and all(type(v) in _PLAIN for v in value):
        return value  # a list of plain values (health, labels): already JSON, as it is
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
            return value.replace(tzinfo=None).isoformat() + "Z"
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return str(value)
