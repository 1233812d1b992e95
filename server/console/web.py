"""Plumbing every console page shares: templates, the session cookie, CSRF, access checks.

Console pages are HTML, so the API's JSON errors do not suit them: ``ConsoleRoute`` turns
"not logged in" into a redirect to the login page, "wrong role" into a Chinese refusal page and
any ``RuhuError`` (and a malformed parameter or a value the database refuses, 422) into an
error page, and sets the double-submit CSRF cookie.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

from server.api.deps import TOKEN_COOKIE, SessionDep, SettingsDep, load_principal
from server.api.errors import DATA_ERRORS, log_data_error
from server.console import labels
from server.scope import Principal
from sync_protocol import display
from sync_protocol.enums import Role
from sync_protocol.errors import ErrorCode, RuhuError

HERE = Path(__file__).parent
CSRF_COOKIE = "ruhu_csrf"
CSRF_FIELD = "csrf_token"
DEVICE_COOKIE = "ruhu_console_device"
OFFICE_ROLES = (Role.township_clerk.value, Role.county_admin.value)

templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.globals.update(
    label=display.value_label,
    field_label=display.field_label,
    entity_label=display.entity_label,
    fmt_time=display.fmt_time,
    hlc_time=display.hlc_time,
    role_label=labels.role_label,
    describe=labels.describe_change,
    cval=labels.conflict_value,
)


class LoginRequired(Exception):
    """No valid console session: send the browser to the login page."""


class Refused(Exception):
    """Logged in, but this role may not use the page."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def render(request: Request, page: str, status_code: int = 200, /,
           **context: Any) -> HTMLResponse:
    context.setdefault("user", getattr(request.state, "principal", None))
    context["csrf_token"] = request.state.csrf
    return templates.TemplateResponse(request, page, context, status_code=status_code)


def _error_page(request: Request, exc: RuhuError | Refused) -> HTMLResponse:
    if isinstance(exc, Refused):
        return render(request, "refused.html", 403, message=exc.message)
    status = exc.status_code if 400 <= exc.status_code < 500 else 400
    return render(request, "error.html", status, message=exc.message, code=str(exc.code))


class ConsoleRoute(APIRoute):
    """Route class of the console router (see module docstring)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            fresh = CSRF_COOKIE not in request.cookies
            request.state.csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
            request.state.principal = None
            try:
                response = await handler(request)
            except LoginRequired:
                response = RedirectResponse(f"/console/login?next={request.url.path}", 303)
                response.delete_cookie(TOKEN_COOKIE, path="/")
            except (RuhuError, Refused) as exc:
                response = _error_page(request, exc)
            except RequestValidationError:  # a malformed parameter (say page=abc)
                response = _error_page(request, RuhuError(ErrorCode.request_malformed,
                                                          status_code=422))
            except DATA_ERRORS as exc:  # the console's net for what the database refuses
                log_data_error(request, exc)
                response = _error_page(request, RuhuError(ErrorCode.request_data_invalid,
                                                          status_code=422))
            if fresh:
                response.set_cookie(CSRF_COOKIE, request.state.csrf, httponly=True,
                                    samesite="strict", path="/console",
                                    secure=request.url.scheme == "https")
            response.headers.setdefault("Cache-Control", "no-store")
            response.headers.setdefault("X-Frame-Options", "DENY")
            return response

        return run


async def check_csrf(request: Request) -> None:
    """Double-submit check: the form's hidden token must equal the CSRF cookie."""
    if request.method != "POST":
        return
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    cookie = request.cookies.get(CSRF_COOKIE)
    if not cookie or not isinstance(sent, str) or not secrets.compare_digest(sent, cookie):
        raise Refused("页面已过期或请求来源不可信，请刷新页面后重试。")


CsrfChecked = Depends(check_csrf)


def console_user(request: Request, session: SessionDep, settings: SettingsDep) -> Principal:
    token = request.cookies.get(TOKEN_COOKIE)
    if not token:
        raise LoginRequired
    try:
        principal = load_principal(session, token, settings)
    except RuhuError as exc:
        raise LoginRequired from exc
    if principal.role not in OFFICE_ROLES:
        raise Refused("管理端仅供乡镇乡村振兴（防返贫）专干和县级管理员使用，"
                      "您的账号请使用平板端。")
    request.state.principal = principal
    return principal


def admin_user(principal: Annotated[Principal, Depends(console_user)]) -> Principal:
    if principal.role != Role.county_admin:
        raise Refused("此功能仅限县级管理员使用。")
    return principal


ClerkDep = Annotated[Principal, Depends(console_user)]
AdminDep = Annotated[Principal, Depends(admin_user)]


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def not_found() -> RuhuError:
    return RuhuError(ErrorCode.record_not_found, status_code=404)
