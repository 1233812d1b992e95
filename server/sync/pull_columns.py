"""A pull page's records in column form (``sync_protocol.columns``), built by Postgres.

Each entity's chosen records come back as one row: a ``json_agg`` per field over the rows sorted
once (one aggregate pass, so every array holds the records in the same sequence). The values are
the JSON Postgres makes for ``row_to_json`` in the rows form, so both forms carry the same values;
only the ids are rewritten here (byte planes, page references).

The order inside a block is chosen for compression and means nothing else: households by id,
children by household, then by the fields in ``_SORT`` (a household's income items by year,
category and item, so the column of years, the one of categories... repeat from household to
household), then by id.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from server.sync.sql import dumps, uuid_array
from server.sync.values import ENTITY_ORDER, FIELDS, TABLES
from sync_protocol.columns import pack_id_texts, reference_values, uuid_fields

_SORT: dict[str, tuple[str, ...]] = {"income_item": ("year", "category", "item_kind", "item")}


@cache
def _block_sql(entity: str) -> Any:
    """SQL: the ids and one JSON array per column of the chosen records (NULL when none)."""
    table = TABLES[entity].name
    keys = ["t.id"] if entity == "household" else [
        "t.household_id", *(f't."{name}"' for name in _SORT.get(entity, ())), "t.id"]
    columns = ["id", "version", "deleted", *FIELDS[entity]]
    # One aggregate pass over rows sorted once: every array gets the rows in the same sequence
    # (the arrays line up whatever the order), and the order (income items by household, year,
    # category ...) makes the columns repeat. ``json_agg(... ORDER BY ...)`` per column sorted
    # once per column before PostgreSQL 16 and cost more on 16 too (a village: 15: 1.03 -> 0.66
    # s, 16: 0.77 -> 0.62 s; docs/performance.md).
    aggregates = ", ".join(f'json_agg(s."{name}")::text' for name in columns)
    selected = ", ".join(f't."{name}"' for name in columns)
    return sa.text(f'SELECT {aggregates} FROM (SELECT {selected} FROM "{table}" t'
                   f" WHERE t.id = ANY(CAST(:ids AS uuid[])) ORDER BY {', '.join(keys)}) AS s")


def column_blocks(conn: Connection, wanted: dict[str, list[str]]) -> list[str]:
    """The chosen records of each entity as one column block's JSON text, households first."""
    fetched: list[tuple[str, list[str], list[str]]] = []
    for entity in ENTITY_ORDER:
        ids = wanted.get(entity)
        if ids:
            ids_text, *texts = conn.execute(_block_sql(entity), {"ids": uuid_array(ids)}).one()
            if ids_text:
                fetched.append((entity, orjson.loads(ids_text), texts))
    index: dict[str, int] = {}
    for _, record_ids, _ in fetched:
        for rid in record_ids:
            index[rid] = len(index)
    blocks = []
    for entity, record_ids, (versions, deleted, *values) in fetched:
        refs = uuid_fields(entity)
        fields = ",".join(
            f'"{name}":' + (dumps(reference_values(orjson.loads(text), index))
                            if name in refs else text)
            for name, text in zip(FIELDS[entity], values, strict=True))
        blocks.append(f'{{"entity":"{entity}","count":{len(record_ids)},'
                      f'"record_id":"{pack_id_texts(record_ids)}","version":{versions},'
                      f'"deleted":{deleted},"fields":{{{fields}}}}}')
    return blocks
