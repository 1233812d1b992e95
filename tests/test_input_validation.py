"""Bad input → 4xx with a stable code and a Chinese message, never a 500, never a write."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel

from sync_protocol.entities import ENTITIES, validate_fields
from sync_protocol.errors import ErrorCode
from sync_protocol.validation import build_id_number
from tests.conftest import VILLAGE_A1

CHINESE = re.compile(r"[\u4e00-\u9fff]")
GOOD_ID = build_id_number("411702", dt.date(2001, 2, 3), 15)
BAD_BIRTH_ID = GOOD_ID[:6] + "20011303" + "0155"  # 13th month
CODES = {str(c) for c in ErrorCode}


def _row_counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                for t in SQLModel.metadata.sorted_tables}


def _assert_error(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert err["code"] == code and err["code"] in CODES
    assert CHINESE.search(err["message"]), err
    return err


@pytest.fixture
def cadre(client, make_user, login):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    return login("cadre")


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"village": "12345"}, "validation.region_code_invalid"),
        ({"village": "41170210520X"}, "validation.region_code_invalid"),
        ({"village": "411702105000"}, "validation.region_code_invalid"),  # a township
        ({"village": "000000000000"}, "validation.region_code_invalid"),
        ({"township": "41170"}, "validation.region_code_invalid"),
        ({"poverty_status": "rich"}, "validation.enum_invalid"),
        ({"monitoring_category": "NONE"}, "validation.enum_invalid"),
        ({"q": "张\x00三"}, "validation.control_char"),
    ],
)
def test_bad_filters_get_specific_codes(client, cadre, db, params, code):
    before = _row_counts(db)
    err = _assert_error(client.get("/api/v1/households", headers=cadre, params=params), 422, code)
    assert err["field"] == next(iter(params))
    assert _row_counts(db) == before


@pytest.mark.parametrize(
    "params",
    [{"page": "abc"}, {"page": 0}, {"page_size": 10_000}, {"page_size": -1},
     {"wuqing_incomplete": "maybe"}, {"not_visited_this_month": "2"}, {"q": "张" * 51},
     {"village": "4" * 5000}],
)
def test_malformed_query_is_422(client, cadre, params):
    err = _assert_error(client.get("/api/v1/households", headers=cadre, params=params), 422,
                        "request.malformed")
    assert err["details"] and all(d["code"] in CODES and CHINESE.search(d["message"])
                                  for d in err["details"])


def test_household_id_must_be_a_uuid(client, cadre):
    _assert_error(client.get("/api/v1/households/not-a-uuid", headers=cadre), 422,
                  "validation.uuid_invalid")
    _assert_error(client.get("/api/v1/households/" + "x" * 3000, headers=cadre), 422,
                  "validation.uuid_invalid")
    _assert_error(client.get(f"/api/v1/households/{uuid.uuid4()}", headers=cadre), 404,
                  "record.not_found")


def test_login_form_bad_input_writes_nothing(client, make_user, db):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    before = _row_counts(db)
    _assert_error(client.post("/api/v1/auth/token", data={
        "username": "cadre", "password": "test-Passw0rd", "device_id": "平板 1"}), 400,
        "auth.device_id_invalid")
    _assert_error(client.post("/api/v1/auth/token", data={
        "username": "u" * 10_000, "password": "x", "device_id": "tab-1"}), 422,
        "request.malformed")
    _assert_error(client.post("/api/v1/auth/token", data={"username": "cadre"}), 422,
                  "request.malformed")
    assert _row_counts(db) == before


# --- the shared validators (the same code runs on the tablet and the server) ----------------


def _household(**fields):
    return {"village_code": VILLAGE_A1, "head_name": "张三", **fields}


@pytest.mark.parametrize(
    ("entity", "fields", "code", "field"),
    [
        ("household", _household(head_id_number=GOOD_ID[:-1] + ("1" if GOOD_ID[-1] != "1"
                                                                else "2")),
         "validation.id_number_checksum", "head_id_number"),
        ("household", _household(head_id_number="41170220010203"),
         "validation.id_number_invalid", "head_id_number"),
        ("household", _household(head_id_number=BAD_BIRTH_ID), None, "head_id_number"),
        ("household", _household(poverty_status="rich"), "validation.enum_invalid",
         "poverty_status"),
        ("household", _household(causes=["illness", "bad_luck"]), "validation.enum_invalid",
         "causes"),
        ("household", _household(village_code="4117021052"), "validation.region_code_invalid",
         "village_code"),
        ("household", _household(village_code=411702105201), "validation.type_invalid",
         "village_code"),
        ("household", _household(head_name="张" * 5000), "validation.too_long", "head_name"),
        ("household", _household(address="路" * 100_000), "validation.too_long", "address"),
        ("household", _household(phone="123"), "validation.phone_invalid", "phone"),
        ("household", _household(lat=123.0), "validation.coordinates_invalid", "lat"),
        ("household", _household(drinking_water_safe="maybe"), "validation.type_invalid",
         "drinking_water_safe"),
        ("household", _household(secret_field=1), "validation.field_unknown", "secret_field"),
        ("household", {"head_name": "张三"}, "validation.field_required", "village_code"),
        ("income_item", {"household_id": str(uuid.uuid4()), "year": 2025, "category": "wage",
                         "amount": "很多"}, "validation.amount_invalid", "amount"),
        ("member", {"household_id": "hh-1", "name": "李四"}, "validation.uuid_invalid",
         "household_id"),
        ("member", {"household_id": str(uuid.uuid4()), "name": "李四",
                    "birth_date": "2024-02-30"}, "validation.date_invalid", "birth_date"),
        ("visit", {"household_id": str(uuid.uuid4()), "visited_at": "2026-01-01T00:00:00Z",
                   "attachment_ids": ["abc"]}, "validation.attachment_id_invalid",
         "attachment_ids"),
    ],
)
def test_validate_fields_rejects_bad_values(entity, fields, code, field):
    result = validate_fields(entity, fields, creating=True)
    assert not result.ok
    err = result.errors[0]
    if code is not None:
        assert str(err.code) == code
    else:
        assert str(err.code).startswith("validation.id_number")
    assert err.field == field
    assert CHINESE.search(err.message)


def test_validate_fields_accepts_good_values_and_rejects_non_dicts():
    ok = validate_fields("household", _household(head_id_number=GOOD_ID, causes=["illness"],
                                                 phone="138 0000 0000"), creating=True)
    assert ok.ok and ok.fields["phone"] == "13800000000"
    assert not validate_fields("household", ["not", "a", "dict"], creating=False).ok
    assert str(validate_fields("spaceship", {}, creating=True).errors[0].code) == (
        "sync.entity_unknown")
    for name in ENTITIES:
        assert validate_fields(name, {}, creating=False).ok
