"""How each field of a synced entity is stored: the one description the server's tables follow.

The field models of ``entities`` (``HouseholdFields`` ...) are the only declaration of a record's
fields: their names, types, lengths and code lists. ``field_specs`` reads one of them and says,
per field, what the database keeps (``FieldSpec``); ``server/db/columns.py`` turns that into
SQLAlchemy columns, so a field added, widened or retyped here changes the table with it (and
the Alembic check of tests/test_migrations.py then asks for the migration).

What the field models do not say is declared here, once:

- ``Width``: the column of a text the wire bounds by a pattern (a region code's 12 digits).
- ``Fixed``: a number kept exactly, to the fen (amounts: ``NUMERIC(14, 2)``), and rounded so on
  the wire too; other floats are kept as double precision.
- ``CODE_WIDTHS``: how many characters the column of each code list holds (``CODE_WIDTH`` unless
  listed); every code of the list must fit (checked when the specs are built).
- Nullability: a field is kept ``NOT NULL`` when a create must send it (``EntitySpec.required``),
  when the server always fills it (``EntitySpec.filled``: a procedure's ``stage``), and for lists,
  which are never null (a sent ``null`` means an empty list).
"""

from __future__ import annotations

import datetime as dt
import math
import types
import typing
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any, Literal

from annotated_types import MaxLen
from pydantic import BaseModel, GetCoreSchemaHandler
from pydantic_core import core_schema

from .enums import (
    DisabilityGrade,
    Gender,
    HousingGrade,
    IncomeItemKind,
    MeasureCategory,
    ProcedureSource,
    ProcedureStage,
    SchoolStage,
    StatusEventKind,
)

Kind = Literal["text", "code", "bool", "int", "float", "fixed", "date", "datetime", "uuid", "list"]


@dataclass(frozen=True)
class Width:
    """Marks a text whose length the wire checks by other means (a region code's pattern): the
    column's width."""

    length: int


@dataclass(frozen=True)
class Fixed:
    """Marks a number kept exactly with ``scale`` decimals and ``precision`` digits in all.

    In a field model it also rounds the value to ``scale`` decimals (half away from zero, as
    PostgreSQL rounds into ``NUMERIC``), so the tablet keeps the amount the server stores.
    """

    precision: int
    scale: int

    def round(self, value: float) -> float:
        if not math.isfinite(value):  # refused by the field's range, never rounded
            return value
        step = Decimal(1).scaleb(-self.scale)
        return float(Decimal(repr(value)).quantize(step, rounding=ROUND_HALF_UP))

    def __get_pydantic_core_schema__(self, source: Any,
                                     handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self.round, handler(source))


CODE_WIDTH = 20
CODE_WIDTHS: dict[type[StrEnum], int] = {
    Gender: 10,
    HousingGrade: 1,
    DisabilityGrade: 2,
    SchoolStage: 30,
    IncomeItemKind: 30,
    MeasureCategory: 30,
    StatusEventKind: 30,
    ProcedureSource: 30,
    ProcedureStage: 30,
}


@dataclass(frozen=True)
class FieldSpec:
    """What the database keeps for one field of a synced entity."""

    name: str
    kind: Kind
    nullable: bool
    max_length: int | None = None  # text: the wire's limit; code: the column's width
    codes: type[StrEnum] | None = None  # code: its list
    fixed: Fixed | None = None  # fixed: precision and scale


_SCALARS: dict[Any, Kind] = {
    bool: "bool", int: "int", float: "float", dt.datetime: "datetime", dt.date: "date",
    uuid.UUID: "uuid", str: "text",
}


def _unwrap(annotation: Any, metadata: list[Any]) -> tuple[Any, list[Any]]:
    """The base type of a field's annotation (``X | None``, ``Annotated[...]`` peeled off) and
    every metadata object found on the way."""
    meta = list(metadata)
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) != 1:
            raise TypeError(f"a union field cannot be stored: {annotation!r}")
        annotation = rest[0]
    while typing.get_origin(annotation) is typing.Annotated:
        base, *extra = typing.get_args(annotation)
        annotation = base
        for item in extra:
            meta.append(item)
            meta.extend(getattr(item, "metadata", ()))  # a pydantic ``Field(...)``
    return annotation, meta


def _max_length(name: str, meta: list[Any]) -> int:
    lengths = [m.max_length for m in meta if isinstance(m, MaxLen)]
    lengths += [m.length for m in meta if isinstance(m, Width)]
    if not lengths:
        raise TypeError(f"{name}: a text without a maximum length cannot be stored")
    return lengths[-1]


def field_spec(name: str, annotation: Any, metadata: list[Any], *, nullable: bool) -> FieldSpec:
    """The stored shape of one field of a field model (``TypeError`` for a type with none)."""
    base, meta = _unwrap(annotation, metadata)
    if typing.get_origin(base) is list:
        return FieldSpec(name, "list", False)
    if isinstance(base, type) and issubclass(base, StrEnum):
        width = CODE_WIDTHS.get(base, CODE_WIDTH)
        longest = max(len(code.value) for code in base)
        if longest > width:
            raise ValueError(f"{base.__name__}: a code of {longest} characters, column of {width}")
        return FieldSpec(name, "code", nullable, width, codes=base)
    kind = _SCALARS.get(base)
    if kind is None:
        raise TypeError(f"{name}: no stored form for {base!r}")
    if kind == "text":
        return FieldSpec(name, kind, nullable, _max_length(name, meta))
    fixed = [m for m in meta if isinstance(m, Fixed)]
    if kind == "float" and fixed:
        return FieldSpec(name, "fixed", nullable, fixed=fixed[-1])
    return FieldSpec(name, kind, nullable)


def field_specs(model: type[BaseModel], not_null: Iterable[str]) -> dict[str, FieldSpec]:
    """Every field of an entity's field model as stored, in the model's order."""
    required = set(not_null)
    return {
        name: field_spec(name, info.annotation, list(info.metadata),
                         nullable=name not in required)
        for name, info in model.model_fields.items()
    }
