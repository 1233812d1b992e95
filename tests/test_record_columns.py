"""A synced record's fields are declared once, in sync_protocol; the tables follow them.

``sync_protocol.stored`` says how each entity field is kept, ``server/db/columns.py`` builds the
columns from it. These tests pin that: every table holds exactly its entity's fields plus the
server's own columns, each column agrees with its field (type, length, nullability), and the
ways to drift (a field declared again in a table, a code longer than its column, a text with no
limit, a type with no column) are refused. tests/test_migrations.py compares the result with the
migrated database.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import pytest
import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlalchemy.dialects.postgresql import JSONB

from server.db.columns import SERVER_DECLARED, add_record_fields, column_type
from server.db.tables import SYNCED_TABLES, Household, Member
from sync_protocol.entities import ENTITIES, validate_fields
from sync_protocol.stored import CODE_WIDTH, CODE_WIDTHS, Fixed, field_specs

# the columns only the server keeps, on every synced table (and the parent key on children):
# the merge engine's versions and clocks, the tombstone, who and when, the village a record is
# scoped by; none of them travels as a field
SERVER_ONLY = {"id", "village_code", "version", "deleted", "field_versions", "field_hlcs",
               "created_at", "updated_at", "created_by", "updated_by", "updated_device"}


def _table(entity: str) -> sa.Table:
    table: sa.Table = SYNCED_TABLES[entity].__table__  # type: ignore[attr-defined]
    return table


@pytest.mark.parametrize("entity", list(ENTITIES))
def test_each_table_holds_its_entitys_fields_and_the_server_columns(entity):
    columns = set(_table(entity).c.keys())
    fields = set(ENTITIES[entity].fields)
    parent = set() if entity == "household" else {"household_id"}
    assert columns - fields == SERVER_ONLY - fields
    assert fields <= columns
    assert fields & SERVER_ONLY <= {"village_code"}  # a household's village is both
    assert parent <= fields


@pytest.mark.parametrize("entity", list(ENTITIES))
def test_each_column_agrees_with_its_field(entity):
    table = _table(entity)
    for name, spec in ENTITIES[entity].stored.items():
        column = table.c[name]
        assert column.nullable == spec.nullable, (entity, name)
        expected = column_type(spec)
        expected = expected() if isinstance(expected, type) else expected
        assert type(column.type) is type(expected), (entity, name, column.type)
        if spec.kind in ("text", "code"):
            assert column.type.length == spec.max_length, (entity, name)  # type: ignore[attr-defined]
        if spec.kind == "fixed":
            assert (column.type.precision, column.type.scale) == (  # type: ignore[attr-defined]
                spec.fixed.precision, spec.fixed.scale), (entity, name)  # type: ignore[union-attr]


def test_lists_are_never_null_and_required_fields_are_not_null():
    household = ENTITIES["household"].stored
    assert household["causes"].kind == "list" and not household["causes"].nullable
    assert isinstance(_table("household").c.causes.type, JSONB)
    assert not household["head_name"].nullable and household["head_name"].max_length == 100
    assert household["group_name"].nullable
    # a procedure's stage: not sent on a create (the server starts it at 已提出), never null
    procedure = ENTITIES["procedure"]
    assert "stage" not in procedure.required and not procedure.stored["stage"].nullable
    assert str(_table("income_item").c.amount.type) == "NUMERIC(14, 2)"
    assert str(_table("household").c.village_code.type) == "VARCHAR(12)"


def test_every_code_fits_its_column():
    for entity in ENTITIES.values():
        for spec in entity.stored.values():
            if spec.kind == "code":
                assert spec.codes is not None and spec.max_length is not None
                assert spec.max_length == CODE_WIDTHS.get(spec.codes, CODE_WIDTH)
                assert max(len(c.value) for c in spec.codes) <= spec.max_length


def test_server_declared_columns_are_the_scope_and_the_parent_key():
    assert SERVER_DECLARED == {"village_code", "household_id"}
    for entity in ENTITIES:
        table = _table(entity)
        for name in SERVER_DECLARED & set(ENTITIES[entity].fields):
            assert table.c[name].nullable == ENTITIES[entity].stored[name].nullable
        if entity != "household":
            assert [fk.target_fullname for fk in table.c.household_id.foreign_keys] == [
                "household.id"]


def test_rows_and_queries_use_the_derived_fields():
    assert isinstance(Household.head_name, sa.orm.InstrumentedAttribute)
    assert str(sa.select(Household.head_name).where(Member.name == "x").compile()).count(
        "household.head_name") == 1
    row = Household(id=None, village_code="411702105201", head_name="张三")
    assert row.head_name == "张三" and row.causes == [] and row.phone is None


def test_a_field_declared_again_in_a_table_is_refused():
    namespace: dict[str, Any] = {"__annotations__": {"head_name": str}}
    with pytest.raises(TypeError, match="household.head_name"):
        add_record_fields(namespace, "household")


class _Colour(StrEnum):
    red = "red"
    a_very_long_colour_name_indeed = "a_very_long_colour_name_indeed"


class _Fields(BaseModel):
    colour: _Colour | None = None
    note: str | None = None
    extra: dict[str, Any] | None = None
    short: Annotated[str, Field(max_length=5)] | None = None


def _model(field: str) -> type[BaseModel]:
    """A field model with one of ``_Fields``' fields."""
    annotation = _Fields.model_fields[field].annotation
    return type(f"One_{field}", (BaseModel,), {"__annotations__": {field: annotation},
                                               field: None})


@pytest.mark.parametrize("field, error", [
    ("colour", ValueError),  # a code longer than the column of its list
    ("note", TypeError),  # a text with no maximum length
    ("extra", TypeError),  # a type with no column
])
def test_what_cannot_be_stored_is_refused(field, error):
    with pytest.raises(error):
        field_specs(_model(field), ())


def test_a_text_keeps_the_wires_limit():
    spec = field_specs(_model("short"), ())["short"]
    assert (spec.kind, spec.max_length, spec.nullable) == ("text", 5, True)
    assert not field_specs(_model("short"), ("short",))["short"].nullable


def test_an_amount_is_rounded_to_the_fen_on_the_wire_as_the_column_keeps_it():
    household = "6f1d2c1e-8d7a-4d8e-9c2b-1a2b3c4d5e6f"
    for sent, kept in ((1.005, 1.01), (2.675, 2.68), (-1.005, -1.01), (12.3, 12.3), (7, 7.0)):
        result = validate_fields("income_item", {"household_id": household, "year": 2024,
                                                 "category": "wage", "amount": sent},
                                 creating=True)
        assert result.ok and result.fields["amount"] == kept, sent
    assert ENTITIES["measure"].stored["planned_amount"].fixed == Fixed(14, 2)
