"""Every role sees exactly its scope on every read endpoint (demo county, real Postgres)."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from server.db.tables import Household

CADRE_VILLAGE = "411702105201"
CADRE2_VILLAGE = "411702105202"
TOWNSHIP_1 = "411702105"
TOWNSHIP_2 = "411702106"

# username → the prefix its records must start with, and how many households that is
EXPECTED = {
    "demo_cadre": CADRE_VILLAGE,
    "demo_cadre2": CADRE2_VILLAGE,
    "demo_secretary": CADRE_VILLAGE,
    "demo_clerk": TOWNSHIP_1,
    "demo_clerk2": TOWNSHIP_2,
    "demo_admin": "411702",
}


def _all_items(client, headers, **params):
    items, page = [], 1
    while True:
        resp = client.get("/api/v1/households", headers=headers,
                          params={**params, "page": page, "page_size": 200})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        items += body["items"]
        if page * body["page_size"] >= body["total"]:
            return items, body["total"]
        page += 1


def _ids_by_prefix(engine) -> dict[str, set[str]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(Household.id, Household.village_code)).all()
    out: dict[str, set[str]] = {}
    for prefix in set(EXPECTED.values()):
        out[prefix] = {str(i) for i, v in rows if v.startswith(prefix)}
    return out


@pytest.mark.parametrize("username", list(EXPECTED))
def test_list_is_exactly_the_scope(demo_client, demo_login, demo_engine, username):
    headers = demo_login(username)
    items, total = _all_items(demo_client, headers)
    expected = _ids_by_prefix(demo_engine)[EXPECTED[username]]
    assert {i["id"] for i in items} == expected
    assert total == len(expected) > 0
    assert all(i["village_code"].startswith(EXPECTED[username]) for i in items)


def test_township_clerk_sees_whole_township(demo_client, demo_login):
    items, total = _all_items(demo_client, demo_login("demo_clerk"))
    assert {i["village_code"] for i in items} == {
        "411702105201", "411702105202", "411702105203"}
    assert total == 120


def test_cadre_of_village_a_gets_nothing_of_village_b(demo_client, demo_login, demo_engine):
    headers = demo_login("demo_cadre")
    other = sorted(_ids_by_prefix(demo_engine)[CADRE2_VILLAGE])
    township_2 = sorted(_ids_by_prefix(demo_engine)[TOWNSHIP_2])
    # detail: 404 with the same body as a household that does not exist
    missing = demo_client.get(f"/api/v1/households/{uuid.uuid4()}", headers=headers)
    for hid in other[:5] + township_2[:3]:
        resp = demo_client.get(f"/api/v1/households/{hid}", headers=headers)
        assert resp.status_code == 404
        assert resp.json() == missing.json()
        assert resp.json()["error"]["code"] == "record.not_found"
    # list filters cannot reach it either
    for params in ({"village": CADRE2_VILLAGE}, {"township": TOWNSHIP_2}):
        body = demo_client.get("/api/v1/households", headers=headers, params=params).json()
        assert body["total"] == 0 and body["items"] == []
    with demo_engine.connect() as conn:
        name = conn.execute(sa.select(Household.head_name)
                            .where(Household.village_code == CADRE2_VILLAGE)).scalars().first()
    body = demo_client.get("/api/v1/households", headers=headers, params={"q": name}).json()
    assert all(i["village_code"] == CADRE_VILLAGE for i in body["items"])
    # reference data: no region, user or code of village B
    ref = demo_client.get("/api/v1/reference", headers=headers).json()
    codes = {r["code"] for r in ref["regions"]}
    assert CADRE_VILLAGE in codes
    assert not any(c.startswith(CADRE2_VILLAGE) or c.startswith(TOWNSHIP_2) for c in codes)
    staff = {s["name"] for s in ref["staff"]}
    assert "李红梅" not in staff and "陈建华" not in staff  # demo_cadre2, demo_clerk2
    assert CADRE2_VILLAGE not in ref.__repr__()


def test_cadre_detail_in_scope_is_complete(demo_client, demo_login, demo_engine):
    headers = demo_login("demo_cadre")
    hid = sorted(_ids_by_prefix(demo_engine)[CADRE_VILLAGE])[0]
    body = demo_client.get(f"/api/v1/households/{hid}", headers=headers).json()
    assert body["household"]["id"] == hid
    assert body["household"]["village_name"] == "张庄村"
    assert body["members"] and body["incomes"] and body["visits"] and body["history"]
    assert [i["code"] for i in body["checklist"]["items"]] == [
        "base_file", "measures", "secretary_knows", "helper_duty", "trajectory"]
    for item in body["checklist"]["items"]:
        assert item["hint"]["item_code"] == item["code"]
        assert item["verdict"] in ("clear", "unclear", "unchecked")
    assert all(m["household_id"] == hid for m in body["members"])
    assert all(h["entity"] for h in body["history"])


def test_reference_for_clerk_and_admin(demo_client, demo_login):
    ref = demo_client.get("/api/v1/reference", headers=demo_login("demo_clerk")).json()
    villages = {r["code"] for r in ref["regions"] if r["level"] == "village"}
    assert villages == {"411702105201", "411702105202", "411702105203"}
    assert {r["code"] for r in ref["regions"] if r["level"] == "county"} == {"411702000000"}
    assert ref["checklist_templates"][0]["code"] == "wuqing.v1"
    assert ref["county_policies"][0]["county_code"] == "411702"
    assert ref["income_lines"]
    admin = demo_client.get("/api/v1/reference", headers=demo_login("demo_admin")).json()
    assert len([r for r in admin["regions"] if r["level"] == "village"]) == 5
    assert {s["name"] for s in admin["staff"]} >= {"李红梅", "陈建华", "张卫东"}


def test_filters(demo_client, demo_login):
    headers = demo_login("demo_clerk2")
    items, total = _all_items(demo_client, headers)
    by_id = {i["id"]: i for i in items}

    incomplete, n = _all_items(demo_client, headers, wuqing_incomplete="true")
    assert {i["id"] for i in incomplete} == {i["id"] for i in items if not i["wuqing_checked"]}
    assert 0 < n < total
    for name in ("wuqing_checked", "wuqing_all_clear"):
        for wanted in (True, False):
            subset, _n = _all_items(demo_client, headers, **{name: str(wanted).lower()})
            assert {i["id"] for i in subset} == {i["id"] for i in items if i[name] is wanted}
    # 全部为清 implies 已核查; the demo has households checked with an unclear item
    assert all(i["wuqing_checked"] for i in items if i["wuqing_all_clear"])
    assert any(i["wuqing_checked"] and not i["wuqing_all_clear"] for i in items)

    not_visited, n = _all_items(demo_client, headers, not_visited_this_month="true")
    assert {i["id"] for i in not_visited} == {
        i["id"] for i in items if not i["visited_this_month"]}

    for status in ("exited", "none"):
        subset, _n = _all_items(demo_client, headers, poverty_status=status)
        assert subset and all(i["poverty_status"] == status for i in subset)
        assert {i["id"] for i in subset} == {
            i["id"] for i in items if i["poverty_status"] == status}
    marginal, _n = _all_items(demo_client, headers, monitoring_category="marginal")
    assert marginal and all(by_id[i["id"]]["monitoring_category"] == "marginal"
                            for i in marginal)

    village, _n = _all_items(demo_client, headers, village="411702106202")
    assert village and {i["village_code"] for i in village} == {"411702106202"}

    one = items[3]
    found, _n = _all_items(demo_client, headers, q=one["head_name"])
    assert one["id"] in {i["id"] for i in found}
    found, _n = _all_items(demo_client, headers, q=one["head_id_number"])
    assert [i["id"] for i in found] == [one["id"]]

    # the list's two 五清 figures agree with the detail view
    for item in incomplete[:3] + [i for i in items if i["wuqing_checked"]][:3]:
        detail = demo_client.get(f"/api/v1/households/{item['id']}", headers=headers).json()
        for name in ("wuqing_checked", "wuqing_all_clear"):
            assert detail["household"][name] == item[name]
        assert detail["checklist"]["checked"] == item["wuqing_checked"]


def test_paging_covers_everything_once(demo_client, demo_login):
    headers = demo_login("demo_clerk")
    seen: list[str] = []
    for page in range(1, 20):
        body = demo_client.get("/api/v1/households", headers=headers,
                               params={"page": page, "page_size": 7}).json()
        assert body["page"] == page and body["page_size"] == 7
        seen += [i["id"] for i in body["items"]]
        if not body["items"]:
            break
    assert len(seen) == len(set(seen)) == body["total"] == 120


def test_every_read_endpoint_needs_login(demo_client, demo_engine):
    hid = sorted(_ids_by_prefix(demo_engine)[CADRE_VILLAGE])[0]
    for path in ("/api/v1/households", f"/api/v1/households/{hid}", "/api/v1/reference"):
        resp = demo_client.get(path)
        assert resp.status_code == 401
        assert resp.json()["error"]["code"] == "auth.not_authenticated"
