"""An embedded Postgres (the ``pgserver`` package) for when no DATABASE_URL is given."""

from __future__ import annotations

import json
import logging
import os
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
    prune_stale_holders(data_dir)
    server = pgserver.get_server(str(data_dir), cleanup_mode=cleanup_mode)
    _tune(server)
    log.info("embedded Postgres running with data in %s", data_dir)
    return server, sqlalchemy_url(server.get_uri())


def stop(server: Any) -> bool:
    """Release this process's hold on the embedded server: the last holder stops Postgres.
    Returns whether Postgres is stopped now (False: another process still uses it).

    pgserver also does this at exit (atexit), which a process killed by a signal never reaches;
    ``ruhu serve`` calls it itself once the server has stopped serving.
    """
    from pgserver.utils import PostmasterInfo

    server.cleanup()
    info = PostmasterInfo.read_from_pgdata(Path(server.pgdata))
    return info is None or not info.is_running()


HOLDERS_FILE = ".handle_pids.json"


def prune_stale_holders(data_dir: Path) -> list[int]:
    """Drop processes that no longer run from pgserver's list of the server's holders.

    pgserver keeps the pids of the processes using a data directory in ``.handle_pids.json`` and
    stops Postgres when the last of them exits. A holder killed without running its exit handlers
    (kill -9, an unhandled signal) stays in the list for ever, and then no later holder is ever
    the last one: Postgres would never be stopped again. Returns the pids removed.
    """
    from pgserver.postgres_server import PostgresServer

    holders = data_dir.expanduser().resolve() / HOLDERS_FILE
    with PostgresServer._lock:
        if not holders.exists():
            return []
        try:
            pids: list[int] = [int(pid) for pid in json.loads(holders.read_text() or "[]")]
        except (ValueError, TypeError):
            log.warning("unreadable %s, starting a new list", holders)
            holders.write_text("[]")
            return []
        # this process is a live holder only if it has already opened this server
        ours = data_dir.expanduser().resolve() in PostgresServer._instances
        stale = [pid for pid in pids if not _alive(pid) or (pid == os.getpid() and not ours)]
        if stale:
            holders.write_text(json.dumps([pid for pid in pids if pid not in stale]))
            log.info("removed exited processes %s from the embedded Postgres's holders", stale)
        return stale


def _alive(pid: int) -> bool:
    import psutil  # pgserver's dependency

    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # runs, as another user: leave it alone
        return True


def recommended_settings(memory_bytes: int | None = None) -> dict[str, str]:
    """Server settings for ruhu's write pattern (docs/operations.md says why).

    Postgres's defaults are sized for a tiny machine: 128 MB of shared buffers, so a county's
    working set does not fit and every push evicts dirty pages itself; and a checkpoint at least
    every 5 minutes or 1 GB of WAL, after which the first change to each page writes the whole
    page to the WAL again (a 500-change push wrote 8 MB of WAL right after one, 1.8 MB later).
    """
    if memory_bytes is None:
        memory_bytes = available_memory()
    buffers_mb = max(128, min(memory_bytes // 4, 4 * 1024**3) // 1024**2)
    # written as Postgres shows them (``SHOW``), so a restart can tell they are already set
    buffers = f"{buffers_mb // 1024}GB" if buffers_mb % 1024 == 0 else f"{buffers_mb}MB"
    return {"shared_buffers": buffers, "max_wal_size": "4GB", "checkpoint_timeout": "15min"}


def available_memory() -> int:
    """The machine's memory, or the container's limit when that is lower (cgroup v2 or v1)."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            limit = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if limit.isdigit():
            memory = min(memory, int(limit))
    return memory


RESTART_NEEDED = ("shared_buffers",)


def _tune(server: Any) -> None:
    """Apply ``recommended_settings`` to the embedded server (once per data directory: the
    first start restarts it, since shared buffers are only sized at start-up)."""
    import pgserver
    import psycopg

    wanted = recommended_settings()
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        current: dict[str, str] = dict(conn.execute(
            "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s)",
            [list(wanted)]).fetchall())
        differ = {k: v for k, v in wanted.items() if current.get(k) != v}
        for name, value in differ.items():
            conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
        if differ:
            conn.execute("SELECT pg_reload_conf()")
    if any(name in differ for name in RESTART_NEEDED):
        pg_ctl: Any = pgserver.pg_ctl  # type: ignore[attr-defined]  # made at import time
        pg_ctl(["-w", "-l", str(server.log), "restart"], pgdata=server.pgdata,
               user=server.system_user, timeout=60)
        server.ensure_postgres_running()  # re-reads postmaster.pid: the new process


def database_url(base_url: str, database: str) -> str:
    """The same server, another database."""
    from sqlalchemy.engine import make_url

    return make_url(base_url).set(database=database).render_as_string(hide_password=False)
