"""Read side of the monitoring procedures: a household's procedures for the read API and the
console's household page."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from server.queries.bundles import as_dict
from server.sync.values import TABLES


def household_procedures(session: Session, household_id: uuid.UUID) -> list[dict[str, Any]]:
    """The household's procedures (not deleted), oldest first."""
    t = TABLES["procedure"]
    rows = session.execute(sa.select(t).where(t.c.household_id == household_id, ~t.c.deleted)
                           .order_by(t.c.proposed_on, t.c.created_at)).mappings().all()
    return [as_dict("procedure", row) for row in rows]
