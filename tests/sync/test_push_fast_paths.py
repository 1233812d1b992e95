"""The push path's shortcuts give exactly what the general code gives.

* ``ChangeResult.to_wire`` answers a plain result (change id, status, record id, version) without
  ``model_dump``: the same dict, in the same key order (so the same JSON bytes);
  ``receipt_extra`` keeps nothing of it, as before.
* ``load`` reads the locked rows as tuples: each record's batch state is what the dict-per-row
  construction gave (the fields among the columns read, in the entity's field order, its
  household, both maps), for stale and current bases, children and households.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from server.sync.batch import Prepared, receipt_extra
from server.sync.load import _columns_read, load
from server.sync.values import FIELDS, TABLES
from sync_protocol.wire import ChangeResult, ErrorBody
from tests.conftest import VILLAGE_A1
from tests.sync.syncutil import change, id_number, new_household, push


def _general_to_wire(r: ChangeResult) -> dict[str, Any]:
    """``to_wire`` as it was before its shortcut."""
    out = r.model_dump(exclude_none=True)
    out.setdefault("record_id", None)
    out.setdefault("version", None)
    return out


def _general_extra(r: ChangeResult) -> dict[str, Any] | None:
    extra = {k: v for k, v in _general_to_wire(r).items()
             if k not in {"change_id", "status", "record_id", "version"}}
    return extra or None


def test_every_result_form_answers_as_the_general_dump() -> None:
    cid, rid = str(uuid.uuid4()), str(uuid.uuid4())
    warning = ErrorBody(code="validation.id_number_region", message="提示")
    results = [
        ChangeResult(change_id=cid, status="applied", record_id=rid, version=3),
        ChangeResult(change_id=cid, status="merged", record_id=rid, version=1),
        ChangeResult(change_id=cid, status="applied", record_id=None, version=2),
        ChangeResult(change_id=cid, status="applied", record_id=rid, version=None),
        ChangeResult(change_id=cid, status="conflict", record_id=rid, version=4,
                     conflict_id=str(uuid.uuid4())),
        ChangeResult(change_id=cid, status="conflict", record_id=rid, version=4,
                     conflict_id="a", conflict_ids=["a", "b"]),
        ChangeResult(change_id=cid, status="applied", record_id=rid, version=2,
                     warnings=[warning]),
        ChangeResult(change_id=cid, status="duplicate", record_id=rid, version=2,
                     original_status="applied"),
        ChangeResult.of_error(cid, rid, {"code": "sync.entity_unknown", "message": "未知",
                                         "field": "entity"}),
        ChangeResult.of_error(cid, None, {"code": "request.malformed", "message": "格式"}),
    ]
    for r in results:
        assert json.dumps(r.to_wire()) == json.dumps(_general_to_wire(r)), r
        assert receipt_extra(r) == _general_extra(r), r
    assert results[0].is_plain() and not results[2].is_plain() and not results[4].is_plain()


def _oracle(db: Any, entity: str, columns: list[str], rid: str) -> dict[str, Any]:
    """The row as the dict-per-row code read it."""
    with db.connect() as conn:
        row = conn.execute(sa.select(TABLES[entity]).where(TABLES[entity].c.id == rid)
                           ).mappings().one()
    values = {f: row[f] for f in FIELDS[entity] if f in columns}
    household = rid if entity == "household" else str(row["household_id"])
    return {"values": values, "village": row["village_code"], "household": household,
            "version": row["version"], "deleted": row["deleted"]}


def test_locked_states_are_the_rows_as_read_before(client, make_user, login, db) -> None:
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    h = login("cadre")
    hid, create = new_household(head_id_number=id_number(), phone="13800000001")
    mid = str(uuid.uuid4())
    member = change("member", mid, {"household_id": hid, "name": "李四", "relation": "spouse",
                                     "health": ["healthy"]})
    assert [r["status"] for r in push(client, h, [create, member])] == ["applied", "applied"]
    # a second device moves the household on: a change on base 1 then reads the whole maps
    assert push(client, h, [change("household", hid, {"address": "二组"}, base=1)]
                )[0]["status"] == "applied"
    stale = Prepared(0, "x", entity="household", record_id=hid, base_version=1,
                     fields={"phone": "13900000000"}, hlc="1-0000-d")
    current = Prepared(1, "y", entity="member", record_id=mid, base_version=1,
                       fields={"migrant_place": "郑州"}, hlc="1-0000-d")
    with Session(db) as session:
        states, ctx = load(session, [stale, current])
        session.rollback()
    assert ctx is None
    for p, entity in ((stale, "household"), (current, "member")):
        st = states[(entity, p.record_id or "")]
        want = _oracle(db, entity, _columns_read(entity, [p]), p.record_id or "")
        assert st.stored is not None and st.in_db and st.id == p.record_id
        assert st.stored.values == want["values"]
        assert list(st.stored.values) == list(want["values"])  # the entity's field order
        assert (st.village_code, st.household_id) == (want["village"], want["household"])
        assert (st.stored.version, st.stored.deleted) == (want["version"], want["deleted"])
    hh = states[("household", hid)].stored
    assert hh is not None and set(hh.field_versions) >= {"phone", "address", "head_name"}
    child = states[("member", mid)].stored
    # still at its base: no version map, only the clock of the field it changes
    assert child is not None and child.field_versions == {}
    assert set(child.field_hlcs) <= {"migrant_place"}
