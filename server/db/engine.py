"""The SQLAlchemy engine and sessions: one transaction per request."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session


def make_engine(url: str, pool_size: int = 10, pool_timeout: float = 30.0,
                max_overflow: int = 20, transaction_pooling: bool = False) -> Engine:
    """``transaction_pooling``: the URL points at pgbouncer in ``pool_mode = transaction``, where
    consecutive transactions of one connection may run on different server connections. psycopg
    then must not prepare statements (it does after 5 runs of one query, and the next
    transaction would not find them); everything else the server does is transaction-scoped
    (``SET LOCAL``, ``pg_advisory_xact_lock``, the pull's snapshot) and works unchanged."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    connect_args: dict[str, object] = {"prepare_threshold": None} if transaction_pooling else {}
    # hide_parameters: a database error's text (logged with the traceback of a 500) would carry
    # the statement's values, i.e. names, ID numbers and phones (docs/security.md, What is logged)
    return sa.create_engine(url, pool_size=pool_size, max_overflow=max_overflow,
                            pool_pre_ping=True,
                            pool_timeout=pool_timeout, hide_parameters=True,
                            connect_args=connect_args)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session whose transaction commits on success and rolls back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
