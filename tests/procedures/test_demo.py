"""The demo county's procedures: every stage of both kinds, a village_secretary user, and the
procedures waiting for the township and the county can really be approved."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from server.app import create_app
from server.db import migrate
from server.db.engine import make_engine
from server.demo import build_records, seed_demo
from sync_protocol.entities import ENTITIES, to_json, validate_fields
from tests.conftest import PASSWORD, SYNC_HEADERS


def test_demo_procedures_cover_every_stage():
    records = build_records(dt.date(2026, 11, 30))
    rows = records.rows["procedure"]
    stages = {(r["kind"], r["stage"]) for r in rows}
    for stage in ("proposed", "verified", "reviewed", "notice", "township_approved", "approved",
                  "returned", "rejected", "withdrawn"):
        assert ("entry", stage) in stages, stage
    for stage in ("proposed", "notice", "township_approved", "approved"):
        assert ("elimination", stage) in stages, stage
    for row in rows:
        fields = {k: v for k, v in row.items() if k in ENTITIES["procedure"].fields}
        result = validate_fields("procedure", to_json("procedure", fields), creating=True)
        assert result.ok, result.errors
    # at most one open procedure of a kind per household
    open_ = [(r["household_id"], r["kind"]) for r in rows
             if r["stage"] not in ("approved", "rejected", "withdrawn")]
    assert len(open_) == len(set(open_))


def test_demo_queues_can_be_approved(fresh_database, settings):
    url = fresh_database("ruhu_demo_proc")
    migrate.upgrade(url)
    engine = make_engine(url, pool_size=3)
    try:
        assert seed_demo(engine, password=PASSWORD) is not None
        with TestClient(create_app(settings=settings, engine=engine)) as client:
            def login(username: str) -> dict:
                resp = client.post("/api/v1/auth/token", data={
                    "username": username, "password": PASSWORD, "device_id": f"t-{username}"})
                assert resp.status_code == 200, resp.text
                return {"Authorization": f"Bearer {resp.json()['access_token']}",
                        **SYNC_HEADERS}

            secretary = login("demo_village_secretary")
            mine = client.get("/api/v1/procedures", headers=secretary).json()["items"]
            assert mine and {p["village_code"] for p in mine} == {"411702105201"}
            clerk, admin = login("demo_clerk"), login("demo_admin")
            notice = client.get("/api/v1/procedures", headers=clerk,
                                params={"stage": "notice"}).json()["items"]
            results = {}
            for p in notice:
                resp = client.post(f"/api/v1/procedures/{p['id']}/transition", headers=clerk,
                                   json={"stage": "township_approved"})
                results.setdefault(resp.json().get("error", {}).get("code", "ok"), 0)
                results[resp.json().get("error", {}).get("code", "ok")] += 1
            # over and not objected: approved; still running or objected: refused
            assert results["ok"] >= 4
            assert results.get("procedure.notice_not_over", 0) >= 2
            assert results.get("procedure.objection_open", 0) >= 2
            waiting = client.get("/api/v1/procedures", headers=admin,
                                 params={"stage": "township_approved"}).json()["items"]
            for p in waiting:
                resp = client.post(f"/api/v1/procedures/{p['id']}/transition", headers=admin,
                                   json={"stage": "approved",
                                         "fields": {"decision_note": "同意"}})
                assert resp.status_code == 200, resp.text
            assert any(p["overdue"] for p in client.get(
                "/api/v1/procedures", headers=admin).json()["items"])
    finally:
        engine.dispose()
