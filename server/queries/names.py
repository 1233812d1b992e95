"""Names for ids: the one look-up of user names behind the read API, the console and conflicts."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from server.db.tables import User

_USERS = User.__table__  # type: ignore[attr-defined]


def user_names(db: Any, ids: Iterable[Any]) -> dict[Any, str]:
    """``{id: name}`` of the users among ``ids`` (UUIDs or their text; others are skipped), keyed
    by both the UUID and its text so callers can look up either. ``db``: a session or a
    connection."""
    wanted: set[uuid.UUID] = set()
    for value in ids:
        if not value:
            continue
        try:
            wanted.add(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
        except ValueError:
            continue
    if not wanted:
        return {}
    out: dict[Any, str] = {}
    for uid, name in db.execute(sa.select(_USERS.c.id, _USERS.c.name)
                                .where(_USERS.c.id.in_(wanted))).all():
        out[uid] = out[str(uid)] = name
    return out
