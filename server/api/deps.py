"""Dependencies every route uses: the request's transaction, the current user, role checks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from sqlalchemy.engine import Connection
from sqlmodel import Session

from server.db.engine import session_scope
from server.scope import Principal
from server.security import TokenClaims, decode_token
from server.settings import Settings
from server.sync.sql import raw
from sync_protocol import PROTOCOL_VERSION
from sync_protocol.errors import ErrorCode, RuhuError, message
from sync_protocol.input_rules import has_control_chars

TOKEN_COOKIE = "ruhu_token"


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed when the route returns, rolled back on error.

    The engine is the serving app's own (``app.state.engine``), so several apps in one process
    (tests, benchmarks) never share or swap databases.
    """
    with session_scope(request.app.state.engine) as session:
        yield session


def app_settings(request: Request) -> Settings:
    """The serving app's own settings (set by ``create_app``)."""
    settings: Settings = request.app.state.settings
    return settings


# "function": the transaction commits before the response is sent. FastAPI's default ("request")
# runs this exit after sending, so a tablet could hear "applied" before its change was committed,
# and a login's answer could arrive before its device row existed
# (tests/test_commit_before_response.py).
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(app_settings)]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get(TOKEN_COOKIE)


def load_principal(session: Session, token: str | None, settings: Settings) -> Principal:
    """Decode the token and check, against the database, that its session, user and device are
    still allowed (one statement, by primary keys)."""
    claims = _claims(token, settings)
    # one plain statement on the request's connection: this runs on every request, pushes included
    with raw(session).cursor() as cur:
        cur.execute(PRINCIPAL_SQL, [claims.session_id, claims.user_id, claims.device_id])
        row = cur.fetchone()
    return _principal(row, claims)


def bearer_principal(request: Request, settings: Settings
                     ) -> Callable[[Connection], Principal]:
    """``load_principal`` for a route that runs its own transaction (the pull): the token is
    decoded now (a bad one is refused before any connection is taken), the statement runs on
    the connection it is given, as that transaction's first."""
    claims = _claims(_bearer(request), settings)

    def on(conn: Connection) -> Principal:
        return _principal(conn.exec_driver_sql(
            PRINCIPAL_SQL, (claims.session_id, claims.user_id, claims.device_id)).first(), claims)

    return on


def _claims(token: str | None, settings: Settings) -> TokenClaims:
    if not token:
        raise RuhuError(ErrorCode.auth_not_authenticated, status_code=401)
    claims = decode_token(token, settings.secret_key)
    if claims.session_id is None:  # issued before sessions were recorded (migration 0006)
        raise RuhuError(ErrorCode.auth_token_invalid, status_code=401)
    return claims


def _principal(row: Any, claims: TokenClaims) -> Principal:
    if row is None:
        raise RuhuError(ErrorCode.auth_token_invalid, status_code=401)
    user_id, username, name, role, scopes, scope_version, disabled, revoked, ended = row
    if disabled:
        raise RuhuError(ErrorCode.auth_user_disabled, status_code=401)
    if revoked:
        raise RuhuError(ErrorCode.auth_device_revoked, status_code=401)
    if ended:
        raise RuhuError(ErrorCode.auth_session_ended, status_code=401)
    return Principal(user_id=user_id, username=username, name=name, role=role,
                     scopes=tuple(scopes), device_id=claims.device_id,
                     scope_version=scope_version, session_id=claims.session_id)


PRINCIPAL_SQL = (
    "SELECT u.id, u.username, u.name, u.role, u.scopes, u.scope_version, u.disabled, d.revoked, "
    "s.revoked_at IS NOT NULL "
    "FROM auth_session s JOIN app_user u ON u.id = s.user_id "
    "JOIN device d ON d.user_id = s.user_id AND d.device_id = s.device_id "
    "WHERE s.id = %s::uuid AND s.user_id = %s::uuid AND s.device_id = %s"
)


def get_principal(request: Request, session: SessionDep, settings: SettingsDep) -> Principal:
    return load_principal(session, _bearer(request), settings)


CurrentUser = Annotated[Principal, Depends(get_principal)]


def require_roles(*roles: str) -> Callable[[Principal], Principal]:
    """A dependency that lets only the given roles call the endpoint (403 otherwise)."""

    def check(user: CurrentUser) -> Principal:
        if user.role not in roles:
            raise RuhuError(ErrorCode.auth_forbidden, status_code=403)
        return user

    return check


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("-")[0].split("+")[0].split("."):
        parts.append(int(piece) if piece.isdigit() else 0)
    return tuple(parts)


def check_protocol(
    settings: SettingsDep,
    x_ruhu_protocol: Annotated[str | None, Header()] = None,
    x_ruhu_app_version: Annotated[str | None, Header()] = None,
) -> None:
    """Version negotiation for sync endpoints: a client we can no longer serve gets 426."""
    extra = {"min_app_version": settings.min_app_version}
    if x_ruhu_protocol is None or x_ruhu_app_version is None:
        raise RuhuError(ErrorCode.protocol_header_missing, status_code=426, extra=extra)
    if x_ruhu_protocol.strip() != str(PROTOCOL_VERSION):
        raise RuhuError(ErrorCode.protocol_version_unsupported, status_code=426, extra=extra)
    try:
        too_old = _version_tuple(x_ruhu_app_version) < _version_tuple(settings.min_app_version)
    except ValueError:
        too_old = True
    if too_old:
        raise RuhuError(ErrorCode.protocol_app_too_old, status_code=426, extra=extra)


ProtocolChecked = Depends(check_protocol)


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _control_char(where: str, name: str) -> RuhuError:
    code = ErrorCode.validation_control_char
    return RuhuError(code, f"{where}“{name[:30]}”：{message(code)}", status_code=422,
                     extra={"field": name[:60]})


async def reject_control_chars(request: Request) -> None:
    """App-wide dependency: refuse control characters in query parameters, path parameters and
    form fields (names and values) before any route code, or the database, sees them. Query and
    path values are single-line; form values may be multi-line (a note). JSON bodies are checked
    by their models' field types (``sync_protocol.input_rules``)."""
    for name, value in request.query_params.multi_items():
        if has_control_chars(name) or has_control_chars(value):
            raise _control_char("查询参数", name if not has_control_chars(name) else "?")
    for name, value in request.path_params.items():
        if isinstance(value, str) and has_control_chars(value):
            raise _control_char("地址参数", name)
    if request.method in ("POST", "PUT", "PATCH") and request.headers.get(
            "content-type", "").lower().startswith(FORM_TYPES):
        form = await request.form()  # cached: the route (or FastAPI) reads the same parse
        for name, item in form.multi_items():
            if has_control_chars(name) or (
                    isinstance(item, str) and has_control_chars(item, multiline=True)):
                raise _control_char("表单字段", name if not has_control_chars(name) else "?")


InputChecked = Depends(reject_control_chars)
