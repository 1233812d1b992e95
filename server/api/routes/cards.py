"""明白卡 (一户一档) PDFs for anyone whose scope covers the household (a village cadre: their
villages; docs/reports.md, 明白卡)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import Response

from server import cards
from server.api.deps import CurrentUser, SessionDep

router = APIRouter(prefix="/api/v1", tags=["cards"])
PDF: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/pdf": {}}, "description": "PDF (A4)"},
    404: {"description": "not found, deleted or outside the caller's scope"}}


@router.get("/households/{household_id}/card.pdf", response_class=Response, responses=PDF,
            summary="明白卡（一户一档）PDF")
def household_card(session: SessionDep, user: CurrentUser,
                   household_id: Annotated[str, Path(max_length=40)]) -> Response:
    """One household's 明白卡: ID numbers show their last four characters only; no phone of the
    household, bank account or health. Audited as an export (kind ``card``)."""
    return cards.household_card(session, user, household_id)


@router.get("/villages/{village}/cards.pdf", response_class=Response, responses=PDF,
            summary="整村明白卡 PDF")
def village_cards(session: SessionDep, user: CurrentUser,
                  village: Annotated[str, Path(max_length=20, description="12位行政村代码")]
                  ) -> Response:
    """Every household of a village in scope, one card from a new page each (at most 2,000:
    422 ``card.too_many``). Audited as an export (kind ``card.village``)."""
    return cards.village_cards(session, user, village)
