"""Worker start-up: the garbage collector is tuned once the app has started."""

from __future__ import annotations

import gc

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
