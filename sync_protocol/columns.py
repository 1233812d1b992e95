"""The column form of a pull page: the same records as ``changes``, one array per field.

A client asks for it with ``form=columns`` (docs/protocol.md, "Column form"); a server that does
not know the parameter answers with ``changes`` as always, so the client reads whichever key it
gets. A page in column form carries ``columns`` instead of ``changes``, a list of blocks, one per
entity::

    {"entity": "income_item", "count": 3,
     "record_id": "<base64>",            # the ids' 16 bytes each, byte planes (below)
     "version": [1, 1, 2], "deleted": [false, false, false],
     "fields": {"household_id": [0, 0, 0], "year": [2025, 2025, 2026], ...}}

Why: a village's whole file is 68,000 records whose ids are most of what cannot be compressed.
In rows, every record repeats its field names and spells its ids in hex; in columns, similar
values sit together and compress (zstd) to about 0.6 of the rows (docs/performance.md).

* ``record_id``: the records' UUIDs as raw bytes, byte 0 of every id, then byte 1 of every id,
  ... (byte planes: the time prefix of UUIDv7 ids made near each other then repeats and
  compresses away), base64.
* A field of kind ``uuid`` (``household_id``, ``member_id``...) holds, per record, an integer
  ``i`` for "the page's i-th record id" (counting through the blocks in their order), the UUID
  as text when the page does not hold that record, or ``null``.
* Every other field holds its values exactly as the rows form would (the same JSON values).

``rows_of_columns`` turns blocks back into the rows form; ``columns_of_rows`` is the plain
encoder (tests, and any caller with records in hand); the server builds the same blocks from SQL
with ``pack_ids`` and ``reference_values``.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from typing import Any, Literal

from .entities import ENTITIES

PullForm = Literal["rows", "columns"]
FORM_ROWS: PullForm = "rows"
FORM_COLUMNS: PullForm = "columns"
_ID_BYTES = 16


@cache
def uuid_fields(entity: str) -> frozenset[str]:
    """The fields of ``entity`` whose values are UUIDs (sent as page references)."""
    spec = ENTITIES.get(entity)
    if spec is None:
        return frozenset()
    return frozenset(name for name, field in spec.stored.items() if field.kind == "uuid")


def pack_ids(raw: bytes) -> str:
    """Concatenated 16-byte ids as byte planes, base64."""
    if len(raw) % _ID_BYTES:
        raise ValueError("ids must be 16 bytes each")
    planes = b"".join(raw[i::_ID_BYTES] for i in range(_ID_BYTES))
    return base64.b64encode(planes).decode("ascii")


def pack_id_texts(ids: Sequence[str]) -> str:
    """``pack_ids`` of UUIDs in their canonical text form."""
    return pack_ids(bytes.fromhex("".join(ids).replace("-", "")))


def unpack_ids(text: str, count: int) -> list[str]:
    """The ``count`` ids of a block's ``record_id``, as canonical UUID text."""
    planes = base64.b64decode(text, validate=True)
    if len(planes) != count * _ID_BYTES:
        raise ValueError("record_id does not hold count ids")
    raw = bytearray(len(planes))
    for i in range(_ID_BYTES):
        raw[i::_ID_BYTES] = planes[i * count:(i + 1) * count]
    return [str(uuid.UUID(bytes=bytes(raw[j:j + _ID_BYTES])))
            for j in range(0, len(raw), _ID_BYTES)]


def reference_values(values: Iterable[str | None], index: Mapping[str, int]
                     ) -> list[int | str | None]:
    """A UUID field's values as page references: the record's position where the page holds
    it, else the id itself."""
    return [None if v is None else index.get(v, v) for v in values]


def _referenced(page_ids: list[str], value: Any) -> Any:
    if type(value) is int:
        if not 0 <= value < len(page_ids):
            raise ValueError("a reference outside the page")
        return page_ids[value]
    return value


def columns_of_rows(changes: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows-form ``changes`` as column blocks (one per entity, in order of first appearance;
    the records of an entity keep their order)."""
    by_entity: dict[str, list[Mapping[str, Any]]] = {}
    for change in changes:
        by_entity.setdefault(change["entity"], []).append(change)
    index: dict[str, int] = {}
    for records in by_entity.values():
        for record in records:
            index.setdefault(record["record_id"], len(index))
    blocks = []
    for entity, records in by_entity.items():
        refs = uuid_fields(entity)
        names: dict[str, None] = {}
        for record in records:
            names.update(dict.fromkeys(record["fields"]))
        fields: dict[str, list[Any]] = {}
        for name in names:
            values = [record["fields"].get(name) for record in records]
            fields[name] = reference_values(values, index) if name in refs else values
        blocks.append({"entity": entity, "count": len(records),
                       "record_id": pack_id_texts([r["record_id"] for r in records]),
                       "version": [r["version"] for r in records],
                       "deleted": [r["deleted"] for r in records], "fields": fields})
    return blocks


def in_rows(page: dict[str, Any]) -> dict[str, Any]:
    """A pull page as a client reads it: a page in column form gets its ``columns`` turned into
    ``changes`` (in place); a page in rows is returned as it is."""
    if "columns" in page:
        page["changes"] = rows_of_columns(page.pop("columns"))
    return page


def rows_of_columns(blocks: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Column blocks back in the rows form: ``{"entity", "record_id", "version", "deleted",
    "fields"}`` per record, block after block. Raises ``ValueError`` on a malformed block."""
    ids: list[list[str]] = []
    for block in blocks:
        count = block["count"]
        if not isinstance(count, int) or count < 0:
            raise ValueError("count must be a whole number")
        ids.append(unpack_ids(block["record_id"], count))
    page_ids = [rid for block_ids in ids for rid in block_ids]
    rows: list[dict[str, Any]] = []
    for block, block_ids in zip(blocks, ids, strict=True):
        count = len(block_ids)
        columns: dict[str, list[Any]] = dict(block.get("fields") or {})
        for name, values in [("version", block["version"]), ("deleted", block["deleted"]),
                             *columns.items()]:
            if not isinstance(values, list) or len(values) != count:
                raise ValueError(f"column {name} does not hold count values")
        refs = uuid_fields(block["entity"]) & columns.keys()
        for name in refs:
            columns[name] = [_referenced(page_ids, v) for v in columns[name]]
        names = list(columns)
        for i, rid in enumerate(block_ids):
            rows.append({"entity": block["entity"], "record_id": rid,
                         "version": block["version"][i], "deleted": block["deleted"][i],
                         "fields": {name: columns[name][i] for name in names}})
    return rows
