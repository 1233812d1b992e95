"""The demo county: deterministic, idempotent, valid by its own rules, right users and scopes."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import sqlalchemy as sa
from sqlmodel import Session, select

from server.db.tables import (
    SYNCED_TABLES,
    ChecklistTemplate,
    CountyPolicy,
    Household,
    IncomeLine,
    Member,
    Region,
    User,
)
from server.demo import _users, build_records, seed_demo
from server.security import verify_password
from sync_protocol.entities import ENTITIES, to_json, validate_fields
from sync_protocol.policy import HintPolicy, china_today
from sync_protocol.validation import is_region_code, region_level
from sync_protocol.wuqing import BUNDLE_FIELDS, HouseholdBundle, compute_hints
from tests.conftest import PASSWORD

DAY = dt.date(2026, 11, 23)
USERS = {
    "demo_cadre": ("village_cadre", ["411702105201"]),
    "demo_cadre2": ("village_cadre", ["411702105202"]),
    "demo_secretary": ("first_secretary", ["411702105201"]),
    "demo_village_secretary": ("village_secretary", ["411702105201"]),
    "demo_clerk": ("township_clerk", ["411702105"]),
    "demo_clerk2": ("township_clerk", ["411702106"]),
    "demo_admin": ("county_admin", ["411702"]),
}


def _fields(entity: str, row: dict) -> dict:
    return to_json(entity, {k: row[k] for k in ENTITIES[entity].fields if k in row})


def test_build_is_deterministic():
    a, b = build_records(DAY), build_records(DAY)
    assert a.rows.keys() == b.rows.keys()
    for entity in a.rows:
        assert a.rows[entity] == b.rows[entity], entity
    assert a.log == b.log


def test_every_demo_record_passes_its_own_validation():
    records = build_records(DAY)
    assert len(records.rows["household"]) == 200
    for entity, rows in records.rows.items():
        assert rows, entity
        for row in rows:
            result = validate_fields(entity, _fields(entity, row), creating=True)
            assert result.ok, (entity, row["id"], [e.to_dict() for e in result.errors])
            assert row["version"] == 1
            assert set(row["field_versions"]) == set(row["field_hlcs"])
            assert row["village_code"].startswith("411702")


def test_sync_columns_are_filled():
    records = build_records(DAY)
    hh = records.rows["household"][0]
    assert hh["field_versions"]["head_name"] == 1
    assert hh["field_hlcs"]["head_name"].endswith("-0000-server")
    for entity in ("member", "visit"):
        child = records.rows[entity][0]
        assert child["village_code"] == child_village(records, child["household_id"])


def child_village(records, household_id) -> str:
    return next(h["village_code"] for h in records.rows["household"] if h["id"] == household_id)


def test_hints_show_problems_on_some_households_only():
    records = build_records(DAY)
    bundles = {h["id"]: HouseholdBundle(household={**_fields("household", h), "id": str(h["id"])})
               for h in records.rows["household"]}
    for entity, key in BUNDLE_FIELDS.items():
        for row in records.rows[entity]:
            getattr(bundles[row["household_id"]], key).append(
                {**_fields(entity, row), "id": str(row["id"])})
    failing: Counter[str] = Counter()
    clean = 0
    for bundle in bundles.values():
        hints = compute_hints(bundle, HintPolicy(today=DAY, visit_interval_days=60))
        bad = [code for code, h in hints.items() if h.ok is False]
        failing.update(bad)
        clean += not bad
    assert 0.3 * 200 < clean < 0.9 * 200
    assert set(failing) == {"base_file", "measures", "helper_duty", "trajectory"}


def test_database_matches_the_build_and_second_seed_changes_nothing(demo_engine):
    def snapshot() -> dict[str, int]:
        with demo_engine.connect() as conn:
            return {name: conn.execute(sa.select(sa.func.count())
                                       .select_from(t.__table__)).scalar_one()
                    for name, t in SYNCED_TABLES.items()}

    before = snapshot()
    assert seed_demo(demo_engine, password="another-password") is None
    assert snapshot() == before
    records = build_records(china_today())  # seed_demo's day: China's today
    assert before == {name: len(records.rows[name]) for name in SYNCED_TABLES}
    with Session(demo_engine) as session:
        stored = {h.id: h.head_name for h in session.exec(select(Household)).all()}
        hashes = {u.username: u.password_hash for u in session.exec(select(User)).all()}
    assert stored == {h["id"]: h["head_name"] for h in records.rows["household"]}
    assert verify_password(hashes["demo_cadre"], PASSWORD)  # the first seed's password stays


def test_users_roles_scopes_and_reference_rows(demo_engine):
    with Session(demo_engine) as session:
        users = {u.username: u for u in session.exec(select(User)).all()}
        for username, (role, scopes) in USERS.items():
            assert users[username].role == role
            assert users[username].scopes == scopes
            assert not users[username].disabled
        regions = {r.code: r for r in session.exec(select(Region)).all()}
        villages = {h.village_code for h in session.exec(select(Household)).all()}
        assert session.get(CountyPolicy, "411702") is not None
        assert session.get(ChecklistTemplate, "wuqing.v1") is not None
        assert session.exec(select(IncomeLine)).first() is not None
        heads = session.exec(select(Member).where(Member.relation == "head")).all()
    assert len(villages) == 5
    for code in villages:
        assert is_region_code(code) and region_level(code) == "village"
        assert code.startswith("411702")
        assert regions[code].name.endswith("村")
        assert regions[code[:9] + "000"].level == "township"
    assert regions["411702000000"].name == "驿城区"
    assert len(heads) == 200


def test_random_passwords_are_distinct_and_hashed():
    rows, created = _users(None)
    passwords = [p for _role, p in created.values()]
    assert len(set(passwords)) == len(passwords) == 7
    assert all(len(p) >= 12 for p in passwords)
    for row in rows:
        assert created[row["username"]][1] not in row["password_hash"]
    first = rows[0]
    assert verify_password(first["password_hash"], created[first["username"]][1])
