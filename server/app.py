"""The FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from server import runtime
from server.api import deps, errors
from server.api.main import api_router
from server.backpressure import AdmissionLimits, SyncAdmission
from server.db.engine import make_engine
from server.limits import BodyLimitMiddleware, BodyLimits
from server.settings import Settings, get_settings
from server.sync.gzip import GzipRequestMiddleware, GzipResponseMiddleware, OneVaryMiddleware


def drop_query_strings(record: logging.LogRecord) -> bool:
    """Access logs without query strings: searches carry names and ID numbers (personal data)."""
    args = record.args
    if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
        record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
    return True


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    runtime.exit_with_parent()  # a worker of ``ruhu serve --workers N`` only
    if app.state.settings.gc_tuning:
        runtime.tune_gc()
    yield


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """Build the app; uses ``engine`` when given, else one from ``settings.database_url``."""
    settings = settings or get_settings()
    if engine is None:
        if not settings.database_url:
            raise RuntimeError("DATABASE_URL is not set (ruhu serve starts an embedded Postgres)")
        engine = make_engine(settings.database_url, settings.db_pool_size,
                             settings.db_pool_timeout,
                             transaction_pooling=settings.db_transaction_pooling)
    app = FastAPI(
        title="入户通 ruhu",
        description="一户一档、走访记录与五清核查的离线采集与同步服务",
        version="0.1.0",
        lifespan=_lifespan,
        dependencies=[deps.InputChecked],
    )
    app.state.settings = settings
    # routes read it through ``deps.app_settings`` (a dependency override would make FastAPI
    # analyse the override's signature again on every request)
    app.state.engine = engine
    errors.install(app)
    # when accepted (the sync routes encode their own: server.sync.encoding)
    app.add_middleware(GzipResponseMiddleware, minimum_size=1024, compresslevel=6)
    limits = BodyLimits(settings.attachment_max_bytes)
    app.add_middleware(GzipRequestMiddleware, limits=limits)  # inflate gzip bodies (bounded)
    # a bounded number of pushes and pulls at work per process, else 503 sync.busy + Retry-After
    app.add_middleware(SyncAdmission, limits=AdmissionLimits(
        settings.sync_concurrency, settings.sync_queue, settings.sync_wait_seconds,
        settings.sync_retry_after, settings.sync_pull_concurrency),
        token_secret=settings.secret_key)
    # over-limit bodies are refused before anything reads, parses or authenticates (only
    # OneVaryMiddleware, which reads nothing, is around it)
    app.add_middleware(BodyLimitMiddleware, limits=limits)
    # around everything, refusals of the layers above included: one Vary: Accept-Encoding
    app.add_middleware(OneVaryMiddleware)
    app.include_router(api_router)
    access = logging.getLogger("uvicorn.access")
    if drop_query_strings not in access.filters:  # here, so every worker process has it
        access.addFilter(drop_query_strings)
    return app
