"""Duplicate detection must not show another township's personal data (issue 11, "Leaks").

A cadre of township A creates a household whose 户编号 or 户主身份证号 matches a household of
township B. The duplicate is detected, but the device and township A's clerk learn only that it
exists elsewhere, in 蚁蜂镇, with masked identifiers; the county admin sees both in full; township
B's clerk sees nothing of A's household. Run against a live server on real Postgres.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from sync_protocol.validation import build_id_number, mask_id_number
from tests.conftest import VILLAGE_A1, VILLAGE_B1
from tests.security.live_world import (
    absent,
    api_login,
    browser_login,
    dumps,
    pull_everything,
    push,
    seed,
)
from tests.sync.syncutil import change

B_HOUSEHOLD = {
    "village_code": VILLAGE_B1, "head_name": "钱多多",
    "head_id_number": build_id_number("411702", dt.date(1961, 3, 17), 427),
    "household_number": VILLAGE_B1 + "0001", "phone": "13912345678",
    "address": "蚁蜂镇王岗村三组十八号", "group_name": "王岗三组",
}
B_TOWNSHIP_NAME = "蚁蜂镇"
# a member of B's household with health data (personal data: household file v2)
B_MEMBER = {"name": "钱小梅", "relation": "daughter", "health": ["serious_illness", "disabled"],
            "disease": "系统性红斑狼疮", "disability_category": "mental",
            "disability_grade": "2", "disability_cert": "41170219900101002X62"}


def secrets_of_b(record_id: str, known: str | None = None) -> dict[str, str]:
    """B's personal data and identifiers, less ``known``: the key the cadre typed themselves
    (a household number also holds B's village code)."""
    out = {"id_number": B_HOUSEHOLD["head_id_number"], "phone": B_HOUSEHOLD["phone"],
           "address": B_HOUSEHOLD["address"], "head_name": B_HOUSEHOLD["head_name"],
           "group": B_HOUSEHOLD["group_name"], "record_id": record_id,
           "household_number": B_HOUSEHOLD["household_number"], "village_code": VILLAGE_B1,
           "member": B_MEMBER["name"], "disease": B_MEMBER["disease"],
           "disability_cert": B_MEMBER["disability_cert"]}
    if known == "head_id_number":
        del out["id_number"]
    elif known == "household_number":
        del out["household_number"], out["village_code"]
    return out


@pytest.fixture
def url(live_url, db) -> str:
    seed(db)
    return live_url


@pytest.fixture(params=["household_number", "head_id_number"])
def world(request, url) -> dict[str, Any]:
    """Township B's household, then a duplicate of it created by a cadre of township A, matched
    by household number or by head ID number (``key``)."""
    key = request.param
    cadre_b = api_login(url, "cadre_b", "tab-b")
    b_id = str(uuid.uuid4())
    results = push(cadre_b, "tab-b", [
        change("household", b_id, B_HOUSEHOLD, device="tab-b"),
        change("member", uuid.uuid4(), {"household_id": b_id, **B_MEMBER}, device="tab-b"),
    ]).json()["results"]
    assert [r["status"] for r in results] == ["applied", "applied"]
    cadre_a = api_login(url, "cadre_a", "tab-a")
    a_id = str(uuid.uuid4())
    mine = {"village_code": VILLAGE_A1, "head_name": "周大福", "phone": "13700000002",
            "head_id_number": build_id_number("411702", dt.date(1975, 5, 5), 11),
            "household_number": VILLAGE_A1 + "0007", key: B_HOUSEHOLD[key]}
    resp = push(cadre_a, "tab-a", [change("household", a_id, mine, device="tab-a")])
    return {"url": url, "key": key, "b_id": b_id, "a_id": a_id, "push": resp,
            "cadre_a": cadre_a, "secrets": secrets_of_b(b_id, key)}


def _assert_masked(conflict: dict[str, Any]) -> None:
    other = conflict["server"]["value"]
    assert other["elsewhere"] is True
    assert other["township_name"] == B_TOWNSHIP_NAME and other["township_code"] == VILLAGE_B1[:9]
    assert other["head_id_number"] == mask_id_number(B_HOUSEHOLD["head_id_number"])
    assert other["head_id_number"].startswith("4117") and "*" in other["head_id_number"]
    assert other["household_number"] == mask_id_number(B_HOUSEHOLD["household_number"])
    assert set(other) == {"elsewhere", "township_code", "township_name", "head_id_number",
                          "household_number", "description"}
    assert B_TOWNSHIP_NAME in other["description"]
    assert conflict["other_record_id"] is None
    mine = conflict["client"]["value"]  # the cadre's own household: in full
    assert mine["record_id"] == conflict["record_id"] and mine["village_code"] == VILLAGE_A1


def _the_duplicate(conflicts: list[dict[str, Any]], world: dict[str, Any]) -> dict[str, Any]:
    dupes = [c for c in conflicts if c["kind"] == "duplicate_record"]
    assert [c["record_id"] for c in dupes] == [world["a_id"]]
    assert dupes[0]["field"] == world["key"]
    return dupes[0]


def _conflict_id(world: dict[str, Any]) -> str:
    [result] = world["push"].json()["results"]
    return str(result["conflict_id"])


def test_push_result_names_no_one(world):
    [result] = world["push"].json()["results"]
    assert result["status"] == "conflict" and result["conflict_id"]
    absent(world["push"].text, secrets_of_b(world["b_id"]))


def test_pull_carries_only_the_masked_view(world):
    pages = pull_everything(world["cadre_a"])
    absent(dumps(pages), world["secrets"])
    records = {c["record_id"] for page in pages for c in page["changes"]}
    assert records == {world["a_id"]}  # never the other township's household
    _assert_masked(_the_duplicate([c for page in pages for c in page["conflicts"]], world))


def test_clerk_of_a_sees_the_other_household_masked(world):
    clerk = api_login(world["url"], "clerk_a", "pc-clerk-a")
    listing = clerk.get("/api/v1/conflicts", params={"kind": "duplicate_record"})
    assert listing.status_code == 200
    absent(listing.text, world["secrets"])
    conflict = _the_duplicate(listing.json()["items"], world)
    _assert_masked(conflict)
    one = clerk.get(f"/api/v1/conflicts/{conflict['id']}")
    assert one.status_code == 200
    absent(one.text, world["secrets"])
    _assert_masked(one.json())


def test_clerk_of_b_sees_nothing_of_a(world):
    clerk = api_login(world["url"], "clerk_b", "pc-clerk-b")
    listing = clerk.get("/api/v1/conflicts", params={"status": "all"})
    assert listing.status_code == 200 and listing.json()["items"] == []
    one = clerk.get(f"/api/v1/conflicts/{_conflict_id(world)}")
    assert one.status_code == 404 and one.json()["error"]["code"] == "conflict.not_found"
    browser, _ = browser_login(world["url"], "clerk_b")
    page = browser.get(f"/console/conflicts/{_conflict_id(world)}")
    assert page.status_code == 404
    inbox = browser.get("/console/conflicts")
    for text in (listing.text, one.text, page.text, inbox.text):
        absent(text, {"a_head": "周大福", "a_phone": "13700000002", "a_id": world["a_id"]})


def test_county_admin_sees_both_in_full(world):
    admin = api_login(world["url"], "admin", "pc-admin")
    conflict = _the_duplicate(admin.get("/api/v1/conflicts").json()["items"], world)
    other = conflict["server"]["value"]
    assert "elsewhere" not in other
    assert other["record_id"] == world["b_id"] and other["village_code"] == VILLAGE_B1
    assert other["head_id_number"] == B_HOUSEHOLD["head_id_number"]
    assert other["household_number"] == B_HOUSEHOLD["household_number"]
    assert conflict["other_record_id"] == world["b_id"]
    browser, _ = browser_login(world["url"], "admin")
    page = browser.get(f"/console/conflicts/{conflict['id']}").text
    assert B_HOUSEHOLD["head_id_number"] in page and B_HOUSEHOLD["phone"] in page
    assert B_HOUSEHOLD["address"] in page and f"merge:{world['b_id']}" in page


def test_console_pages_of_clerk_a_hold_no_pii_of_b(world):
    browser, _ = browser_login(world["url"], "clerk_a")
    cid = _conflict_id(world)
    pages = [browser.get("/console/conflicts"),
             browser.get("/console/conflicts", params={"kind": "duplicate_record"}),
             browser.get(f"/console/households/{world['a_id']}"),
             browser.get(f"/console/conflicts/{cid}")]
    for page in pages:
        assert page.status_code == 200, page.text
        absent(page.text, world["secrets"])
    detail = pages[-1].text
    assert B_TOWNSHIP_NAME in detail
    assert mask_id_number(B_HOUSEHOLD[world["key"]]) in detail
    assert "merge:" not in detail  # no merge with a household the clerk cannot see
    assert "联系县级管理员" in detail
    assert browser.get(f"/console/households/{world['b_id']}").status_code == 404


def test_clerk_of_a_cannot_merge_a_household_out_of_scope(world, db):
    clerk = api_login(world["url"], "clerk_a", "pc-clerk-a")
    cid = _conflict_id(world)
    for survivor in (world["a_id"], world["b_id"]):
        resp = clerk.post(f"/api/v1/conflicts/{cid}/resolve",
                          json={"resolution": "merge", "survivor_id": survivor})
        assert resp.status_code == 403, resp.text
        assert resp.json()["error"]["code"] == "conflict.merge_out_of_scope"
        absent(resp.text, secrets_of_b(world["b_id"]))
    browser, token = browser_login(world["url"], "clerk_a")  # the console form, too
    for survivor in (world["a_id"], world["b_id"]):
        resp = browser.post(f"/console/conflicts/{cid}/resolve",
                            data={"csrf_token": token, "resolution": f"merge:{survivor}"})
        assert resp.status_code == 400 and "联系县级管理员" in resp.text
        absent(resp.text, world["secrets"])
    with db.connect() as conn:
        alive = conn.execute(sa.text("select count(*) from household where not deleted")).scalar()
        status = conn.execute(sa.text("select status from conflict where id = :i"),
                              {"i": cid}).scalar()
    assert alive == 2 and status == "open"
    # marking them distinct needs no sight of the other household
    resp = clerk.post(f"/api/v1/conflicts/{cid}/resolve", json={"resolution": "distinct"})
    assert resp.status_code == 200, resp.text
    absent(resp.text, world["secrets"])
    _assert_masked(resp.json())


def test_county_admin_merge_tells_the_cadre_no_more(world):
    cursor = pull_everything(world["cadre_a"])[-1]["next_cursor"]
    admin = api_login(world["url"], "admin", "pc-admin")
    resp = admin.post(f"/api/v1/conflicts/{_conflict_id(world)}/resolve",
                      json={"resolution": "merge", "survivor_id": world["b_id"]})
    assert resp.status_code == 200, resp.text
    pages = pull_everything(world["cadre_a"], cursor)
    absent(dumps(pages), world["secrets"])
    conflict = _the_duplicate([c for page in pages for c in page["conflicts"]], world)
    assert conflict["status"] == "resolved" and conflict["resolution"] == "merge"
    assert conflict["resolved_value"] == {"survivor_id": None, "merged_id": world["a_id"]}


def test_masked_view_is_the_shared_rule():
    from sync_protocol.validation import household_seen_from

    side = {"record_id": "x", "village_code": VILLAGE_B1, **{
        k: B_HOUSEHOLD[k] for k in ("head_id_number", "household_number")}}
    assert household_seen_from(side, (VILLAGE_B1[:9],)) == side
    assert household_seen_from(side, ("411702",)) == side
    seen = household_seen_from(side, (VILLAGE_A1,), "蚁蜂镇")
    assert seen["head_id_number"] == B_HOUSEHOLD["head_id_number"][:4] + "*" * 10 \
        + B_HOUSEHOLD["head_id_number"][-4:]
    assert "record_id" not in seen and "village_code" not in seen
    assert household_seen_from(None, (VILLAGE_A1,))["elsewhere"] is True
