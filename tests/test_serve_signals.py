"""``ruhu serve`` as a real process with the embedded Postgres: SIGTERM and SIGINT both stop
Postgres; holders that died are pruned; workers exit when the supervisor is killed (kill -9) and
a restart on the same port and data directory works (docs/operations.md, "Signals and workers")."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.live import free_port, wait_healthy

pytestmark = pytest.mark.slow

PASSWORD = "test-Passw0rd"


@pytest.fixture(scope="module")
def data_dir() -> Iterator[Path]:
    """One data directory for the module: every start after the first reuses it."""
    with tempfile.TemporaryDirectory(prefix="ruhu-test-serve-") as tmp:
        yield Path(tmp)
        _stop_leftover_postgres(Path(tmp) / "pgdata")


def _stop_leftover_postgres(pgdata: Path) -> None:
    pid = _postmaster_pid(pgdata)
    if pid is not None and _running(pid):
        os.kill(pid, signal.SIGQUIT)  # immediate shutdown: only after a failed test
        _wait_gone([pid], 30)


def _serve(data_dir: Path, port: int, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "TEST_DATABASE_URL", "RUHU_WORKERS")}
    env.update(RUHU_DATA_DIR=str(data_dir), RUHU_ENVIRONMENT="test")
    return subprocess.Popen(
        [sys.executable, "-c", "from server.cli import app; app()", "serve", "--demo",
         "--demo-password", PASSWORD, "--port", str(port), *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _postmaster_pid(pgdata: Path) -> int | None:
    try:
        return int((pgdata / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


def _running(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def _wait_gone(pids: list[int], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while any(_running(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def _holders(pgdata: Path) -> list[int]:
    path = pgdata / ".handle_pids.json"
    return json.loads(path.read_text()) if path.exists() else []


def _stop_and_check(proc: subprocess.Popen[str], sig: int, pgdata: Path) -> str:
    postmaster = _postmaster_pid(pgdata)
    assert postmaster is not None and _running(postmaster)
    proc.send_signal(sig)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output
    assert _wait_gone([postmaster], 10), f"Postgres {postmaster} still runs after {sig!r}"
    assert not (pgdata / "postmaster.pid").exists()
    assert proc.pid not in _holders(pgdata)
    assert "内置 PostgreSQL 已停止" in output
    return output


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_embedded_postgres(data_dir: Path, sig: int) -> None:
    port = free_port()
    proc = _serve(data_dir, port)
    try:
        wait_healthy(proc, port)
        assert _holders(data_dir / "pgdata") == [proc.pid]
        _stop_and_check(proc, sig, data_dir / "pgdata")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    # the data directory is reusable: the next start finds the demo data already there
    again = _serve(data_dir, port)
    try:
        wait_healthy(again, port)
        output = _stop_and_check(again, signal.SIGINT, data_dir / "pgdata")
        assert "演示数据已存在" in output
    finally:
        if again.poll() is None:
            again.kill()
            again.communicate()


def test_a_holder_that_died_is_pruned_and_postgres_still_stops(data_dir: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    pgdata = data_dir / "pgdata"
    pgdata.mkdir(parents=True, exist_ok=True)
    (pgdata / ".handle_pids.json").write_text(json.dumps([dead.pid]))
    port = free_port()
    proc = _serve(data_dir, port)
    try:
        wait_healthy(proc, port)
        assert _holders(pgdata) == [proc.pid]
        _stop_and_check(proc, signal.SIGINT, pgdata)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _workers(proc: subprocess.Popen[str]) -> list[int]:
    return [child.pid for child in psutil.Process(proc.pid).children()
            if "spawn_main" in " ".join(child.cmdline())]


def test_workers_exit_when_the_supervisor_is_killed(data_dir: Path) -> None:
    port = free_port()
    proc = _serve(data_dir, port, "--workers", "2")
    try:
        wait_healthy(proc, port)
        deadline = time.monotonic() + 30
        while len(workers := _workers(proc)) < 2:
            assert time.monotonic() < deadline, "two workers did not start"
            time.sleep(0.2)
        proc.kill()  # SIGKILL: nothing of the supervisor runs
        proc.communicate(timeout=10)
        assert _wait_gone(workers, 30), "workers still run after the supervisor was killed"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    # a restart on the same port and data directory: the dead supervisor is pruned, the port is
    # free, the Postgres left running is reused, and it stops with the new supervisor
    again = _serve(data_dir, port, "--workers", "2")
    try:
        wait_healthy(again, port)
        assert _holders(data_dir / "pgdata") == [again.pid]
        output = _stop_and_check(again, signal.SIGTERM, data_dir / "pgdata")
        assert "Address already in use" not in output
    finally:
        if again.poll() is None:
            again.kill()
            again.communicate()
