"""The reports through the read API and the console: names, filters, roles, xlsx, audit."""

from __future__ import annotations

import io

import sqlalchemy as sa
from openpyxl import load_workbook

from server.queries.reports import REPORTS
from tests.conftest import VILLAGE_A1, VILLAGE_B1
from tests.console.conftest import console_login


def test_api_reports_scope_filters_and_errors(client, county, login):
    headers = login("clerk_a")
    for name in REPORTS:
        resp = client.get(f"/api/v1/reports/{name}", headers=headers)
        assert resp.status_code == 200, (name, resp.text)
        body = resp.json()
        assert body["name"] == name and body["tables"] and body["summary"]
        assert "蚁蜂镇" not in resp.text and "冯乙河" not in resp.text
    mon = client.get("/api/v1/reports/monitoring", headers=headers,
                     params={"village": VILLAGE_A1}).json()
    assert mon["summary"]["total"] == 2 and mon["filters"]["village"] == VILLAGE_A1
    other = client.get("/api/v1/reports/monitoring", headers=headers,
                       params={"village": VILLAGE_B1}).json()
    assert other["summary"]["total"] == 0
    period = client.get("/api/v1/reports/elimination", headers=headers,
                        params={"from": "2001-01-01", "to": "2001-12-31"}).json()
    assert period["summary"]["eliminated_period"] == 0 and period["filters"]["from"] == "2001-01-01"

    unknown = client.get("/api/v1/reports/nope", headers=headers)
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "report.not_found"
    bad = client.get("/api/v1/reports/visits", headers=headers,
                     params={"from": "2026-05-01", "to": "2026-01-01"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "report.period_invalid"
    bad_village = client.get("/api/v1/reports/visits", headers=headers, params={"village": "12"})
    assert bad_village.status_code == 422

    cadre = login("cadre_a", device_id="tab-cadre")
    refused = client.get("/api/v1/reports/monitoring", headers=cadre)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "auth.forbidden"

    admin = login("admin", device_id="tab-admin")
    assert client.get("/api/v1/reports/monitoring", headers=admin).json()["summary"]["total"] == 4


def test_reports_are_documented(client):
    spec = client.get("/openapi.json").json()
    op = spec["paths"]["/api/v1/reports/{name}"]["get"]
    assert "monitoring" in op["description"] and op["summary"]
    assert {p["name"] for p in op["parameters"]} >= {"name", "village", "from", "to"}


def test_console_pages_render(client, county):
    console_login(client, "clerk_a")
    index = client.get("/console/reports")
    assert index.status_code == 200
    for name, (title, _, _) in REPORTS.items():
        assert f"/console/reports/{name}" in index.text and title in index.text
        page = client.get(f"/console/reports/{name}")
        assert page.status_code == 200, (name, page.text[:500])
        assert "<svg" in page.text and "<table>" in page.text
        assert "王岗村" not in page.text
    page = client.get("/console/reports/wuqing")
    assert "五清已核查" in page.text and "全部为清" in page.text
    assert client.get("/console/reports/nope").status_code == 404
    assert client.get("/console/reports/monitoring",
                      params={"village": VILLAGE_B1}).status_code == 404


def test_console_xlsx_chinese_headers_and_audit(client, county, db):
    console_login(client, "clerk_a")
    expected = {"monitoring": "监测对象类别", "elimination": "风险已消除",
                "measures": "帮扶措施类别", "alerts": "户主姓名", "visits": "走访人",
                "wuqing": "全部为清"}
    for name, header in expected.items():
        resp = client.get(f"/console/reports/{name}.xlsx")
        assert resp.status_code == 200, resp.text
        wb = load_workbook(io.BytesIO(resp.content))
        headers = {c.value for ws in wb.worksheets[1:] for c in ws[1]}
        assert header in headers, (name, headers)
        assert all(not str(h).isascii() for h in headers if h), headers
        text = "".join(str(c) for ws in wb.worksheets for row in ws.iter_rows(values_only=True)
                       for c in row if c is not None)
        assert "冯乙河" not in text and "蚁蜂镇" not in text
    with db.connect() as conn:
        kinds = conn.execute(sa.text(
            "select detail->>'kind' from audit_log where action = 'export'")).scalars().all()
    assert sorted(kinds) == sorted(f"report.{n}" for n in expected)


def test_console_refuses_village_roles(client, county, login):
    # a village cadre cannot log in to the console at all; with a tablet token in the cookie
    # the report pages refuse them too
    token = login("cadre_a")["Authorization"].split()[1]
    client.cookies.set("ruhu_token", token)
    assert client.get("/console/reports").status_code == 403
    assert client.get("/console/reports/monitoring.xlsx").status_code == 403
    client.cookies.clear()
    resp = client.get("/console/reports/monitoring", follow_redirects=False)
    assert resp.status_code == 303 and "/console/login" in resp.headers["location"]


def test_far_periods_are_refused_not_crashing(client, county, login):
    headers = login("clerk_a")
    for params in ({"to": "9999-12-31"}, {"from": "0001-01-01"}):
        resp = client.get("/api/v1/reports/visits", headers=headers, params=params)
        assert resp.status_code == 422 and resp.json()["error"]["code"] == "report.period_invalid"


def test_income_drop_share_is_county_policy(client, county, login):
    admin = login("admin", device_id="tab-admin")
    assert client.get("/api/v1/policy", headers=admin).json()["income_drop_share"] == 0.3
    resp = client.put("/api/v1/policy", headers=admin, json={"income_drop_share": 0.5})
    assert resp.status_code == 200 and resp.json()["income_drop_share"] == 0.5
    for bad in (0, 1, 1.5, -0.2):
        refused = client.put("/api/v1/policy", headers=admin, json={"income_drop_share": bad})
        assert refused.status_code == 422, bad
    notes = client.get("/api/v1/reports/alerts", headers=admin).json()["notes"]
    assert any("50%" in n for n in notes)
