"""``GET /api/v1/reference``: regions in scope, 五清 templates, income lines, county policy."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from server.api.deps import CurrentUser, SessionDep
from server.reference import reference_payload

router = APIRouter(prefix="/api/v1", tags=["reference"])


@router.get("/reference")
def get_reference(session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    """Reference data for the signed-in user (any role), limited to their scopes."""
    return reference_payload(session, user)
