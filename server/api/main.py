"""Every router, combined in one place."""

from fastapi import APIRouter

from server.api.routes import (
    attachments,
    auth,
    cards,
    conflicts,
    health,
    households,
    procedures,
    reference,
    reports,
    sync,
    templates,
)
from server.console import routes as console

api_router = APIRouter()
for module in (health, auth, households, cards, sync, conflicts, attachments, reference, procedures,
               reports, templates,
               console):
    api_router.include_router(module.router)
