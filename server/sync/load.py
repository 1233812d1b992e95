"""Push step 2: lock the rows a batch touches and read their current state (one query per
entity, through ``sql``). Rows are locked in a fixed order (household first, then the child
tables, each by id) so two concurrent batches cannot deadlock."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from server.sync import procedures, sql
from server.sync.batch import Prepared, RecState
from server.sync.values import ENTITY_ORDER, FIELDS, TABLES
from sync_protocol.duplicates import DUPLICATE_KEYS
from sync_protocol.entities import ENTITIES
from sync_protocol.merge import DELETE, Stored, replay

LOCK_COLUMNS = ("id", "village_code", "version", "deleted")
# a row only read as a new child's parent: no change of its own, so no version map needed
NO_CHANGE = 2**62
# a floor below every version: the row comes with its maps (``_floors``)
WHOLE = -1


def _columns_read(entity: str, changes: list[Prepared], judged: bool = False) -> list[str]:
    """The columns the merge of ``changes`` reads: the sync columns, the household link and
    the fields the changes set (all fields when one deletes: a delete-edit conflict keeps the
    edited values). Reading 40 columns for a change of two was most of the lock query's cost.
    Procedures are read whole, and with them (``judged``) their households' monitoring fields:
    the state machine judges them."""
    if any(p.op == DELETE for p in changes) or entity == "procedure":
        names = set(FIELDS[entity])
    else:
        names = set(ENTITIES[entity].immutable).union(*(p.fields for p in changes))
        if entity == "household" and changes:
            names |= DUPLICATE_KEYS
        if entity == "household" and judged:
            names |= procedures.HOUSEHOLD_FACT_COLUMNS
    link = () if entity == "household" else ("household_id",)
    return list(dict.fromkeys([*LOCK_COLUMNS, *link, *sorted(names)]))


def _lock_rows(session: Session, entity: str, floors: dict[str, int], columns: list[str]
               ) -> list[tuple[Any, ...]]:
    if not floors:
        return []
    return sql.select_for_update(session, TABLES[entity], floors, columns)


def _floors(changes: list[Prepared]) -> dict[str, int]:
    """Per record, the lowest base version its changes were made on; ``WHOLE`` for a delete
    (which reads every field's clock) and for a record the batch changes more than once (a
    later change must see the clocks the earlier one kept, which only the change log has). A
    record still at its floor needs no version or clock map: nobody else changed any of its
    fields since (see ``sql.select_for_update``)."""
    floors: dict[str, int] = {}
    for p in changes:
        rid: str = p.record_id  # type: ignore[assignment]
        base = WHOLE if p.op == DELETE or rid in floors else (p.base_version or 0)
        floors[rid] = min(base, floors.get(rid, NO_CHANGE))
    return floors


def _states(entity: str, columns: list[str], rows: list[tuple[Any, ...]]
            ) -> list[RecState]:
    """The batch states of locked rows (``sql.select_for_update``'s tuples: ``columns``, then
    the stored version and clock maps). Stored values are the entity's fields among the
    columns, in the entity's field order."""
    at = {name: i for i, name in enumerate(columns)}
    fields = [(f, at[f]) for f in FIELDS[entity] if f in at]
    i_id, i_village, i_version, i_deleted = (at[c] for c in LOCK_COLUMNS)
    i_household = i_id if entity == "household" else at["household_id"]
    i_versions, i_hlcs = len(columns), len(columns) + 1
    return [
        RecState(entity, row[i_id],
                 Stored({f: row[i] for f, i in fields}, row[i_version], row[i_deleted],
                        row[i_versions] or {}, row[i_hlcs] or {}),
                 row[i_village], row[i_id] if entity == "household" else str(row[i_household]),
                 in_db=True, whole=row[i_versions] is not None)
        for row in rows
    ]


def _replay_writes(session: Session, states: list[RecState]) -> None:
    """Bring the stored maps of the records read whole up to date with the change log."""
    writes = sql.select_field_writes(session, [(st.entity, st.id) for st in states])
    for st in states:
        assert st.stored is not None
        st.stored.field_versions, st.stored.field_hlcs = replay(
            st.stored.field_versions, st.stored.field_hlcs, writes[(st.entity, st.id)])


def field_maps(session: Session, entity: str, record_id: str
               ) -> tuple[dict[str, int], dict[str, str]]:
    """A record's current per-field versions and clocks (its stored maps with the change log's
    writes replayed): what a merge of a change to it would see. For tests and diagnostics."""
    table = TABLES[entity]
    row = session.execute(sa.select(table.c.field_versions, table.c.field_hlcs)
                          .where(table.c.id == uuid.UUID(record_id))).one()
    writes = sql.select_field_writes(session, [(entity, record_id)])
    return replay(row[0], row[1], writes[(entity, record_id)])


def load(session: Session, live: list[Prepared]
          ) -> tuple[dict[tuple[str, str], RecState], procedures.Context | None]:
    """The current state of every record the live changes touch (and of the households their
    new children and procedures belong to), locked; and the procedures' context (None: the
    batch changes no procedure)."""
    changes: dict[str, list[Prepared]] = {e: [] for e in ENTITY_ORDER}
    for p in live:
        changes[p.entity].append(p)
    floors = {entity: _floors(changes[entity]) for entity in ENTITY_ORDER}
    for p in live:
        parent = p.fields.get("household_id") if p.entity != "household" else None
        if isinstance(parent, uuid.UUID):
            floors["household"].setdefault(str(parent), NO_CHANGE)
    judged = procedures.lock_households(session, changes["procedure"], floors, NO_CHANGE)
    states: dict[tuple[str, str], RecState] = {}
    for entity in ENTITY_ORDER:  # fixed order: no deadlocks between concurrent batches
        columns = _columns_read(entity, changes[entity], judged is not None)
        rows = _lock_rows(session, entity, floors[entity], columns)
        for st in _states(entity, columns, rows):
            states[(entity, st.id)] = st
    _replay_writes(session, [st for st in states.values() if st.whole])
    return states, procedures.load_context(session, judged, states)
