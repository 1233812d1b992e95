"""五清 templates: ``GET /api/v1/templates`` (any signed-in user: the templates their county may
use, as the reference data carries them; ``?retired=true`` adds the retired versions),
``POST /api/v1/templates`` (county admin: a new template version for their county; others 403)
and ``POST /api/v1/templates/{code}/retire`` (county admin of the version's county: no county may
choose it any more). A template is never edited: no PUT, no DELETE. A county chooses its template
with ``PUT /api/v1/policy`` (``checklist_template``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path

from server import checklist_templates
from server.api.deps import CurrentUser, SessionDep, require_roles
from server.reference import templates_for
from server.scope import Principal
from sync_protocol.enums import Role
from sync_protocol.templates import TEMPLATES, template_county

router = APIRouter(prefix="/api/v1", tags=["templates"])
CountyAdmin = Annotated[Principal, Depends(require_roles(Role.county_admin))]


def template_json(row: dict[str, Any]) -> dict[str, Any]:
    code = str(row["code"])
    return {**row, "built_in": code in TEMPLATES, "county_code": template_county(code)}


@router.get("/templates")
def list_templates(session: SessionDep, user: CurrentUser,
                   retired: bool = False) -> dict[str, Any]:
    """The active templates the user's counties may use (built-in ones first); ``retired``:
    the retired versions too (``active`` false), whose titles old checks still show."""
    items = [template_json(t) for t in templates_for(session, user, retired=retired)]
    return {"items": items, "total": len(items)}


@router.post("/templates", status_code=201)
def create_template(session: SessionDep, user: CountyAdmin,
                    data: Annotated[Any, Body()]) -> dict[str, Any]:
    """A new template version for the admin's county: ``code`` (``<county code>.<name>.v<N>``),
    ``name``, ``items`` (1..20: ``code``, ``title``, optional ``description``, ``hint`` and
    ``secretary_only``). 422 with ``details`` for bad values, 409 ``template.exists`` /
    ``template.built_in`` for a taken code, 403 ``template.county_mismatch`` for another
    county's; nothing is written then."""
    template = checklist_templates.create(session, user, data)
    return template_json({**template.to_dict(), "active": True})


@router.post("/templates/{code}/retire")
def retire_template(session: SessionDep, user: CountyAdmin,
                    code: Annotated[str, Path(max_length=100)]) -> dict[str, Any]:
    """Retire a version of the admin's county (``active`` false; again: unchanged, 200): it can
    no longer be chosen, checks recorded against it keep it. 404 ``template.not_found``, 403
    ``template.not_own`` (another county's, or one kept before counties had their own), 409
    ``template.in_use`` (the county's policy uses it: choose another first) or
    ``template.built_in_kept``."""
    return template_json(checklist_templates.retire(session, user, code))
