"""Password hashing (argon2) and access tokens (JWT, HS256, with expiry and a ``jti``)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from sync_protocol.errors import ErrorCode, RuhuError

_hasher = PasswordHasher()
ALGORITHM = "HS256"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class TokenClaims:
    user_id: uuid.UUID
    device_id: str
    scope_version: int
    # the token's ``jti``: its ``auth_session`` row, which logout revokes (server/sessions.py)
    session_id: uuid.UUID | None = None


def create_token(claims: TokenClaims, secret: str, ttl_seconds: int) -> str:
    now = dt.datetime.now(dt.UTC)
    payload = {
        "sub": str(claims.user_id),
        "dev": claims.device_id,
        "sv": claims.scope_version,
        **({"jti": str(claims.session_id)} if claims.session_id else {}),
        "iat": now,
        "exp": now + dt.timedelta(seconds=ttl_seconds),
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


def decode_token(token: str, secret: str) -> TokenClaims:
    try:
        payload = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["exp"]})
        jti = payload.get("jti")
        return TokenClaims(
            uuid.UUID(payload["sub"]), str(payload["dev"]), int(payload.get("sv", 1)),
            uuid.UUID(jti) if isinstance(jti, str) else None,
        )
    except jwt.ExpiredSignatureError as exc:
        raise RuhuError(ErrorCode.auth_token_expired, status_code=401) from exc
    except (jwt.PyJWTError, KeyError, ValueError) as exc:
        raise RuhuError(ErrorCode.auth_token_invalid, status_code=401) from exc
