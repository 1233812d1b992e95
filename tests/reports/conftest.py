"""A small county with known figures: township A (two villages) and township B (one village)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from server.db.tables import (
    ChecklistItem,
    CountyPolicy,
    Household,
    IncomeItem,
    Measure,
    Procedure,
    Region,
    Visit,
)
from server.scope import Principal
from sync_protocol.policy import china_today
from sync_protocol.templates import WUQING_V1
from tests.conftest import COUNTY, TOWNSHIP_A, TOWNSHIP_B, VILLAGE_A1, VILLAGE_A2, VILLAGE_B1
from tests.console.conftest import REGIONS, add_household, add_user

LINE = 7000.0


def principal(user: Any) -> Principal:
    return Principal(user_id=user.id, username=user.username, name=user.name, role=user.role,
                     scopes=tuple(user.scopes), device_id="test", scope_version=1)


def _monitoring(status: str, category: str, risks: list[str], since: dt.date | None,
                **extra: Any) -> dict[str, Any]:
    return {"monitoring_status": status, "monitoring_category": category, "risk_types": risks,
            "monitoring_since": since, "household_type": "exited", **extra}


def _child(table: type, hh: Household, **fields: Any) -> Any:
    return table(id=uuid.uuid4(), household_id=hh.id, village_code=hh.village_code, **fields)


@pytest.fixture
def county(db: Engine) -> dict[str, Any]:
    today = china_today()
    last_year = today.year - 1
    now = dt.datetime.now(dt.UTC)
    with Session(db, expire_on_commit=False) as s:
        users = {
            "clerk_a": add_user(s, "clerk_a", "township_clerk", [TOWNSHIP_A], "张专干"),
            "clerk_b": add_user(s, "clerk_b", "township_clerk", [TOWNSHIP_B], "李专干"),
            "admin": add_user(s, "admin", "county_admin", [COUNTY], "县管理员"),
            "cadre": add_user(s, "cadre_a", "village_cadre", [VILLAGE_A1], "王村干"),
            "cadre_b": add_user(s, "cadre_b", "village_cadre", [VILLAGE_B1], "赵村干"),
        }
        for code, name, level, parent in REGIONS:
            s.add(Region(code=code, name=name, level=level, parent_code=parent))
        s.add(CountyPolicy(county_code=COUNTY, monitoring_lines={
            str(last_year): LINE, str(today.year): LINE}))
        h1 = add_household(s, VILLAGE_A1, "赵大山", 1, **_monitoring(
            "monitored", "unstable", ["illness", "housing_unsafe"],
            today - dt.timedelta(days=200)))
        h2 = add_household(s, VILLAGE_A1, "钱二河", 2, **_monitoring(
            "monitored", "marginal", ["income_drop"], today, household_type="ordinary"))
        h3 = add_household(s, VILLAGE_A2, "孙三水", 3, **_monitoring(
            "eliminated", "sudden_hardship", ["disaster"], today - dt.timedelta(days=400),
            eliminated_on=today, elimination_method="assisted"))
        h4 = add_household(s, VILLAGE_A2, "李四海", 4, food_secure=True)
        h5 = add_household(s, VILLAGE_A1, "周五林", 5, water_secure=False)
        h6 = add_household(s, VILLAGE_A1, "吴六田", 6)
        b1 = add_household(s, VILLAGE_B1, "郑乙峰", 7, **_monitoring(
            "monitored", "unstable", ["illness"], today - dt.timedelta(days=10)))
        b2 = add_household(s, VILLAGE_B1, "冯乙河", 8)
        s.flush()
        s.add_all([
            _child(Measure, h1, category="health", status="done"),
            _child(Measure, h1, category="industry", status="planned"),
            _child(Measure, h2, category="employment", status="in_progress"),
            _child(IncomeItem, h4, year=last_year, category="wage", amount=3000),
            _child(IncomeItem, h4, year=last_year, category="business_cost", amount=500),
            _child(IncomeItem, h4, year=last_year - 1, category="wage", amount=90000),
            _child(IncomeItem, h5, year=last_year, category="wage", amount=100000),
            _child(IncomeItem, b1, year=last_year, category="wage", amount=100),
            _child(IncomeItem, b2, year=last_year, category="wage", amount=1000),
            _child(Visit, h1, visited_at=now - dt.timedelta(hours=1),
                   visitor_id=users["cadre"].id),
            _child(Visit, h1, visited_at=now - dt.timedelta(hours=2),
                   visitor_id=users["cadre"].id),
            _child(Visit, h4, visited_at=now - dt.timedelta(hours=3),
                   visitor_id=users["cadre"].id),
            _child(Visit, h6, visited_at=now - dt.timedelta(days=800),
                   visitor_id=users["cadre"].id),
            _child(Visit, b1, visited_at=now - dt.timedelta(hours=1),
                   visitor_id=users["cadre_b"].id),
        ])
        for i, code in enumerate(WUQING_V1.item_codes):
            s.add(_child(ChecklistItem, h1, template_code="wuqing.v1", item_code=code,
                         verdict="clear", checked_at=now))
            s.add(_child(ChecklistItem, h2, template_code="wuqing.v1", item_code=code,
                         verdict="unclear" if i == 0 else "clear", checked_at=now))
            # an older unclear verdict for h1, superseded by the clear one
            s.add(_child(ChecklistItem, h1, template_code="wuqing.v1", item_code=code,
                         verdict="unclear", checked_at=now - dt.timedelta(days=5)))
        s.add(_child(ChecklistItem, h3, template_code="wuqing.v1",
                     item_code=WUQING_V1.item_codes[0], verdict="clear", checked_at=now))
        s.add(_child(ChecklistItem, b1, template_code="wuqing.v1",
                     item_code=WUQING_V1.item_codes[0], verdict="unclear", checked_at=now))
        s.add_all([
            _child(Procedure, h1, kind="entry", source="screening", category="unstable",
                   stage="approved", proposed_on=today - dt.timedelta(days=210),
                   stage_at=now - dt.timedelta(days=200)),
            _child(Procedure, h2, kind="entry", source="self_report", category="marginal",
                   stage="approved", proposed_on=today - dt.timedelta(days=10), stage_at=now),
            _child(Procedure, h2, kind="entry", source="screening", category="marginal",
                   stage="withdrawn", proposed_on=today - dt.timedelta(days=20),
                   stage_at=now - dt.timedelta(days=15)),
            _child(Procedure, h5, kind="entry", source="department_alert", category="marginal",
                   stage="notice", proposed_on=today - dt.timedelta(days=30)),
            _child(Procedure, h6, kind="entry", source="self_report", category="marginal",
                   stage="proposed", proposed_on=today - dt.timedelta(days=2)),
        ])
        s.commit()
    return {**users, "today": today, "h": {"h1": h1, "h2": h2, "h3": h3, "h4": h4, "h5": h5,
                                           "h6": h6, "b1": b1, "b2": b2}}
