"""Placeholder: routes for attachments are added by the issue that owns them."""

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["attachments"])
