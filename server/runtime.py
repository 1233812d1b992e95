"""Process-level tuning for server workers."""

from __future__ import annotations

import gc

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
