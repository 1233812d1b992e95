"""Every error leaves as ``{"error": {"code", "message", ...}}`` with a Chinese message."""

from __future__ import annotations

import logging

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from sync_protocol.entities import _field_error
from sync_protocol.errors import ErrorCode, RuhuError, message

log = logging.getLogger(__name__)

# What the database (or its driver) says about a value it cannot take: NUL in text, a number out
# of range, an unpaired surrogate. The values come from the request, so they are the caller's
# fault: 422 ``request.data_invalid`` (a 5xx would make the tablet retry forever). Input checks
# refuse these earlier; this is the net under them.
DATA_ERRORS: tuple[type[Exception], ...] = (sa_exc.DataError, psycopg.DataError, UnicodeEncodeError)


def log_data_error(request: Request, exc: Exception) -> None:
    # the type only: the message could quote the value, which may be personal data
    sqlstate = getattr(getattr(exc, "orig", exc), "sqlstate", None)
    log.warning("data error on %s %s: %s (sqlstate %s)", request.method, request.url.path,
                type(exc).__name__, sqlstate)

# The database cannot serve this request right now: the pool ran dry (its timeout), Postgres
# refused a connection (too many clients, starting up), or it is down or failing over. Not the
# caller's fault and not a bug: 503 with Retry-After, which the tablet waits out
# (server/backpressure.py, kivy_client/sync.py).


def busy_response(request: Request) -> JSONResponse:
    from server.backpressure import SYNC_PREFIX

    settings = getattr(request.app.state, "settings", None)
    retry_after = getattr(settings, "sync_retry_after", 2)
    code = ErrorCode.sync_busy if request.url.path.startswith(SYNC_PREFIX) else \
        ErrorCode.server_unavailable
    return JSONResponse({"error": {"code": str(code), "message": message(code),
                                   "retry_after": retry_after}}, 503,
                        headers={"Retry-After": str(retry_after)})


_HTTP_CODES = {
    401: ErrorCode.auth_not_authenticated,
    403: ErrorCode.auth_forbidden,
    404: ErrorCode.record_not_found,
    405: ErrorCode.request_malformed,
    413: ErrorCode.request_too_large,
}


def error_response(code: ErrorCode, status: int, **extra: object) -> JSONResponse:
    return JSONResponse({"error": {"code": str(code), "message": message(code), **extra}}, status)


def error_headers(exc: RuhuError) -> dict[str, str]:
    """401 names the scheme; a lock-out (429) says when to come back."""
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else {}
    if "retry_after" in exc.extra:
        headers["Retry-After"] = str(exc.extra["retry_after"])
    return headers


def install(app: FastAPI) -> None:
    @app.exception_handler(RuhuError)
    async def _ruhu(_request: Request, exc: RuhuError) -> JSONResponse:
        return JSONResponse(exc.body(), exc.status_code, headers=error_headers(exc) or None)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details = []
        for err in exc.errors()[:20]:
            loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
            fe = _field_error({"loc": loc[-1:] or (), "type": err.get("type", "")})
            details.append({"code": str(fe.code), "message": fe.message, "field": ".".join(loc)})
        return JSONResponse(
            {"error": {"code": str(ErrorCode.request_malformed),
                       "message": message(ErrorCode.request_malformed), "details": details}},
            422,
        )

    async def _data(request: Request, exc: Exception) -> JSONResponse:
        log_data_error(request, exc)
        return error_response(ErrorCode.request_data_invalid, 422)

    for kind in DATA_ERRORS:
        app.add_exception_handler(kind, _data)

    @app.exception_handler(sa_exc.TimeoutError)
    async def _pool_timeout(request: Request, exc: sa_exc.TimeoutError) -> JSONResponse:
        log.warning("no database connection within the pool timeout on %s", request.url.path)
        return busy_response(request)

    @app.exception_handler(sa_exc.OperationalError)
    async def _operational(request: Request, exc: sa_exc.OperationalError) -> JSONResponse:
        # Busy, down, restarting, failed over, connection lost mid-request: never the caller's
        # fault, and nothing was committed. 503 with Retry-After, which the tablet waits out.
        log.warning("database unavailable on %s (%s): %s", request.url.path,
                    getattr(exc.orig, "sqlstate", None), type(exc.orig).__name__)
        return busy_response(request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, ErrorCode.request_malformed)
        return error_response(code, exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return error_response(ErrorCode.internal_error, 500)
