"""Issued tokens as revocable sessions: one ``auth_session`` row per token, named by its jti.

``load_principal`` (server/api/deps.py) reads the row by primary key in the same statement that
loads the user and device, so a revoked session is refused on its next request. Logging out
revokes one session; disabling a user or revoking a device revokes all of theirs, so that
re-enabling does not bring old tokens back. A user's expired rows are deleted at their next login.
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlmodel import Session

from server.db.tables import AuthSession, utcnow
from server.security import TokenClaims, create_token
from server.settings import Settings

_T: sa.Table = AuthSession.__table__  # type: ignore[attr-defined]


def start_session(session: Session, settings: Settings, user_id: uuid.UUID, device_id: str,
                  scope_version: int) -> str:
    """Record a new session in the request's transaction and return its signed token."""
    now = utcnow()
    ttl = settings.token_ttl_seconds
    session.execute(sa.delete(_T).where(_T.c.user_id == user_id, _T.c.expires_at < now))
    session_id = uuid.uuid4()
    session.execute(sa.insert(_T).values(
        id=session_id, user_id=user_id, device_id=device_id, issued_at=now,
        expires_at=now + dt.timedelta(seconds=ttl)))
    claims = TokenClaims(user_id, device_id, scope_version, session_id)
    return create_token(claims, settings.secret_key, ttl)


def _revoke(session: Session, *where: sa.ColumnElement[bool]) -> None:
    session.execute(sa.update(_T).where(*where, _T.c.revoked_at.is_(None))
                    .values(revoked_at=utcnow()))


def revoke_session(session: Session, session_id: uuid.UUID | None) -> None:
    if session_id is not None:
        _revoke(session, _T.c.id == session_id)


def revoke_user_sessions(session: Session, user_id: uuid.UUID) -> None:
    _revoke(session, _T.c.user_id == user_id)


def revoke_device_sessions(session: Session, user_id: uuid.UUID, device_id: str) -> None:
    _revoke(session, _T.c.user_id == user_id, _T.c.device_id == device_id)
