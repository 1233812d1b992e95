"""More than one server behind pgbouncer in transaction pooling (Debian's ``pgbouncer``).

Two app servers (live uvicorn, each its own engine, as separate machines would be) reach one
Postgres through pgbouncer with ``pool_mode = transaction`` and fewer server connections than
the apps hold, so consecutive transactions of one app connection run on different server
connections. Devices push to one server and pull from the other: everything arrives exactly once,
and a cursor made on one server continues on the other. psycopg must not prepare statements
there (``RUHU_DB_TRANSACTION_POOLING``): without it the sixth run of one query fails.

Skipped when pgbouncer is not installed (``apt-get install pgbouncer``)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlmodel import Session

from server.db.engine import make_engine
from server.db.tables import Device, User
from server.sessions import start_session
from tests.conftest import SYNC_HEADERS, VILLAGE_A1, make_settings
from tests.devices import SimDevice
from tests.live import free_port, serve

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
pytestmark = pytest.mark.skipif(not os.path.exists(PGBOUNCER), reason="pgbouncer not installed")


@pytest.fixture
def bouncer_url(db, db_url) -> Iterator[str]:
    """pgbouncer in transaction pooling in front of the test database; yields its URL."""
    url = make_url(db_url)
    socket_dir = url.query.get("host") or url.host
    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix="ruhu-pgbouncer-"))
    owner = Path(str(socket_dir)).stat().st_uid if str(socket_dir).startswith("/") else None
    ini = tmp / "pgbouncer.ini"
    ini.write_text(f"""[databases]
ruhu = host={socket_dir} port={url.port or 5432} dbname={url.database} user={url.username}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = 3
max_client_conn = 200
logfile = {tmp}/pgbouncer.log
pidfile = {tmp}/pgbouncer.pid
""")
    tmp.chmod(0o755)
    ini.chmod(0o644)
    cmd = [PGBOUNCER, str(ini)]
    if os.geteuid() == 0:  # pgbouncer refuses to run as root: as the owner of the socket
        import pwd

        cmd[1:1] = ["-u", pwd.getpwuid(owner if owner is not None else 65534).pw_name]
        os.chown(tmp, owner or 65534, -1)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    bouncer = (f"postgresql+psycopg://{url.username}@127.0.0.1:{port}/ruhu")
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                eng = sa.create_engine(bouncer, poolclass=sa.pool.NullPool)
                with eng.connect() as conn:
                    conn.execute(sa.text("SELECT 1"))
                eng.dispose()
                break
            except sa.exc.OperationalError as exc:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log = tmp / "pgbouncer.log"
                    raise RuntimeError("pgbouncer did not start: " + (
                        log.read_text() if log.exists() else "")) from exc
                time.sleep(0.1)
        yield bouncer
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


def _token(db, settings, user: User, device_id: str) -> dict[str, str]:
    with Session(db) as session:
        session.add(Device(device_id=device_id, user_id=user.id))
        session.flush()
        token = start_session(session, settings, user.id, device_id, user.scope_version)
        session.commit()
    return {"Authorization": f"Bearer {token}", **SYNC_HEADERS}


def test_prepared_statements_need_transaction_pooling_settings(bouncer_url) -> None:
    """psycopg prepares a query on its sixth run; through transaction pooling the next
    transaction lands on another server connection that does not know it."""
    plain = make_engine(bouncer_url, pool_size=1, max_overflow=0)
    pooled = make_engine(bouncer_url, pool_size=1, max_overflow=0, transaction_pooling=True)
    others = [make_engine(bouncer_url, pool_size=1, max_overflow=0, transaction_pooling=True)
              for _ in range(2)]

    def run(engine) -> None:
        for i in range(12):
            # other clients hold one or two server connections while this transaction runs:
            # pgbouncer hands it a different one from one transaction to the next
            with contextlib.ExitStack() as stack:
                for other in others[: 1 + i % 2]:
                    held = stack.enter_context(other.begin())
                    held.execute(sa.text("SELECT pg_backend_pid()"))
                with engine.begin() as conn:
                    conn.execute(sa.text("SELECT count(*) FROM device WHERE device_id = :d"),
                                 {"d": f"x{i}"})

    try:
        run(pooled)  # fine
        with pytest.raises(sa.exc.ProgrammingError, match="prepared statement"):
            run(plain)
    finally:
        for e in (plain, pooled, *others):
            e.dispose()


def test_two_servers_through_pgbouncer_sync_end_to_end(db, bouncer_url, make_user) -> None:
    from server.app import create_app

    settings = make_settings(db_transaction_pooling=True)
    cadre = make_user("cadre_pgb", "village_cadre", [VILLAGE_A1])
    clerk = make_user("secretary_pgb", "first_secretary", [VILLAGE_A1])
    engines = [make_engine(bouncer_url, pool_size=4, max_overflow=0, transaction_pooling=True)
               for _ in range(2)]
    try:
        apps = [create_app(settings=settings, engine=e) for e in engines]
        with serve(apps[0], lifespan="off") as url1, serve(apps[1], lifespan="off") as url2:
            one = httpx.Client(base_url=url1, timeout=60)
            two = httpx.Client(base_url=url2, timeout=60)
            a = SimDevice(one, _token(db, settings, cadre, "pgb-a"), "pgb-a")
            b = SimDevice(two, _token(db, settings, clerk, "pgb-b"), "pgb-b")
            households = [a.create("household", {"village_code": VILLAGE_A1,
                                                 "head_name": f"户主{i}"}) for i in range(8)]
            for i, hh in enumerate(households):
                a.create("member", {"household_id": hh, "name": f"成员{i}"})
            a.push_all()
            b.pull()
            assert len(b.live_ids("household")) == 8 and len(b.live_ids("member")) == 8
            # many rounds, each query run far more than psycopg's prepare threshold
            for round_ in range(6):
                a.update("household", households[round_], {"address": f"甲{round_}"})
                b.update("household", households[round_ + 1], {"phone": f"1380000000{round_}"})
                a.push_all()
                b.push_all()
                # the devices switch servers: a cursor made on one continues on the other
                a.http, b.http = b.http, a.http
                a.pull()
                b.pull()
            for hh in households:
                assert a.records[("household", hh)].fields == b.records[("household", hh)].fields
            with db.connect() as conn:
                rows = conn.execute(sa.text(
                    "SELECT change_id, count(*) FROM change_log GROUP BY change_id "
                    "HAVING count(*) > 1")).all()
            assert rows == []  # nothing applied twice
            one.close()
            two.close()
    finally:
        for e in engines:
            e.dispose()
