"""Migration 0011 (household file v2) on a copy of the demo county: down to 0010 (health back to
one code, the v2 columns gone), up again (the data carried over), down again — v1 data intact."""

from __future__ import annotations

import sqlalchemy as sa

from server.db import migrate
from server.db.engine import make_engine
from server.demo import seed_demo
from tests.conftest import PASSWORD

V1 = "id::text, health, schooling"


def _columns(engine: sa.Engine, table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(engine).get_columns(table)}


def _rows(engine: sa.Engine, sql: str) -> dict[str, dict]:
    with engine.connect() as conn:
        return {r["id"]: dict(r) for r in conn.execute(sa.text(sql)).mappings()}


def test_household_file_migration_down_up_down_on_the_demo_county(fresh_database):
    url = fresh_database("ruhu_mig11")
    migrate.upgrade(url)
    engine = make_engine(url, pool_size=2)
    try:
        assert seed_demo(engine, password=PASSWORD) is not None
        seeded = _rows(engine, f"SELECT {V1}, school_stage, employment, left_on FROM member")
        assert any(len(m["health"]) > 1 for m in seeded.values())  # the demo has lists
        assert any(m["left_on"] for m in seeded.values())  # and 增减员
        with engine.connect() as conn:
            incomes = conn.execute(sa.text("SELECT count(*) FROM income_item")).scalar_one()

        migrate.downgrade(url, "0010")
        engine.dispose()
        for table, column in (("member", "disease"), ("member", "left_on"),
                              ("income_item", "item_kind"), ("measure", "fund_source"),
                              ("visit", "findings")):
            assert column not in _columns(engine, table)
        v1 = _rows(engine, f"SELECT {V1} FROM member")
        assert {k: v["health"] for k, v in v1.items()} == {
            k: (v["health"][0] if v["health"] else None) for k, v in seeded.items()}
        with engine.connect() as conn:  # rigid expenses stay rows (a category v1 ignores)
            assert conn.execute(sa.text("SELECT count(*) FROM income_item")).scalar_one() == \
                incomes

        migrate.upgrade(url)
        engine.dispose()
        v2 = _rows(engine, f"SELECT {V1}, school_stage FROM member")
        for mid, m in v2.items():
            old = v1[mid]["health"]
            assert m["health"] == ([old] if old else [])
            expected = {"vocational": "secondary_vocational", "not_in_school": None,
                        "dropped_out": None, None: None}.get(m["schooling"], m["schooling"])
            assert m["school_stage"] == expected
        with engine.connect() as conn:
            kinds = dict(conn.execute(sa.text(
                "SELECT item_kind, count(*) FROM income_item WHERE category = 'transfer' "
                "GROUP BY item_kind")).all())
            assert None not in kinds and {"pension", "dibao"} <= set(kinds)
            assert conn.execute(sa.text(
                "SELECT count(*) FROM measure WHERE start_date IS NOT NULL AND "
                "year IS DISTINCT FROM extract(year FROM start_date)::int")).scalar_one() == 0
            linked = conn.execute(sa.text(
                "SELECT count(*) FILTER (WHERE helper_assignment_id IS NOT NULL), count(*) "
                "FROM visit")).one()
            assert 0 < linked[0] <= linked[1]
            assert conn.execute(sa.text(
                "SELECT count(*) FROM visit v JOIN helper_assignment h "
                "ON h.id = v.helper_assignment_id WHERE h.household_id <> v.household_id"
            )).scalar_one() == 0

        migrate.downgrade(url, "0010")
        engine.dispose()
        assert _rows(engine, f"SELECT {V1} FROM member") == v1
        migrate.upgrade(url)
    finally:
        engine.dispose()
