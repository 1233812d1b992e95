"""Migrations on a real, empty Postgres: up to head, down to base, up again; no model drift."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from server.db import migrate


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade_on_empty_database(fresh_database):
    url = fresh_database("ruhu_mig")
    assert _tables(url) == set()
    expected = {t.name for t in SQLModel.metadata.sorted_tables}

    migrate.upgrade(url)
    assert expected <= _tables(url)
    engine = sa.create_engine(url)
    try:
        assert migrate.current_revision(engine) == migrate.head_revision()
    finally:
        engine.dispose()

    migrate.downgrade(url, "base")
    assert _tables(url) <= {"alembic_version"}

    migrate.upgrade(url)
    assert expected <= _tables(url)


def test_models_and_migrations_do_not_drift(db_url):
    # what `alembic check` does: autogenerate against the migrated database finds nothing
    command.check(migrate.alembic_config(db_url))
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(ctx, SQLModel.metadata) == []
    finally:
        engine.dispose()
