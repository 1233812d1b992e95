"""Health and disability are personal data (household file v2): never in what is published (公示
lists and their exports), and never outside the viewer's scope. Checked on the demo county, whose
members carry 病种, 残疾类别 and 残疾等级."""

from __future__ import annotations

import io

import sqlalchemy as sa
from openpyxl import load_workbook

from sync_protocol.display import value_label
from tests.console.conftest import console_login
from tests.security.live_world import absent, dumps, pull_everything

ZHANGZHUANG, LILOU = "411702105201", "411702105202"


def _health_secrets(engine: sa.Engine, village: str | None = None) -> dict[str, str]:
    """Every 病种, disability certificate and member ID number (of one village, or all)."""
    where = "WHERE village_code = :v" if village else ""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            f"SELECT id::text, disease, disability_cert, id_number, disability_category "
            f"FROM member {where}"), {"v": village}).all()
    out: dict[str, str] = {}
    for mid, disease, cert, number, category in rows:
        out[f"disease:{disease}"] = disease
        out[f"cert:{mid}"] = cert
        if village:
            out[f"id:{mid}"] = number
        if category:
            out[f"category:{category}"] = value_label("member", "disability_category", category)
    return {k: v for k, v in out.items() if v}


def _xlsx_text(content: bytes) -> str:
    wb = load_workbook(io.BytesIO(content), read_only=True)
    return dumps([[c for c in row] for ws in wb.worksheets
                  for row in ws.iter_rows(values_only=True)])


def test_published_lists_hold_no_health_data(demo_client, demo_engine):
    secrets = _health_secrets(demo_engine)
    assert any(k.startswith("disease:") for k in secrets)
    assert any(k.startswith("category:") for k in secrets)
    console_login(demo_client, "demo_admin")
    for scope in ("all", "monitored"):
        resp = demo_client.get("/console/exports/notice.xlsx", params={"scope": scope})
        assert resp.status_code == 200
        absent(_xlsx_text(resp.content), secrets)
    for path in ("/console/notices", "/console/notices.xlsx"):
        resp = demo_client.get(path)
        assert resp.status_code == 200, path
        body = _xlsx_text(resp.content) if path.endswith(".xlsx") else resp.text
        absent(body, secrets)


def test_another_villages_cadre_never_receives_health_data(demo_client, demo_engine,
                                                           demo_login):
    theirs = _health_secrets(demo_engine, ZHANGZHUANG)
    mine = _health_secrets(demo_engine, LILOU)
    # only what is unique to 张庄村 (common disease names occur in both villages; the labels of
    # the disability categories come with the reference data)
    secrets = {k: v for k, v in theirs.items()
               if v not in mine.values() and not k.startswith("category:")}
    assert any(k.startswith("cert:") for k in secrets)
    demo_client.headers.update(demo_login("demo_cadre2", "tab-lilou"))
    absent(dumps(pull_everything(demo_client)), secrets)  # type: ignore[arg-type]
    listing = demo_client.get("/api/v1/households", params={"page_size": 200})
    assert listing.status_code == 200
    absent(listing.text, secrets)
    with demo_engine.connect() as conn:
        hid = conn.execute(sa.text(
            "SELECT household_id::text FROM member WHERE village_code = :v "
            "AND disease IS NOT NULL LIMIT 1"), {"v": ZHANGZHUANG}).scalar_one()
    resp = demo_client.get(f"/api/v1/households/{hid}")
    assert resp.status_code == 404
    absent(resp.text, secrets)
