"""Login and logout: the API's accounts, a JWT in an HttpOnly SameSite=Strict cookie."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from server.api.deps import TOKEN_COOKIE, SessionDep, SettingsDep
from server.api.errors import error_headers
from server.api.routes.auth import authenticate, client_address
from server.audit import audit
from server.console.web import (
    DEVICE_COOKIE,
    OFFICE_ROLES,
    ClerkDep,
    ConsoleRoute,
    CsrfChecked,
    redirect,
    render,
)
from server.sessions import revoke_session, start_session
from sync_protocol.errors import RuhuError
from sync_protocol.validation import DEVICE_ID_RE

router = APIRouter(route_class=ConsoleRoute)


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/console/") and not target.startswith("//"):
        return target
    return "/console/conflicts"


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    return render(request, "login.html", next=_safe_next(next), error=None, username="")


@router.post("/login", dependencies=[CsrfChecked])
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    next: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    device_id = request.cookies.get(DEVICE_COOKIE) or ""
    if not DEVICE_ID_RE.match(device_id) or not device_id.startswith("console-"):
        device_id = "console-" + secrets.token_hex(6)
    try:
        user, device = authenticate(session, settings, username.strip(), password, device_id,
                                    client_address(request))
    except RuhuError as exc:
        page = render(request, "login.html", 429 if exc.status_code == 429 else 401,
                      next=_safe_next(next), error=exc.message, username=username)
        if exc.status_code == 429:
            page.headers.update(error_headers(exc))  # Retry-After
        return page
    if user.role not in OFFICE_ROLES:
        audit(session, user.id, "console_login_refused", {"role": user.role})
        return render(request, "refused.html", 403,
                      message="管理端仅供乡镇乡村振兴（防返贫）专干和县级管理员使用，您的账号请使用平板端。")
    token = start_session(session, settings, user.id, device.device_id, user.scope_version)
    audit(session, user.id, "console_login", {"device_id": device_id})
    response = redirect(_safe_next(next))
    secure = request.url.scheme == "https"
    response.set_cookie(TOKEN_COOKIE, token, max_age=settings.token_ttl_seconds, httponly=True,
                        samesite="strict", secure=secure, path="/")
    response.set_cookie(DEVICE_COOKIE, device_id, max_age=400 * 86400, httponly=True,
                        samesite="strict", secure=secure, path="/console")
    return response


@router.post("/logout", dependencies=[CsrfChecked])
def logout(session: SessionDep, user: ClerkDep) -> Response:
    """Revoke this browser's session server-side (the cookie alone could be replayed)."""
    revoke_session(session, user.session_id)
    audit(session, user.user_id, "console_logout", {"device_id": user.device_id})
    response = redirect("/console/login")
    response.delete_cookie(TOKEN_COOKIE, path="/")
    return response


@router.get("/")
def home(user: ClerkDep) -> Response:
    return redirect("/console/conflicts")
