"""Process-level set-up of server workers: garbage collector tuning, exit with the parent."""

from __future__ import annotations

import ctypes
import gc
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time

log = logging.getLogger(__name__)

# A push allocates about 100,000 short-lived dicts and tuples per 500 changes; reference counting
# frees nearly all of them. With CPython's default thresholds (700, 10, 10) the cyclic collector
# still ran a dozen times per push and, every few pushes, walked every object of the process:
# 16-20 ms of a push's 60-80 ms of Python time (bench/, docs/performance.md).
GC_THRESHOLDS = (50_000, 20, 20)


def tune_gc() -> None:
    """Freeze what start-up built (modules, app, caches: never garbage) out of the collector's
    walks, and collect young objects less often. Called once per worker at start-up."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


PARENT_POLL_SECONDS = 1.0
SHUTDOWN_GRACE_SECONDS = 20.0
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def exit_with_parent(use_prctl: bool = True) -> bool:
    """In a worker process (uvicorn ``--workers``), exit when the supervising process dies.

    A supervisor killed by SIGKILL cannot stop its workers, and they would keep serving the port,
    so a restart failed with "Address already in use". On Linux the kernel sends this process
    SIGTERM when its parent dies (prctl PR_SET_PDEATHSIG; uvicorn then shuts down gracefully);
    everywhere, a thread notices the parent's pid change, sends SIGTERM itself, and ends the
    process if the graceful shutdown takes longer than ``SHUTDOWN_GRACE_SECONDS``.
    Returns False (and does nothing) when this is not a child of a multiprocessing parent.
    ``use_prctl=False`` leaves only the thread (tests).
    """
    parent = multiprocessing.parent_process()
    if parent is None or parent.pid is None:
        return False
    parent_pid = parent.pid
    if use_prctl and sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
                log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
        except (OSError, AttributeError) as exc:
            log.warning("prctl(PR_SET_PDEATHSIG) unavailable: %s", exc)
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="ruhu-parent-watch",
                     daemon=True).start()
    return True


def _watch_parent(parent_pid: int) -> None:
    # the parent may have died before prctl was set: the first check runs at once
    while os.getppid() == parent_pid:
        time.sleep(PARENT_POLL_SECONDS)
    log.warning("supervising process %d has exited; worker %d stops", parent_pid, os.getpid())
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(SHUTDOWN_GRACE_SECONDS)
    log.error("worker %d did not stop within %.0f s of its parent's death; exiting",
              os.getpid(), SHUTDOWN_GRACE_SECONDS)
    os._exit(1)
