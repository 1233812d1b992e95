"""Worker start-up: the garbage collector is tuned once the app has started; a worker exits
when its supervising process dies."""

from __future__ import annotations

import gc

import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from server.runtime import GC_THRESHOLDS


def test_app_start_up_tunes_the_garbage_collector(db, settings) -> None:
    before = gc.get_threshold()
    try:
        app = create_app(settings.model_copy(update={"gc_tuning": True}), engine=db)
        with TestClient(app) as client:
            assert client.get("/health").status_code == 200
            assert gc.get_threshold() == GC_THRESHOLDS
            assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_exit_with_parent_does_nothing_outside_a_worker() -> None:
    from server.runtime import exit_with_parent

    assert exit_with_parent() is False  # pytest is nobody's multiprocessing child


def _worker_main(use_prctl: bool) -> None:  # a stand-in worker, in a spawned process
    import signal

    from server.runtime import exit_with_parent

    assert exit_with_parent(use_prctl=use_prctl)
    print("ready", flush=True)
    signal.pause()


_SUPERVISOR = """
import multiprocessing, sys, time
from tests.test_runtime import _worker_main
spawn = multiprocessing.get_context("spawn")
child = spawn.Process(target=_worker_main, args=(sys.argv[1] == "1",))
child.start()
print(child.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("use_prctl", [True, False], ids=["prctl", "polling-thread"])
def test_a_worker_exits_when_its_supervisor_is_killed(use_prctl: bool) -> None:
    """Real processes: a supervisor starts a worker, then dies by SIGKILL; the worker follows."""
    import subprocess
    import sys

    import psutil

    supervisor = subprocess.Popen([sys.executable, "-c", _SUPERVISOR, "1" if use_prctl else "0"],
                                  stdout=subprocess.PIPE, text=True)
    try:
        assert supervisor.stdout is not None
        worker = psutil.Process(int(supervisor.stdout.readline()))
        assert supervisor.stdout.readline().strip() == "ready"  # exit_with_parent was called
        assert worker.is_running() and worker.ppid() == supervisor.pid
    finally:
        supervisor.kill()
        supervisor.wait()
    try:
        worker.wait(timeout=15)
    except psutil.TimeoutExpired:
        worker.kill()
        pytest.fail("the worker outlived its supervisor")
