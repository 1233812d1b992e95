"""One household, every face: the tablet (store and screen presenters), the read API and the clerk
console give the same 五清 hints, labels, monitored status, visit interval and net income.

The household is entered on a tablet, synced to the real server (in-process, real Postgres) and
read back through each face, so the faces compute from the same records with their own code
paths — which all end in ``sync_protocol``.
"""

from __future__ import annotations

import datetime as dt
import html
import re

import sqlalchemy as sa
from sqlmodel import Session

from kivy_client.ui.presenters import Presenters, income_summary_lines
from server.db.tables import ChecklistTemplate, CountyPolicy, IncomeLine
from sync_protocol import display, income, policy
from sync_protocol.templates import WUQING_V1
from sync_protocol.validation import build_id_number
from tests.client.conftest import make_device  # noqa: F401  (the tablet fixture)
from tests.conftest import COUNTY, TOWNSHIP_A, VILLAGE_A1, add_village_a1_regions
from tests.console.conftest import console_login

MONITORED_INTERVAL, INTERVAL = 15, 60
COUNTY_TITLE = "“一户一档”底子清（本县口径）"


def _world(db, make_user) -> None:
    make_user("cadre", "village_cadre", [VILLAGE_A1], name="王村干")
    make_user("clerk", "township_clerk", [TOWNSHIP_A], name="赵专干")
    with Session(db) as s:
        add_village_a1_regions(s)
        year = policy.china_today().year
        # the province's monitoring line of last year; this year the county set its own
        s.add(IncomeLine(province=COUNTY[:2], year=year - 1, amount=6000,
                         monitoring_amount=7000))
        s.add(IncomeLine(province=COUNTY[:2], year=year, amount=6500))
        s.add(CountyPolicy(county_code=COUNTY, visit_interval_days=INTERVAL,
                           monitored_visit_interval_days=MONITORED_INTERVAL,
                           monitoring_lines={str(year): 9000}))
        edited = WUQING_V1.to_dict()  # the county renamed an item of its template
        edited["items"][0]["title"] = COUNTY_TITLE
        s.add(ChecklistTemplate(code=edited["code"], name=edited["name"], items=edited["items"]))
        s.commit()


def _enter_household(store) -> str:
    """A monitored household with gaps every hint item reports on."""
    today = policy.china_today()
    head_id = build_id_number(COUNTY, dt.date(1968, 4, 2), 31)
    hid = store.create_household({
        "village_code": VILLAGE_A1, "head_name": "周长顺", "head_id_number": head_id,
        "household_number": "4117021052010031", "address": "黄庄村一组", "phone": "13800000031",
        "poverty_status": "exited", "household_type": "exited",
        "causes": ["illness", "schooling"], "housing_grade": "C", "identified_year": today.year - 2,
        "food_secure": True, "clothing_secure": True, "education_secure": True,
        "medical_secure": True, "housing_secure": False, "water_secure": True})
    store.add_member(hid, {"name": "周长顺", "relation": "head", "gender": "male",
                           "id_number": head_id, "health": "serious_illness"})
    store.add_member(hid, {"name": "周小花", "relation": "daughter", "gender": "female",
                           "id_number": build_id_number(COUNTY, dt.date(2012, 9, 1), 32),
                           "schooling": "junior"})
    for year, category, amount in ((today.year, "wage", 18000), (today.year, "business", 6000),
                                   (today.year, "business_cost", 2500),
                                   (today.year - 1, "transfer", 3000)):
        store.add_income(hid, {"year": year, "category": category, "item": "收入",
                               "amount": amount})
    store.add_measure(hid, {"category": "health", "item": "大病救助", "status": "in_progress"})
    store.add_helper(hid, {"helper_name": "刘干部", "helper_phone": "13900000031",
                           "start_date": f"{today.year - 1}-01-01"})  # no unit
    # visited 20 days ago: overdue for a monitored household (15), not for others (60)
    visited = dt.datetime.now(dt.UTC) - dt.timedelta(days=20)
    store.record_visit(hid, {"visited_at": visited.isoformat(timespec="seconds"),
                             "purpose": "入户核实", "notes": "核实务工收入",
                             "co_visitor": "刘干部"})
    store.add_status_event(hid, {"kind": "identified", "date": f"{today.year - 2}-03-01"})
    return hid


def test_tablet_read_api_and_console_agree(client, db, make_user, make_device, login):  # noqa: F811
    _world(db, make_user)
    tablet = make_device("cadre", "tab-faces")
    hid = _enter_household(tablet.store)
    tablet.sync()
    assert tablet.store.pending_count() == 0
    # the monitoring fields are derived (an approved procedure or a county admin's import sets
    # them, never a tablet): here the server marks the household monitored like an import
    with db.begin() as conn:
        conn.execute(sa.text(
            "UPDATE household SET monitoring_category = 'unstable', "
            "monitoring_status = 'monitored', version = version + 1 WHERE id = :h"), {"h": hid})
        conn.execute(sa.text(  # what every write leaves: the change log feeds the pull
            "INSERT INTO change_log (entity, record_id, household_id, village_code, op, version, "
            "source, changes, at) SELECT 'household', id, id, village_code, 'update', version, "
            "'import', '{}', now() FROM household WHERE id = :h"), {"h": hid})
    tablet.sync()  # the reference data (county policy) arrives with the download

    # --- the tablet ---------------------------------------------------------------------------
    presenters = Presenters(tablet.store)
    view = presenters.household.view(hid)
    tablet_hints = {code: (h.ok, h.messages)
                    for code, h in tablet.store.household_hints(hid).items()}
    screen = {row["item_code"]: row for row in presenters.wuqing.view(hid)}
    tablet_interval = presenters.household.visit_interval_days(view["household"])
    tablet_income = income_summary_lines(view["incomes"], len(view["members"]))

    # --- the read API --------------------------------------------------------------------------
    resp = client.get(f"/api/v1/households/{hid}", headers=login("clerk", "console-api"))
    assert resp.status_code == 200, resp.text
    api = resp.json()
    api_hints = {item["code"]: (item["hint"]["ok"], item["hint"]["messages"])
                 for item in api["checklist"]["items"]}

    # --- the console ----------------------------------------------------------------------------
    console_login(client, "clerk")
    page = client.get(f"/console/households/{hid}")
    assert page.status_code == 200, page.text
    console_html = html.unescape(page.text)
    quality = html.unescape(client.get("/console/quality").text)

    # is-monitored and the visit interval it selects
    household = api["household"]
    assert policy.is_monitored(household) and policy.is_monitored(view["household"])
    assert tablet_interval == api["checklist"]["visit_interval_days"] == MONITORED_INTERVAL
    assert f"要求每 {MONITORED_INTERVAL} 天至少走访一次" in quality

    # the 五清 hints: the same items, verdicts and messages on every face
    assert tablet_hints == api_hints
    assert api_hints["helper_duty"][0] is False
    assert any(f"已超过{MONITORED_INTERVAL}天未走访" in m for m in api_hints["helper_duty"][1])
    assert api_hints["secretary_knows"][0] is None
    assert list(screen) == list(api_hints)  # the county's template, in its order
    for code, (ok, messages) in api_hints.items():
        if ok is False:
            assert screen[code]["hint_text"] == "系统提示：" + "；".join(messages)
            assert "；".join(messages) in console_html
        elif ok:
            assert screen[code]["hint_state"] == "ok"

    # the county's template: its items, order and titles on every face
    assert [(i["code"], i["title"]) for i in api["checklist"]["items"]] == \
        [(code, row["title"]) for code, row in screen.items()]
    assert screen["base_file"]["title"] == COUNTY_TITLE and COUNTY_TITLE in console_html

    # labels
    for field, value in (("poverty_status", "exited"), ("monitoring_category", "unstable")):
        label = display.value_label("household", field, value)
        assert household[f"{field}_label"] == label
        assert label in console_html
    cause_labels = [display.value_label("household", "causes", [c]) for c in ("illness",
                                                                               "schooling")]
    assert household["cause_labels"] == cause_labels
    assert display.value_label("household", "causes", ["illness", "schooling"]) in console_html

    # net income per year and per head
    nets = income.net_income_by_year(api["incomes"])
    year = policy.china_today().year
    assert nets == {year: 21500.0, year - 1: 3000.0}
    assert nets == income.net_income_by_year(view["incomes"])
    assert tablet_income == [
        f"{year}年 家庭纯收入 21,500 元，人均 10,750 元（2人）",
        f"{year - 1}年 家庭纯收入 3,000 元，人均 1,500 元（2人）"]
    # the monitoring line of each year: the county's rules on the tablet and the server
    tablet_lines = presenters.household.income_lines(view["household"]["village_code"])
    api_lines = {r["year"]: r["line"] for r in api["income_by_year"]}
    assert tablet_lines == {year - 1: 7000.0, year: 9000.0}
    today = policy.china_today()  # the current year's line is pro-rated on both faces
    assert {y: api_lines[y] for y in (year - 1, year)} == {
        y: income.line_for(y, tablet_lines, today)[0] for y in (year - 1, year)}
    row = re.search(rf"<td>{year}</td>(.*?)</tr>", console_html, flags=re.S)
    assert row and "21,500.00" in row.group(1) and "10,750.00" in row.group(1)

    # the list: one search for the read API and the console (a member's ID number finds the
    # household on both; the console once searched the head's name, number and group only)
    daughter = next(m for m in view["members"] if m["name"] == "周小花")
    listed = client.get("/api/v1/households", params={"q": daughter["id_number"]},
                        headers=login("clerk", "console-api")).json()
    assert [item["id"] for item in listed["items"]] == [hid]
    listing = client.get("/console/households", params={"q": daughter["id_number"]}).text
    assert f"/console/households/{hid}" in listing and "共 1 户" in listing
