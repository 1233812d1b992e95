"""The embedded Postgres starts with settings sized for ruhu's writes (docs/operations.md)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import psycopg
import pytest

from server.db import embedded

GIB = 1024**3


def test_recommended_settings_follow_the_memory() -> None:
    assert embedded.recommended_settings(2 * GIB)["shared_buffers"] == "512MB"
    assert embedded.recommended_settings(64 * GIB)["shared_buffers"] == "4GB"  # capped, as shown
    assert embedded.recommended_settings(6 * GIB)["shared_buffers"] == "1536MB"
    assert embedded.recommended_settings(256 * 1024**2)["shared_buffers"] == "128MB"  # floor
    assert embedded.recommended_settings(GIB)["max_wal_size"] == "4GB"


def test_memory_is_the_container_limit_when_lower() -> None:
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert 0 < embedded.available_memory() <= physical


@pytest.mark.skipif(bool(os.environ.get("TEST_DATABASE_URL")), reason="an external server")
def test_embedded_server_runs_with_them_and_keeps_them_on_restart() -> None:
    wanted = embedded.recommended_settings()
    with tempfile.TemporaryDirectory(prefix="ruhu-test-tune-") as tmp:
        server, _url = embedded.start(Path(tmp) / "pg", cleanup_mode="delete")
        try:
            with psycopg.connect(server.get_uri()) as conn:
                shown = {name: conn.execute(f"SHOW {name}").fetchone() for name in wanted}
                started = conn.execute("SELECT pg_postmaster_start_time()").fetchone()
            assert shown == {name: (value,) for name, value in wanted.items()}
            again, _ = embedded.start(Path(tmp) / "pg", cleanup_mode="delete")
            assert again is server
            with psycopg.connect(server.get_uri()) as conn:  # already tuned: not restarted
                assert conn.execute("SELECT pg_postmaster_start_time()").fetchone() == started
        finally:
            server.cleanup()


def test_holders_that_no_longer_run_are_pruned(tmp_path: Path) -> None:
    """pgserver stops Postgres when its last holder exits; a holder that was killed stays in the
    list and no later holder would ever be the last. The list keeps only running processes."""
    import json
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        # this process has not opened the server in tmp_path: its pid there is a previous
        # process's (a container restart gives the same pid again)
        (tmp_path / embedded.HOLDERS_FILE).write_text(json.dumps([dead.pid, alive.pid,
                                                                  os.getpid()]))
        assert sorted(embedded.prune_stale_holders(tmp_path)) == sorted([dead.pid, os.getpid()])
        assert json.loads((tmp_path / embedded.HOLDERS_FILE).read_text()) == [alive.pid]
        assert embedded.prune_stale_holders(tmp_path) == []
    finally:
        alive.kill()
        alive.wait()
