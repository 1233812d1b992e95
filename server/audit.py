"""Audit trail for exports, imports, logins and administration."""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel import Session

from server.db.tables import AuditLog


def audit(session: Session, user_id: uuid.UUID | None, action: str,
          detail: dict[str, Any] | None = None) -> None:
    """Record an action in the request's own transaction (it commits or rolls back with it)."""
    session.add(AuditLog(user_id=user_id, action=action, detail=detail or {}))
