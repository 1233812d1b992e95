"""纳入监测 end to end in one run, as issue 13 names it: real Postgres, a live uvicorn server, two
real tablet stores (``kivy_client.store.Store`` with the real session and sync client over
HTTP) and the console in real headless Chromium.

The county admin sets the county's procedure policy (7 notice days); the village cadre's tablet
downloads it, then — with the network off — records a visit, starts 发起纳入监测 from it,
records 入户核实 and 村级评议 and starts the 公示 (judged offline under the county's 7 days),
and syncs once back online. The notice ran on paper from nine days ago, so it is over when the
township clerk opens the 审核 queue in Chromium and approves it; the county admin confirms it in
Chromium. Both village tablets get the household's derived fields and the status event on their
next pull, and a 风险消除 started now is refused with ``procedure.too_early`` (offline, and by the
server when a device sends one anyway).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from kivy_client import procedures as proc
from kivy_client.session import Session
from kivy_client.store import Store, StoreValidationError
from kivy_client.sync import SyncClient, SyncReport
from sync_protocol.display import current_status
from sync_protocol.policy import china_today
from tests.conftest import COUNTY, PASSWORD, SYNC_HEADERS, TOWNSHIP_A, VILLAGE_A1
from tests.console.test_browser import (  # noqa: F401  (the browser fixture)
    CHROMIUM,
    _login,
    _shot,
    browser,
)
from tests.live import serve

pytestmark = [pytest.mark.browser, pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="needs /usr/bin/chromium")]


class Network(httpx.BaseTransport):
    """The tablet's radio: HTTP to the live server, or no signal at all."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.online = True
        self.attempts_offline = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not self.online:
            self.attempts_offline += 1
            raise httpx.ConnectError("no signal", request=request)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


@dataclass
class Tablet:
    store: Store
    session: Session
    sync_client: SyncClient
    network: Network

    def sync(self) -> SyncReport:
        return self.sync_client.sync()


@pytest.fixture
def tablets(tmp_path: Path) -> Iterator[list[Tablet]]:
    made: list[Tablet] = []
    yield made
    for tab in made:
        tab.store.close()
        tab.session.http.close()


def _tablet(made: list[Tablet], base: str, tmp_path: Path, username: str, device: str) -> Tablet:
    network = Network()
    http = httpx.Client(base_url=base, transport=network, timeout=30)
    store = Store(tmp_path / f"{device}.db", device_id=device)
    session = Session(store, client=http)
    session.login(username, PASSWORD)
    tab = Tablet(store, session, SyncClient(store, client=http, token=lambda: session.token,
                                            sleep=lambda s: None, max_retries=0), network)
    made.append(tab)
    return tab


def store_event_day(db: sa.Engine, hid: str) -> str:
    """The date of the household's 纳入监测 status event, as the server wrote it on approval."""
    with db.connect() as conn:
        return str(conn.execute(sa.text(
            "SELECT date FROM status_event WHERE household_id = :h "
            "AND kind = 'monitoring_started'"), {"h": hid}).scalar_one())


def _code(exc: pytest.ExceptionInfo[StoreValidationError]) -> str:
    return str(exc.value.code)


def _stage(db: sa.Engine, pid: str) -> str:
    with db.connect() as conn:
        return str(conn.execute(sa.text("SELECT stage FROM procedure WHERE id = :id"),
                                {"id": pid}).scalar_one())


def test_entry_from_a_visit_offline_to_the_county_in_chromium_and_back_to_both_tablets(
        db, settings, make_user, browser, tablets, tmp_path):  # noqa: F811
    from server.app import create_app

    make_user("cadre", "village_cadre", [VILLAGE_A1], name="张卫东")
    make_user("secretary", "village_secretary", [VILLAGE_A1], name="张书记")
    make_user("clerk", "township_clerk", [TOWNSHIP_A], name="李专干")
    make_user("admin", "county_admin", [COUNTY], name="县管理员")
    today = china_today()

    with serve(create_app(settings=settings, engine=db)) as base:
        # the county's procedure policy, set through the API before the tablets download it
        with httpx.Client(base_url=base, timeout=30) as office:
            token = office.post("/api/v1/auth/token", data={
                "username": "admin", "password": PASSWORD, "device_id": "web-admin"}).json()
            headers = {"Authorization": f"Bearer {token['access_token']}", **SYNC_HEADERS}
            resp = office.put("/api/v1/policy", headers=headers, json={
                "notice_days": 7, "min_monitored_days": 180,
                "monitoring_lines": {str(today.year - 1): 7600}})
            assert resp.status_code == 200, resp.text

        cadre = _tablet(tablets, base, tmp_path, "cadre", "tab-cadre")
        secretary = _tablet(tablets, base, tmp_path, "secretary", "tab-secretary")
        store = cadre.store
        hid = store.create_household({"village_code": VILLAGE_A1, "head_name": "王建国",
                                      "group_name": "东组", "household_type": "ordinary"})
        store.add_member(hid, {"name": "王建国", "relation": "head", "labor_ability": "normal"})
        assert cadre.sync().rejected == 0
        secretary.sync()
        assert secretary.store.get("household", hid) is not None
        # both tablets judge under the county's rules from the reference data (item: CountyRules)
        for tab in (cadre, secretary):
            assert tab.store.county_rules(VILLAGE_A1).procedures.notice_days == 7

        # --- offline on the cadre's tablet --------------------------------------------------
        cadre.network.online = False
        with pytest.raises(StoreValidationError) as exc:
            store.update("household", hid, {"monitoring_status": "monitored"})
        assert _code(exc) == "procedure.field_derived"
        visit = store.record_visit(hid, {"purpose": "入户排查",
                                         "notes": "户主住院，医疗自付大，收入骤减"})
        pid = proc.propose_from_visit(store, visit, {"category": "marginal",
                                                     "risk_types": ["illness", "large_expense"]})
        proposed = store.get("procedure", pid).fields
        assert (proposed["source"], proposed["visit_id"]) == ("screening", visit)
        with pytest.raises(StoreValidationError) as exc:
            proc.move(store, pid, "verified", {"verifiers": ["张卫东"]})
        assert _code(exc) == "procedure.verifiers_missing"
        proc.move(store, pid, "verified", {"verifiers": ["张卫东", "张书记"], "visit_id": visit,
                                           "verified_at": f"{today - dt.timedelta(days=10)}"
                                                          "T02:00:00Z"})
        proc.move(store, pid, "reviewed", {"review_note": "村民代表会议评议，同意纳入"})
        start = today - dt.timedelta(days=9)
        with pytest.raises(StoreValidationError) as exc:  # the county's 7 days, offline
            proc.move(store, pid, "notice", {"notice_start": start.isoformat(),
                                             "notice_end": str(start + dt.timedelta(days=5))})
        assert _code(exc) == "procedure.notice_too_short" and "7天" in exc.value.message
        proc.move(store, pid, "notice", {"notice_start": start.isoformat(),
                                         "notice_end": str(start + dt.timedelta(days=7))})
        with pytest.raises(StoreValidationError) as exc:
            proc.move(store, pid, "township_approved")
        assert _code(exc) == "procedure.role_forbidden"
        assert cadre.network.attempts_offline == 0  # nothing of this needed the server
        assert len(store.outbox()) == 5  # the visit, the proposal and three moves
        cadre.network.online = True

        report = cadre.sync()
        assert report.rejected == 0 and store.pending_count() == 0, report
        assert _stage(db, pid) == "notice"

        # --- the township clerk approves in Chromium ---------------------------------------
        page = browser.new_page()
        _login(page, base, "clerk")
        page.goto(f"{base}/console/procedures")
        box = page.locator(f"input[name=ids][value='{pid}']")
        assert box.count() == 1, page.inner_text("body")[:1500]
        assert "王建国" in page.inner_text("table.queue")
        box.check()
        page.click("#approve")
        page.wait_for_load_state()
        assert "已办理 1 件" in page.inner_text("body")
        assert _stage(db, pid) == "township_approved"
        page.close()

        # --- the county admin confirms in Chromium -----------------------------------------
        page = browser.new_page()
        _login(page, base, "admin")
        page.goto(f"{base}/console/procedures")
        page.fill("input[name=decision_note]", "经县级审定，同意纳入监测")
        page.locator(f"input[name=ids][value='{pid}']").check()
        _shot(page, "procedures_end_to_end")
        page.click("#approve")
        page.wait_for_load_state()
        assert "已办理 1 件" in page.inner_text("body")
        assert _stage(db, pid) == "approved"
        page.close()
        # the day the server approved it: China's today when the county confirmed, which is
        # ``today`` unless China's midnight (16:00 UTC) passed during the run
        approved_on = dt.date.fromisoformat(str(store_event_day(db, hid)))
        assert today <= approved_on <= china_today()

        # --- both village tablets get the derived fields on their next pull ----------------
        for tab in (secretary, cadre):
            tab.sync()
            house = tab.store.get("household", hid).fields
            assert house["monitoring_status"] == "monitored"
            assert current_status(house) == ["一般农户", "风险未消除", "边缘易致贫户"]
            assert house["monitoring_category"] == "marginal"
            assert house["risk_types"] == ["illness", "large_expense"]
            assert house["monitoring_since"] == approved_on.isoformat()
            done = tab.store.get("procedure", pid).fields
            assert done["stage"] == "approved"
            assert done["decision_note"] == "经县级审定，同意纳入监测"
            events = [r.fields["kind"] for r in tab.store.children(hid, "status_event")]
            assert events == ["monitoring_started"]

        # --- a 风险消除 now is too early: offline, and by the server -----------------------
        with pytest.raises(StoreValidationError) as exc:
            proc.propose(secretary.store, hid, "elimination", {"method": "assisted"})
        assert _code(exc) == "procedure.too_early"
        rogue = secretary.store.create("procedure", {"household_id": hid, "kind": "elimination",
                                                     "method": "assisted"})
        assert secretary.sync().rejected == 1
        issue = secretary.store.issues("procedure", rogue)[0]
        assert "procedure.too_early" in str(issue.payload)
        assert "最短监测天数" in issue.message
        with db.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM procedure WHERE kind = "
                                        "'elimination'")).scalar_one() == 0
