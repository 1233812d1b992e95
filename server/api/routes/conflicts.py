"""Placeholder: routes for conflicts are added by the issue that owns them."""

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["conflicts"])
