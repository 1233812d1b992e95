"""An embedded Postgres (the ``pgserver`` package) for when no DATABASE_URL is given."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def sqlalchemy_url(uri: str) -> str:
    """pgserver's ``postgresql://…`` URI → a SQLAlchemy URL for the psycopg 3 driver."""
    if uri.startswith("postgresql://"):
        return "postgresql+psycopg://" + uri[len("postgresql://") :]
    return uri


def start(data_dir: Path, cleanup_mode: str | None = "stop") -> tuple[Any, str]:
    """Start (or reuse) Postgres keeping its data in ``data_dir``; returns (server, URL).

    ``cleanup_mode="stop"`` stops Postgres when the process exits but keeps the data;
    ``"delete"`` removes the data too (tests).
    """
    import pgserver

    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(str(data_dir), cleanup_mode=cleanup_mode)
    log.info("embedded Postgres running with data in %s", data_dir)
    return server, sqlalchemy_url(server.get_uri())


def database_url(base_url: str, database: str) -> str:
    """The same server, another database."""
    from sqlalchemy.engine import make_url

    return make_url(base_url).set(database=database).render_as_string(hide_password=False)
