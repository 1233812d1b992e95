"""The read API and the console inbox list conflicts through one read layer
(``server.queries.conflicts``): the same conflict ids for the same user, whatever their scope,
and a duplicate's household outside the scope masked alike."""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlmodel import Session

from server.db.tables import Conflict
from server.queries.conflicts import get_conflict, select_conflicts
from server.scope import Principal
from tests.conftest import COUNTY, VILLAGE_A1, VILLAGE_A2
from tests.console.conftest import add_household, add_user, console_login

CONFLICT_LINK = re.compile(r'href="/console/conflicts/([0-9a-f-]{36})"')


def _more_conflicts(db, world: dict[str, Any]) -> None:
    """A conflict in the township's second village and a duplicate across two townships."""
    with Session(db) as s:
        add_user(s, "clerk_v", "township_clerk", [VILLAGE_A1], "村级专干")
        a2b = add_household(s, VILLAGE_A2, "钱三河", 12)
        s.add(Conflict(kind="field", entity="household", record_id=a2b.id,
                       household_id=a2b.id, village_code=VILLAGE_A2, field="address",
                       server_value="一组", client_value="二组",
                       server_user_id=world["cadre"].id, client_user_id=world["cadre"].id))
        a1, b1 = world["a1"], world["b1"]
        s.add(Conflict(kind="duplicate_record", entity="household", record_id=a1.id,
                       other_record_id=b1.id, household_id=a1.id, village_code=VILLAGE_A1,
                       field="head_id_number",
                       server_value={"record_id": str(b1.id), "village_code": b1.village_code,
                                     "head_id_number": b1.head_id_number},
                       client_value={"record_id": str(a1.id), "village_code": a1.village_code,
                                     "head_id_number": a1.head_id_number},
                       client_user_id=world["cadre"].id))
        s.commit()


def _api_ids(client, login, username: str) -> set[str]:
    h = login(username, "pc-" + username)
    resp = client.get("/api/v1/conflicts", headers=h, params={"status": "open"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["total"] == len(body["items"])
    return {c["id"] for c in body["items"]}


def _console_ids(client, username: str) -> set[str]:
    console_login(client, username)
    page = client.get("/console/conflicts")
    assert page.status_code == 200
    return set(CONFLICT_LINK.findall(page.text))


def test_api_and_console_list_the_same_conflicts(client, login, db, world):
    _more_conflicts(db, world)
    seen = {}
    for username in ("clerk_a", "clerk_v", "clerk_b", "admin"):
        api = _api_ids(client, login, username)
        assert api == _console_ids(client, username), username
        seen[username] = api
    # the scopes differ, and nest: a village inside its township inside the county
    assert seen["clerk_v"] < seen["clerk_a"] < seen["admin"]
    assert seen["clerk_b"] < seen["admin"] and not seen["clerk_b"] & seen["clerk_a"]
    assert str(world["conflict_a1"].id) in seen["clerk_v"]
    assert str(world["conflict_b1"].id) in seen["clerk_b"]


def test_a_cadre_scope_reads_the_same_masked_conflicts(db, world):
    """The read layer for a village cadre's scope: their village's conflicts only, and the
    duplicate's other household (another township) masked, through the listing and the single
    read alike."""
    _more_conflicts(db, world)
    cadre = world["cadre"]
    viewer = Principal(user_id=cadre.id, username="cadre_a", name="王村干", role="village_cadre",
                       scopes=(VILLAGE_A1,), device_id="tab-1", scope_version=1)
    county = Principal(user_id=uuid.uuid4(), username="x", name="x", role="county_admin",
                       scopes=(COUNTY,), device_id="console-x", scope_version=1)
    with Session(db) as s:
        listed = select_conflicts(s, viewer, limit=100)
        assert {c["village_code"] for c in listed} == {VILLAGE_A1}
        assert len(select_conflicts(s, county, limit=100)) == 4
        [dup] = [c for c in listed if c["kind"] == "duplicate_record"]
        assert dup == get_conflict(s, viewer, uuid.UUID(dup["id"]))
    other = dup["server"]["value"]
    assert other.get("elsewhere") and world["b1"].head_id_number not in str(dup)
    assert dup["other_record_id"] is None
