"""The columns of a synced record's fields, built from ``sync_protocol`` (the one declaration).

``sync_protocol.stored`` says how each field of an entity is kept (``FieldSpec``: text of a
length, a code of a list, a date, a list ...); this module maps that onto SQLAlchemy types and
SQLModel fields, and ``add_record_fields`` puts them into a table class's body::

    class Household(SyncedRecord, table=True):
        add_record_fields(vars(), "household")

Only the server's own columns (id, version, tombstone, field versions, the village a child
record is scoped by, the parent key) are declared in ``tables.py``; a record field declared there
too is an error (``add_record_fields`` refuses it), so the two can never drift.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import AutoString, Field

from sync_protocol.entities import ENTITIES
from sync_protocol.stored import FieldSpec

# the Python type a row's value has, and its column type
_PLAIN: dict[str, tuple[Any, Any]] = {
    "bool": (bool, sa.Boolean),
    "int": (int, sa.Integer),
    "float": (float, sa.Float),
    "date": (dt.date, sa.Date),
    "datetime": (dt.datetime, sa.DateTime(timezone=True)),
    "uuid": (uuid.UUID, sa.Uuid),
}


def column_type(spec: FieldSpec) -> Any:
    """The SQLAlchemy type of one stored field."""
    if spec.kind in ("text", "code"):
        return AutoString(length=spec.max_length)
    if spec.kind == "fixed":
        assert spec.fixed is not None
        return sa.Numeric(spec.fixed.precision, spec.fixed.scale, asdecimal=False)
    if spec.kind == "list":
        return JSONB
    return _PLAIN[spec.kind][1]


def python_type(spec: FieldSpec) -> Any:
    """The type of the value a row holds (codes are plain strings, lists of strings)."""
    if spec.kind in ("text", "code"):
        base: Any = str
    elif spec.kind == "fixed":
        base = float
    elif spec.kind == "list":
        return list[str]
    else:
        base = _PLAIN[spec.kind][0]
    return base | None if spec.nullable else base


def field_of(spec: FieldSpec) -> Any:
    """The SQLModel field of one stored field: lists default to empty, nullable fields to None,
    the others have no default (a row needs them)."""
    kw: dict[str, Any] = {"sa_type": column_type(spec), "nullable": spec.nullable}
    if spec.kind == "list":
        return Field(default_factory=list, **kw)
    if spec.nullable:
        return Field(default=None, **kw)
    return Field(**kw)


def add_record_fields(namespace: dict[str, Any], entity: str) -> None:
    """Put ``entity``'s record fields (annotations and fields) into a table class's body, but for
    the server's own columns (``SERVER_DECLARED``); a record field the body declares itself is
    refused: it would be a second declaration."""
    annotations: dict[str, Any] = namespace.setdefault("__annotations__", {})
    for name, spec in ENTITIES[entity].stored.items():
        if name in SERVER_DECLARED:
            continue
        if name in annotations or name in namespace:
            raise TypeError(f"{entity}.{name} is declared in sync_protocol: not again in the table")
        annotations[name] = python_type(spec)
        namespace[name] = field_of(spec)


# record fields whose columns the server declares itself (tables.py): the scope column every
# table has, and the parent key with its foreign key; tests/test_record_columns.py checks they
# agree with the entity's declaration
SERVER_DECLARED = frozenset({"village_code", "household_id"})
