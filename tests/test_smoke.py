from server.db.migrate import MIGRATIONS_DIR
from tests.conftest import VILLAGE_A1


def test_health_reports_schema_head(client):
    resp = client.get("/health")
    assert resp.status_code == 200
    body = resp.json()
    assert body["database"] == "ok"
    assert body["schema_revision"] == body["schema_head"]
    assert body["schema_head"] == max(p.name[:4] for p in MIGRATIONS_DIR.glob("versions/0*.py"))


def test_login_and_bad_password(client, make_user, login):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    headers = login("cadre")
    assert headers["Authorization"].startswith("Bearer ")
    bad = client.post("/api/v1/auth/token",
                      data={"username": "cadre", "password": "nope", "device_id": "t1"})
    assert bad.status_code == 401
    assert bad.json()["error"]["code"] == "auth.invalid_credentials"
