"""A county's own 五清 templates on the server: adding a new version, and checking the one a county
chooses in its policy. The rules are ``sync_protocol.templates`` (``new_template``,
``choice_error``); this module only reads and writes the ``checklist_template`` table. A row once
added is never changed (tablets hold checklist items by its item codes): a change is a new version.
The API (``server.api.routes.templates``, ``PUT /api/v1/policy``) and the console
(``server.console.checklist_templates``) both come through here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, select

from server.audit import audit
from server.db.tables import ChecklistTemplate, CountyPolicy, utcnow
from server.reference import template_codes
from server.scope import Principal
from sync_protocol.errors import ErrorCode, FieldError, RuhuError
from sync_protocol.templates import (
    ChecklistTemplateDef,
    choice_error,
    new_template,
    template_county,
)

# refusals that are not a bad value: the code is taken, or the county is not the user's
_STATUS = {ErrorCode.template_exists: 409, ErrorCode.template_built_in: 409,
           ErrorCode.template_county_mismatch: 403}


def refusal(errors: list[FieldError]) -> RuhuError:
    """One error for the caller: the first problem's code and message, every problem listed."""
    first = errors[0]
    extra: dict[str, Any] = {"details": [e.to_dict() for e in errors]}
    if first.field:
        extra["field"] = first.field
    return RuhuError(first.code, first.message, status_code=_STATUS.get(first.code, 422),
                     extra=extra)


def all_codes(session: Session) -> set[str]:
    """Every stored code, inactive ones too: none is ever taken again."""
    return set(session.exec(select(ChecklistTemplate.code)).all())


def user_county(user: Principal, code: Any) -> str:
    """The county a template code is for when it is one of the user's, else the user's first
    (``new_template`` then refuses a code of another county)."""
    owner = template_county(code) if isinstance(code, str) else None
    if owner is not None and owner in user.county_codes:
        return owner
    return user.county_codes[0] if user.county_codes else ""


def create(session: Session, user: Principal, data: Any, *, via: str = "api"
           ) -> ChecklistTemplateDef:
    """Add a county's new template version (one row, in the request's transaction) or raise
    the refusal: every rule is checked before anything is written."""
    code = data.get("code") if isinstance(data, Mapping) else None
    template, errors = new_template(data, user_county(user, code), all_codes(session))
    if template is None:
        raise refusal(errors)
    row = template.to_dict()
    added = session.execute(
        insert(ChecklistTemplate).values(code=row["code"], name=row["name"], items=row["items"],
                                         active=True, updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["code"]))
    if not getattr(added, "rowcount", 0):  # added meanwhile by another request
        raise refusal([FieldError(ErrorCode.template_exists, "code")])
    audit(session, user.user_id, "template.create",
          {"code": template.code, "items": list(template.item_codes), "via": via})
    return template


def check_choice(session: Session, county_code: str, code: str) -> None:
    """Refuse a policy's ``checklist_template`` the county may not use: not a built-in one nor
    one the database holds, or another county's."""
    bad = choice_error(code, county_code, template_codes(session))
    if bad is not None:
        raise refusal([FieldError(bad, "checklist_template")])


def choose(session: Session, user: Principal, county_code: str, code: str, *,
           via: str = "console") -> None:
    """Set the county's ``checklist_template`` (checked first; audited as a policy change)."""
    check_choice(session, county_code, code)
    row = session.get(CountyPolicy, county_code)
    if row is None:
        row = CountyPolicy(county_code=county_code)
        session.add(row)
    row.checklist_template, row.updated_at = code, utcnow()
    session.flush()
    audit(session, user.user_id, "policy.update",
          {"county_code": county_code, "changes": {"checklist_template": code}, "via": via})
