"""The household list filters on the current status (2021+): 户类型 and 监测状态 (besides
监测对象类别), the same in the read API and the console list; poverty_status is history and is not
a list column."""

from __future__ import annotations

import sqlalchemy as sa

from tests.conftest import SYNC_HEADERS
from tests.console.conftest import console_login


def _set(db, household, **values) -> None:
    with db.begin() as conn:
        conn.execute(sa.text("UPDATE household SET " + ", ".join(f"{k} = :{k}" for k in values)
                             + " WHERE id = :id"), {"id": household.id, **values})


def _token(client, username: str) -> dict[str, str]:
    resp = client.post("/api/v1/auth/token", data={"username": username,
                                                    "password": "test-Passw0rd",
                                                    "device_id": "web-api"})
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['access_token']}", **SYNC_HEADERS}


def _names(client, headers, **params) -> set[str]:
    resp = client.get("/api/v1/households", headers=headers, params=params)
    assert resp.status_code == 200, resp.text
    return {item["head_name"] for item in resp.json()["items"]}


def test_read_api_filters_by_household_type_and_monitoring_status(client, world, db):
    _set(db, world["a1"], household_type="exited", monitoring_status="monitored",
         monitoring_category="unstable")
    _set(db, world["a2"], household_type="ordinary", monitoring_status="eliminated",
         monitoring_category="marginal")
    _set(db, world["b1"], household_type="ordinary", monitoring_status="none")
    admin = _token(client, "admin")
    assert _names(client, admin, household_type="exited") == {"赵大山"}
    assert _names(client, admin, household_type="ordinary") == {"钱二河", "孙乙峰"}
    assert _names(client, admin, monitoring_status="monitored") == {"赵大山"}
    assert _names(client, admin, monitoring_status="eliminated") == {"钱二河"}
    assert _names(client, admin, monitoring_status="none") == {"孙乙峰"}
    assert _names(client, admin, household_type="ordinary",
                  monitoring_status="eliminated") == {"钱二河"}
    # scope still applies: the clerk of township A never sees 孙乙峰 (township B)
    assert _names(client, _token(client, "clerk_a"), household_type="ordinary") == {"钱二河"}
    item = client.get("/api/v1/households", headers=admin,
                      params={"monitoring_status": "monitored"}).json()["items"][0]
    assert (item["household_type_label"], item["monitoring_status_label"]) == ("脱贫户",
                                                                              "风险未消除")
    for name, value in (("household_type", "poor"), ("monitoring_status", "风险未消除")):
        resp = client.get("/api/v1/households", headers=admin, params={name: value})
        assert resp.status_code == 422, resp.text
        error = resp.json()["error"]
        assert error["code"] == "validation.enum_invalid" and error["field"] == name


def test_console_list_filters_and_shows_the_current_status(client, world, db):
    _set(db, world["a1"], household_type="exited", monitoring_status="monitored",
         monitoring_category="unstable")
    _set(db, world["a2"], household_type="ordinary", monitoring_status="none")
    console_login(client, "clerk_a")
    page = client.get("/console/households").text
    assert "<th>户类型</th><th>监测状态</th><th>监测对象类别</th>" in page
    assert "风险未消除" in page and "脱贫户" in page
    assert "脱贫属性" not in page and "历史贫困状态" not in page  # history is not a list column
    monitored = client.get("/console/households?monitoring_status=monitored").text
    assert "赵大山" in monitored and "钱二河" not in monitored
    assert 'value="monitored" selected' in monitored
    ordinary = client.get("/console/households?household_type=ordinary").text
    assert "钱二河" in ordinary and "赵大山" not in ordinary
    # an unknown option is ignored (the whole list), never a 500
    odd = client.get("/console/households?monitoring_status=bogus&household_type=x")
    assert odd.status_code == 200 and "赵大山" in odd.text and "钱二河" in odd.text
