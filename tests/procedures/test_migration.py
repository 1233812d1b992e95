"""Migration 0008 on a copy of the demo county: down with data (procedures in every stage,
monitored and eliminated households; back to the v1 model), up again (today's data carried over
to monitoring model v2: an elimination comes back from its status event), down again — nothing of
the history is lost."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.script import ScriptDirectory

from server.db import migrate
from server.db.engine import make_engine
from server.demo import seed_demo
from tests.conftest import PASSWORD

RISK_CAUSES = {"illness", "disability", "schooling", "disaster", "accident", "business_failure",
               "unstable_job", "no_labor", "other"}


def _previous(url: str) -> str:
    script = ScriptDirectory.from_config(migrate.alembic_config(url))
    previous = script.get_revision("0008").down_revision
    assert isinstance(previous, str)
    return previous


def _households(engine: sa.Engine, v2: bool) -> dict[str, dict]:
    cols = "id::text, poverty_status, monitoring_category, causes"
    if v2:
        cols += (", household_type, monitoring_status, monitoring_since, risk_types,"
                 " eliminated_on")
    with engine.connect() as conn:
        return {r["id"]: dict(r) for r in conn.execute(
            sa.text(f"SELECT {cols} FROM household")).mappings()}


def _columns(engine: sa.Engine, table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(engine).get_columns(table)}


def test_migration_down_up_down_on_the_demo_county(fresh_database):
    url = fresh_database("ruhu_mig08")
    migrate.upgrade(url)
    engine = make_engine(url, pool_size=2)
    try:
        assert seed_demo(engine, password=PASSWORD) is not None
        seeded = _households(engine, v2=True)
        with engine.connect() as conn:
            starts = dict(conn.execute(sa.text(
                "SELECT household_id::text, max(date) FROM status_event "
                "WHERE kind = 'monitoring_started' GROUP BY household_id")).all())
            stages = set(conn.execute(sa.text("SELECT DISTINCT stage FROM procedure")).scalars())
        # the downgrade runs with data: procedures in every stage, eliminated households
        assert {"proposed", "verified", "reviewed", "notice", "township_approved",
                "returned", "rejected", "withdrawn"} <= stages
        eliminated = {k: v["eliminated_on"] for k, v in seeded.items()
                      if v["monitoring_status"] == "eliminated"}
        assert eliminated

        migrate.downgrade(url, _previous(url))
        engine.dispose()
        assert "household_type" not in _columns(engine, "household")
        assert "procedure" not in sa.inspect(engine).get_table_names()
        v1 = _households(engine, v2=False)
        assert {k: (v["poverty_status"], v["monitoring_category"]) for k, v in v1.items()} == {
            k: (v["poverty_status"], v["monitoring_category"]) for k, v in seeded.items()}

        migrate.upgrade(url)
        engine.dispose()
        v2 = _households(engine, v2=True)
        assert len(v2) == 200
        kinds = set()
        for hid, h in v2.items():
            old = v1[hid]
            assert h["poverty_status"] == old["poverty_status"]  # kept as history
            assert h["household_type"] == (
                "ordinary" if old["poverty_status"] in (None, "none", "cancelled") else "exited")
            monitored = old["monitoring_category"] not in (None, "none")
            assert h["monitoring_status"] == ("none" if not monitored else "eliminated"
                                              if hid in eliminated else "monitored")
            # an elimination comes back from its status event, on the same day
            assert h["eliminated_on"] == eliminated.get(hid)
            if monitored:
                assert h["monitoring_since"] == starts.get(hid)
                assert h["risk_types"] == [c for c in old["causes"] if c in RISK_CAUSES][:3]
            else:
                assert h["monitoring_since"] is None and h["risk_types"] == []
            kinds.add((h["household_type"], h["monitoring_status"]))
        assert {("exited", "none"), ("exited", "monitored"), ("ordinary", "monitored")} <= kinds
        assert {s for _t, s in kinds} == {"none", "monitored", "eliminated"}
        with engine.connect() as conn:
            policy = conn.execute(sa.text(
                "SELECT notice_days, entry_deadline_days, min_monitored_days, monitoring_lines "
                "FROM county_policy")).one()
            assert tuple(policy) == (5, 15, 180, {})
            assert conn.execute(sa.text("SELECT count(*) FROM procedure")).scalar_one() == 0

        migrate.downgrade(url, _previous(url))
        engine.dispose()
        assert _households(engine, v2=False) == v1
        assert "monitoring_lines" not in _columns(engine, "county_policy")
        migrate.upgrade(url)
    finally:
        engine.dispose()
