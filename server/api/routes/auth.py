"""``POST /api/v1/auth/token`` (OAuth2 password form plus ``device_id``), ``.../refresh`` and
``.../logout``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from server.api.deps import CurrentUser, SessionDep, SettingsDep
from server.audit import audit
from server.db.tables import Device, User, utcnow
from server.login_throttle import LoginAttempt
from server.security import hash_password, verify_password
from server.sessions import revoke_session, start_session
from server.settings import Settings
from sync_protocol.errors import ErrorCode, RuhuError
from sync_protocol.validation import DEVICE_ID_RE
from sync_protocol.wire import TokenResponse, TokenUser

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

# Verifying against a fixed hash when the user is unknown keeps response times alike, so a
# caller cannot tell which usernames exist.
_DUMMY_HASH = hash_password("ruhu-timing-equaliser")


def client_address(request: Request) -> str:
    """The caller's address as uvicorn reports it: behind a reverse proxy, uvicorn's
    ``--forwarded-allow-ips`` must name the proxy, or every caller shares the proxy's address
    (docs/operations.md)."""
    return request.client.host if request.client else "unknown"


def authenticate(session: Session, settings: Settings, username: str, password: str,
                 device_id: str, address: str,
                 app_version: str | None = None) -> tuple[User, Device]:
    """Check credentials and register (or refresh) the device; raise 401 on any refusal and
    429 ``auth.locked_out`` while the account or address is throttled (server/login_throttle)."""
    if not DEVICE_ID_RE.match(device_id or ""):
        raise RuhuError(ErrorCode.auth_device_id_invalid, status_code=400)
    engine = session.get_bind()
    assert isinstance(engine, Engine)
    attempt = LoginAttempt.begin(engine, settings, username, address)
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        verify_password(_DUMMY_HASH, password)
        raise RuhuError(ErrorCode.auth_invalid_credentials, status_code=401)
    if not verify_password(user.password_hash, password):
        attempt.failed(user.id, {"device_id": device_id})
        raise RuhuError(ErrorCode.auth_invalid_credentials, status_code=401)
    attempt.succeeded()
    if user.disabled:
        raise RuhuError(ErrorCode.auth_user_disabled, status_code=401)
    device = session.exec(
        select(Device).where(Device.user_id == user.id, Device.device_id == device_id)
    ).first()
    if device is None:
        device = Device(device_id=device_id, user_id=user.id, app_version=app_version)
        session.add(device)
    elif device.revoked:
        raise RuhuError(ErrorCode.auth_device_revoked, status_code=401)
    device.last_seen = utcnow()
    if app_version:
        device.app_version = app_version
    session.flush()
    return user, device


@router.post("/token", response_model=TokenResponse)
def issue_token(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    device_id: Annotated[str, Form(max_length=64)],
    app_version: Annotated[str | None, Form(max_length=30)] = None,
) -> TokenResponse:
    user, device = authenticate(session, settings, username, password, device_id,
                                client_address(request), app_version)
    token = start_session(session, settings, user.id, device.device_id, user.scope_version)
    audit(session, user.id, "login", {"device_id": device_id})
    return TokenResponse(
        access_token=token,
        expires_in=settings.token_ttl_seconds,
        user=TokenUser(id=str(user.id), name=user.name, role=user.role, scopes=list(user.scopes)),
    )


@router.post("/refresh", response_model=TokenResponse)
def refresh_token(session: SessionDep, settings: SettingsDep, user: CurrentUser) -> TokenResponse:
    """A still-valid token for a new one with a fresh lifetime, without the password: the
    tablet renews before expiry while it has a signal, so its user need not log in again. The
    old session is revoked (one live token per renewal); a disabled user, a revoked device or
    an ended session cannot renew (``CurrentUser`` refuses them with 401)."""
    revoke_session(session, user.session_id)
    token = start_session(session, settings, user.user_id, user.device_id, user.scope_version)
    audit(session, user.user_id, "token_refresh", {"device_id": user.device_id})
    return TokenResponse(
        access_token=token,
        expires_in=settings.token_ttl_seconds,
        user=TokenUser(id=str(user.user_id), name=user.name, role=user.role,
                       scopes=list(user.scopes)),
    )


@router.post("/logout", status_code=204)
def logout(session: SessionDep, user: CurrentUser) -> Response:
    """Revoke the token this request carries; the user's other sessions stay valid."""
    revoke_session(session, user.session_id)
    audit(session, user.user_id, "logout", {"device_id": user.device_id})
    return Response(status_code=204)
