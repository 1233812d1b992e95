"""Console fixtures: a scoped world with two townships, and a logged-in browser-like client."""

from __future__ import annotations

import datetime as dt
import functools
import re
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from server.db.tables import (
    ChangeLog,
    ChecklistItem,
    Conflict,
    CountyPolicy,
    Household,
    Member,
    Region,
    User,
    Visit,
)
from server.security import hash_password
from sync_protocol.validation import build_id_number
from tests.conftest import (
    COUNTY,
    PASSWORD,
    TOWNSHIP_A,
    TOWNSHIP_B,
    VILLAGE_A1,
    VILLAGE_A2,
    VILLAGE_B1,
)

REGIONS = [
    (COUNTY + "000000", "驿城区", "county", None),
    (TOWNSHIP_A + "000", "老河乡", "township", COUNTY + "000000"),
    (TOWNSHIP_B + "000", "蚁蜂镇", "township", COUNTY + "000000"),
    (VILLAGE_A1, "黄庄村", "village", TOWNSHIP_A + "000"),
    (VILLAGE_A2, "李湾村", "village", TOWNSHIP_A + "000"),
    (VILLAGE_B1, "王岗村", "village", TOWNSHIP_B + "000"),
]


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


def console_login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log in through the form like a browser; returns the CSRF token for later posts."""
    page = client.get("/console/login")
    token = csrf_of(page.text)
    resp = client.post("/console/login", data={"username": username, "password": password,
                                               "csrf_token": token, "next": ""},
                       follow_redirects=False)
    assert resp.status_code == 303, resp.text
    return token


def add_household(session: Session, village: str, head: str, seq: int, **extra: Any) -> Household:
    hh = Household(id=uuid.uuid4(), village_code=village, head_name=head,
                   head_id_number=build_id_number(COUNTY, dt.date(1970, 1, 1), seq),
                   phone=f"1380000{seq:04d}", bank_account=f"6228480000{seq:08d}",
                   poverty_status="exited", household_number=f"HH{seq:05d}", **extra)
    session.add(hh)
    session.flush()
    session.add(Member(id=uuid.uuid4(), household_id=hh.id, village_code=village, name=head,
                       id_number=hh.head_id_number, relation="head", gender="male"))
    return hh


@functools.cache
def password_hash() -> str:
    """One argon2 hash for every fixture user: hashing is deliberately slow."""
    return hash_password(PASSWORD)


def add_user(session: Session, username: str, role: str, scopes: list[str], name: str) -> User:
    user = User(username=username, name=name, role=role, scopes=scopes,
                password_hash=password_hash())
    session.add(user)
    session.flush()
    return user


@pytest.fixture
def world(db: Engine) -> dict[str, Any]:
    """Regions, a clerk per township, a county admin, a cadre, households and conflicts."""
    with Session(db, expire_on_commit=False) as s:
        clerk_a = add_user(s, "clerk_a", "township_clerk", [TOWNSHIP_A], "张专干")
        clerk_b = add_user(s, "clerk_b", "township_clerk", [TOWNSHIP_B], "李专干")
        admin = add_user(s, "admin", "county_admin", [COUNTY], "县管理员")
        cadre = add_user(s, "cadre_a", "village_cadre", [VILLAGE_A1], "王村干")
        out: dict[str, Any] = {"clerk_a": clerk_a, "clerk_b": clerk_b, "admin": admin,
                               "cadre": cadre}
        for code, name, level, parent in REGIONS:
            s.add(Region(code=code, name=name, level=level, parent_code=parent))
        s.add(CountyPolicy(county_code=COUNTY, visit_interval_days=90,
                           monitored_visit_interval_days=30, stale_after_days=180))
        a1 = add_household(s, VILLAGE_A1, "赵大山", 1, group_name="东组")
        a2 = add_household(s, VILLAGE_A2, "钱二河", 2)
        b1 = add_household(s, VILLAGE_B1, "孙乙峰", 3)
        s.add(Visit(id=uuid.uuid4(), household_id=a1.id, village_code=VILLAGE_A1,
                    visited_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=3), purpose="走访",
                    notes="家中一切正常", lat=32.97, lng=114.02, visitor_id=cadre.id))
        s.add(ChecklistItem(id=uuid.uuid4(), household_id=a1.id, village_code=VILLAGE_A1,
                            template_code="wuqing.v1", item_code="base_file",
                            verdict="clear"))
        for hh, who in ((a1, cadre), (b1, cadre)):
            s.add(ChangeLog(entity="household", record_id=hh.id, household_id=hh.id,
                            village_code=hh.village_code, op="upsert", version=1,
                            user_id=who.id, device_id="tab-1",
                            changes={"phone": [None, hh.phone]}))
        conflicts = {}
        for key, hh in (("a1", a1), ("b1", b1)):
            c = Conflict(kind="field", entity="household", record_id=hh.id, household_id=hh.id,
                         village_code=hh.village_code, field="phone", base_version=1,
                         base_value="13800000000", server_value="13900000001",
                         server_user_id=cadre.id, server_device_id="tab-1",
                         server_hlc="1763884800123-0001-tab-1", client_value="13700000002",
                         client_user_id=cadre.id, client_device_id="tab-2",
                         client_hlc="1763884800000-0001-tab-2")
            s.add(c)
            conflicts[key] = c
        s.commit()
    out.update(a1=a1, a2=a2, b1=b1, conflict_a1=conflicts["a1"], conflict_b1=conflicts["b1"])
    return out
