"""The column form of a pull page (``form=columns``, ``sync_protocol.columns``): the same records
as the rows form, for every role and every kind of page, and a decoder that refuses what it
cannot read."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync_protocol.columns import (
    columns_of_rows,
    pack_id_texts,
    rows_of_columns,
    unpack_ids,
    uuid_fields,
)
from sync_protocol.wire import MAX_COLUMN_PULL_LIMIT
from tests.conftest import VILLAGE_A1
from tests.sync.syncutil import change, new_household, pull_all, push, two_cadres

# -- the format, without a server -------------------------------------------------------------

_ids = st.uuids().map(str)
_scalar = st.one_of(st.none(), st.booleans(), st.integers(-2**53, 2**53),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12))
_value = st.one_of(_scalar, st.lists(_scalar, max_size=3))


@st.composite
def _pages(draw: Any) -> list[dict[str, Any]]:
    """Rows-form records of several entities; UUID fields point into the page, out of it, or
    nowhere."""
    entities = draw(st.lists(st.sampled_from(["household", "member", "visit", "measure",
                                              "income_item", "procedure"]), min_size=1,
                             max_size=4, unique=True))
    ids = draw(st.lists(_ids, min_size=1, max_size=25, unique=True))
    outside = draw(st.lists(_ids, min_size=1, max_size=3))
    rows = []
    for rid in ids:
        entity = draw(st.sampled_from(entities))
        fields: dict[str, Any] = {name: draw(st.one_of(st.none(), st.sampled_from(ids),
                                                        st.sampled_from(outside)))
                                  for name in sorted(uuid_fields(entity))}
        fields.update(draw(st.dictionaries(st.sampled_from(["name", "note", "amount", "causes"]),
                                           _value, max_size=4)))
        rows.append({"entity": entity, "record_id": rid, "version": draw(st.integers(1, 10**6)),
                     "deleted": draw(st.booleans()), "fields": fields})
    return rows


def _normalised(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows grouped by entity as the column form groups them, every field of an entity present
    (a field a record lacks comes back as ``null``)."""
    names: dict[str, dict[str, None]] = {}
    for row in rows:
        names.setdefault(row["entity"], {}).update(dict.fromkeys(row["fields"]))
    return [{**row, "fields": {n: row["fields"].get(n) for n in names[entity]}}
            for entity in names for row in rows if row["entity"] == entity]


@settings(max_examples=200, deadline=None)
@given(_pages())
def test_rows_survive_the_column_form(rows):
    assert rows_of_columns(columns_of_rows(rows)) == _normalised(rows)


def test_ids_travel_as_byte_planes():
    ids = [str(uuid.UUID(int=(0x0199B7AF4AD1 << 80) | (0x7 << 76) | i)) for i in range(3)]
    packed = base64.b64decode(pack_id_texts(ids))
    assert packed[:3] == bytes([0x01]) * 3  # byte 0 of every id first
    assert unpack_ids(pack_id_texts(ids), 3) == ids


def test_uuid_fields_are_declared_by_the_entities():
    assert uuid_fields("household") == frozenset()
    assert {"household_id", "member_id"} <= uuid_fields("measure")
    assert {"household_id", "visitor_id", "helper_assignment_id"} <= uuid_fields("visit")
    assert uuid_fields("no_such_entity") == frozenset()


def _block(**over: Any) -> dict[str, Any]:
    rid = str(uuid.uuid4())
    block = {"entity": "member", "count": 1, "record_id": pack_id_texts([rid]), "version": [1],
             "deleted": [False], "fields": {"household_id": [0], "name": ["张三"]}}
    return {**block, **over}


@pytest.mark.parametrize("bad", [
    {"count": 2},  # the ids and columns hold one
    {"count": -1},
    {"count": "1"},
    {"record_id": "not base64!"},
    {"record_id": base64.b64encode(b"short").decode()},
    {"version": [1, 2]},
    {"deleted": "no"},
    {"fields": {"household_id": [1]}},  # a reference past the page's end
    {"fields": {"household_id": [-1]}},  # no counting from the end
    {"fields": {"name": ["a", "b"]}},
])
def test_the_decoder_refuses_a_malformed_block(bad):
    with pytest.raises((ValueError, KeyError, TypeError)):
        rows_of_columns([_block(**bad)])


# -- against the server -----------------------------------------------------------------------


def _pull_all_forms(client: Any, headers: dict[str, str], cursor: str | None = None,
                    limit: int | None = None) -> dict[str, Any]:
    """Everything after ``cursor`` in rows and in columns: {form: (records by id, conflicts)}."""
    out = {}
    for form in ("rows", "columns"):
        records, conflicts, _ = pull_all(client, headers, cursor, limit=limit, form=form)
        by_id = {r["record_id"]: r for r in records}
        assert len(by_id) == len(records)
        out[form] = (by_id, conflicts)
    return out


@pytest.mark.parametrize("username", ["demo_cadre", "demo_secretary", "demo_village_secretary",
                                      "demo_clerk", "demo_clerk2", "demo_admin"])
def test_each_role_gets_the_same_records_in_both_forms(demo_client, demo_login, username):
    headers = demo_login(username, device_id=f"tab-{username}")
    forms = _pull_all_forms(demo_client, headers)
    rows, columns = forms["rows"], forms["columns"]
    assert rows[0] and rows == columns
    # small pages too: references to records of other pages come as ids
    small = _pull_all_forms(demo_client, headers, limit=7)
    assert small["columns"] == rows


def test_incremental_pages_in_columns(client, make_user, login):
    """Edits, a delete, a conflict and a new child of a household the page does not hold."""
    h1, h2 = two_cadres(make_user, login)
    keep, c1 = new_household(phone="13800000000")
    gone, c2 = new_household()
    member = str(uuid.uuid4())
    push(client, h1, [c1, c2, change("member", member, {"household_id": keep, "name": "王五"},
                                      device="tab-1")], "tab-1")
    _, _, cursor = pull_all(client, h2, form="columns")
    income = str(uuid.uuid4())
    results = push(client, h1, [
        change("income_item", income, {"household_id": keep, "year": 2026, "category": "wage",
                                        "item": "务工收入", "amount": 12000.5}, device="tab-1"),
        change("household", gone, op="delete", base=1, device="tab-1"),
        change("member", member, {"name": "王五五"}, base=1, device="tab-1")], "tab-1")
    assert [r["status"] for r in results] == ["applied"] * 3
    [res] = push(client, h2, [change("member", member, {"name": "王六"}, base=1,
                                     device="tab-2")], "tab-2")
    assert res["status"] == "conflict"
    forms = _pull_all_forms(client, h2, cursor)
    assert forms["rows"] == forms["columns"]
    records, conflicts = forms["columns"]
    assert records[gone]["deleted"] is True
    # the household is not in the page: its children carry its id
    assert keep not in records
    assert records[member]["fields"]["household_id"] == keep
    assert records[income]["fields"]["household_id"] == keep
    assert records[income]["fields"]["amount"] == 12000.5
    assert [c["id"] for c in conflicts] == [res["conflict_id"]]


def test_a_cadre_sees_only_their_village_in_columns(client, make_user, login):
    make_user("cadre_a", "village_cadre", [VILLAGE_A1])
    make_user("cadre_b", "village_cadre", ["411702105202"])
    ha, hb = login("cadre_a", "tab-a"), login("cadre_b", "tab-b")
    mine, c = new_household(VILLAGE_A1, phone="13800000001")
    push(client, ha, [c], "tab-a")
    theirs, _, _ = pull_all(client, hb, form="columns")
    assert mine not in {r["record_id"] for r in theirs}
    ours, _, _ = pull_all(client, ha, form="columns")
    assert mine in {r["record_id"] for r in ours}


def test_an_unknown_form_is_a_clear_error(client, make_user, login):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    resp = client.get("/api/v1/sync/pull", headers=login("cadre"), params={"form": "xml"})
    assert resp.status_code in (400, 422)
    error = resp.json()["error"]
    assert error["code"] and any("\u4e00" <= ch <= "\u9fff" for ch in error["message"])


def test_column_pages_are_capped(demo_client, demo_login):
    headers = demo_login("demo_clerk", device_id="tab-cap")
    resp = demo_client.get("/api/v1/sync/pull", headers=headers,
                           params={"form": "columns", "limit": 10**9})
    assert resp.status_code == 200
    records = rows_of_columns(resp.json()["columns"])
    # a page closes after the household that reaches the limit
    assert 0 < len(records) < MAX_COLUMN_PULL_LIMIT + 500


def test_a_block_keeps_its_records_in_the_order_that_compresses(demo_client, demo_login):
    """Households by id; children by household, income items then by year (then category and
    item, whose text order is the database's collation, and id: not checked here), so the
    column of years, of categories ... repeats (docs/protocol.md)."""
    headers = demo_login("demo_cadre", device_id="tab-order")
    resp = demo_client.get("/api/v1/sync/pull", headers=headers,
                           params={"form": "columns", "limit": MAX_COLUMN_PULL_LIMIT})
    assert resp.status_code == 200
    rows = rows_of_columns(resp.json()["columns"])  # in block order, references resolved
    entities = list(dict.fromkeys(r["entity"] for r in rows))
    assert {"household", "member", "income_item"} <= set(entities)
    for entity in entities:
        keys = [(uuid.UUID(r["record_id"]),) if entity == "household" else
                (uuid.UUID(r["fields"]["household_id"]),
                 *((r["fields"]["year"],) if entity == "income_item" else ()))
                for r in rows if r["entity"] == entity]
        assert keys == sorted(keys), entity


def test_the_tablet_reads_pages_in_either_form(demo_client, demo_login):
    """The tablet asks for columns; a server that does not know the form answers in rows, and
    the tablet reads that page all the same."""
    from kivy_client.sync import SyncError, _pull_page

    headers = demo_login("demo_cadre", device_id="tab-forms")
    pages = {}
    for form in ("rows", "columns"):
        resp = demo_client.get("/api/v1/sync/pull", headers=headers,
                               params={"form": form, "limit": 50})
        page = _pull_page(httpx.Response(200, content=resp.content,
                                         headers={"content-type": "application/json"}))
        pages[form] = {c.record_id: c for c in page.changes}
    assert pages["rows"] and pages["rows"] == pages["columns"]
    broken = httpx.Response(200, json={"columns": [_block(count=5)], "next_cursor": "",
                                       "has_more": False})
    with pytest.raises(SyncError) as err:
        _pull_page(broken)
    assert "无法识别" in err.value.message
