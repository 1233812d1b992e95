"""Shared fixtures: a real Postgres (embedded via pgserver, or TEST_DATABASE_URL), migrated once
per test session; every test that uses ``db`` starts from empty tables."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from server.db import embedded, migrate
from server.db.engine import make_engine
from server.db.tables import Region, User
from server.security import hash_password
from server.settings import Settings

COUNTY = "411702"
TOWNSHIP_A = "411702105"
TOWNSHIP_B = "411702106"
VILLAGE_A1 = "411702105201"
VILLAGE_A2 = "411702105202"
VILLAGE_B1 = "411702106201"
PASSWORD = "test-Passw0rd"
SYNC_HEADERS = {"X-Ruhu-Protocol": "1", "X-Ruhu-App-Version": "0.1.0"}


def add_village_a1_regions(session: Session) -> None:
    """Add the regions above and of ``VILLAGE_A1`` (驿城区 / 老河乡 / 黄庄村) to ``session``
    (not committed): the names a one-village test world shows."""
    county, township = COUNTY + "000000", TOWNSHIP_A + "000"
    session.add(Region(code=county, name="驿城区", level="county", parent_code=None))
    session.add(Region(code=township, name="老河乡", level="township", parent_code=county))
    session.add(Region(code=VILLAGE_A1, name="黄庄村", level="village", parent_code=township))


@pytest.fixture(scope="session")
def pg_base_url() -> Iterator[str]:
    """A Postgres server URL: TEST_DATABASE_URL, or a throw-away embedded one."""
    if os.environ.get("TEST_DATABASE_URL"):
        yield embedded.sqlalchemy_url(os.environ["TEST_DATABASE_URL"])
        return
    with tempfile.TemporaryDirectory(prefix="ruhu-test-pg-") as tmp:
        server, url = embedded.start(Path(tmp) / "pg", cleanup_mode="delete")
        yield url
        server.cleanup()


def _create_database(base_url: str, name: str) -> str:
    admin = sa.create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return embedded.database_url(base_url, name)


@pytest.fixture(scope="session")
def fresh_database(pg_base_url: str):
    """A factory for empty databases on the test server (migration tests use it)."""

    def make(prefix: str = "ruhu_t") -> str:
        return _create_database(pg_base_url, f"{prefix}_{uuid.uuid4().hex[:8]}")

    return make


@pytest.fixture(scope="session")
def db_url(fresh_database) -> str:
    url = fresh_database("ruhu_test")
    migrate.upgrade(url)
    return url


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url, pool_size=25)
    yield eng
    eng.dispose()


ALL_TABLES = tuple(t.name for t in SQLModel.metadata.sorted_tables)


def empty_tables(engine: Engine, tables: tuple[str, ...] = ALL_TABLES) -> Engine:
    """TRUNCATE the tables (default: every table): the one database reset of the tests."""
    names = ", ".join(f'"{name}"' for name in tables)
    with engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    return engine


def make_settings(**overrides: Any) -> Settings:
    """The settings of a test app (a fixed test secret, no GC tuning), with ``overrides``."""
    return Settings(**{"environment": "test", "secret_key": "test-secret-" + "x" * 32,
                       "database_url": None, "gc_tuning": False, **overrides})


@pytest.fixture
def db(engine: Engine) -> Engine:
    """The test database with every table emptied."""
    return empty_tables(engine)


@pytest.fixture
def settings() -> Settings:
    return make_settings()


@pytest.fixture
def app(db: Engine, settings: Settings):
    from server.app import create_app

    return create_app(settings=settings, engine=db)


@pytest.fixture
def live_url(app) -> Iterator[str]:
    """The one live server of the tests: ``app`` (the emptied test database, the test settings)
    served by uvicorn on a thread (``tests.live.serve``); its base URL. Tests that need another
    app (other settings, a wrapped app) call ``serve`` with it."""
    from tests.live import serve

    with serve(app) as url:
        yield url


@pytest.fixture
def demo_db(db: Engine) -> Engine:
    """The emptied test database with the demo county (every demo user's password is
    ``PASSWORD``)."""
    from server.demo import seed_demo

    seed_demo(db, PASSWORD)
    return db


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def make_user(db: Engine):
    """Create a user in the database: ``make_user("cadre_a", "village_cadre", [VILLAGE_A1])``."""

    def make(username: str, role: str, scopes: list[str], *, name: str | None = None,
             password: str = PASSWORD, disabled: bool = False) -> User:
        user = User(username=username, name=name or username, role=role, scopes=scopes,
                    password_hash=hash_password(password), disabled=disabled)
        with Session(db, expire_on_commit=False) as session:
            session.add(user)
            session.commit()
        return user

    return make


@pytest.fixture
def login(client: TestClient):
    """Log in and return request headers (bearer token plus the sync protocol headers)."""

    def do(username: str, device_id: str = "tab-test", password: str = PASSWORD) -> dict[str, Any]:
        resp = client.post("/api/v1/auth/token", data={"username": username, "password": password,
                                                        "device_id": device_id})
        assert resp.status_code == 200, resp.text
        return {"Authorization": f"Bearer {resp.json()['access_token']}", **SYNC_HEADERS}

    return do


def demo_database(fresh_database, prefix: str, *, defaults: bool = False) -> Engine:
    """A database of its own, migrated, holding the demo county (password ``PASSWORD``; with
    ``defaults``, the reference defaults first, as ``ruhu serve`` writes them). Dispose it."""
    from server.demo import seed_demo
    from server.reference import ensure_defaults

    url = fresh_database(prefix)
    migrate.upgrade(url)
    eng = make_engine(url, pool_size=5)
    if defaults:
        ensure_defaults(eng)
    assert seed_demo(eng, password=PASSWORD) is not None
    return eng


@pytest.fixture(scope="session")
def demo_engine(fresh_database) -> Iterator[Engine]:
    """A separate database holding the demo county (seeded once, password ``PASSWORD``).

    Tests must only read from it: it is shared by every test of the session.
    """
    eng = demo_database(fresh_database, "ruhu_demo")
    yield eng
    eng.dispose()


@pytest.fixture
def demo_client(demo_engine: Engine, settings: Settings) -> Iterator[TestClient]:
    """A TestClient on the demo database (``login`` does not apply: use ``demo_login``)."""
    from server.app import create_app

    with TestClient(create_app(settings=settings, engine=demo_engine)) as c:
        yield c


@pytest.fixture
def demo_login(demo_client: TestClient):
    """Log a demo user in on ``demo_client`` and return request headers."""

    def do(username: str, device_id: str = "tab-demo") -> dict[str, Any]:
        resp = demo_client.post("/api/v1/auth/token", data={
            "username": username, "password": PASSWORD, "device_id": device_id})
        assert resp.status_code == 200, resp.text
        return {"Authorization": f"Bearer {resp.json()['access_token']}", **SYNC_HEADERS}

    return do
