"""A county's own 五清 templates on the server: adding a new version, checking the one a county
chooses in its policy, and retiring a version made by mistake. The rules are
``sync_protocol.templates`` (``new_template``, ``choice_error``, ``retire_error``); this module
only reads and writes the ``checklist_template`` table. A row once added is never changed
(tablets hold checklist items by its item codes) but for being retired: a change is a new version.
The API (``server.api.routes.templates``, ``PUT /api/v1/policy``) and the console
(``server.console.checklist_templates``) both come through here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, select

from server.audit import audit
from server.db.tables import ChecklistTemplate, CountyPolicy, utcnow
from server.reference import county_checklist, retired_codes, template_codes
from server.scope import Principal
from sync_protocol.errors import ErrorCode, FieldError, RuhuError
from sync_protocol.templates import (
    ChecklistTemplateDef,
    choice_error,
    new_template,
    retire_error,
    template_county,
)

# refusals that are not a bad value: the code is taken or kept, or the county is not the user's
_STATUS = {ErrorCode.template_exists: 409, ErrorCode.template_built_in: 409,
           ErrorCode.template_county_mismatch: 403, ErrorCode.template_not_own: 403,
           ErrorCode.template_built_in_kept: 409, ErrorCode.template_in_use: 409}


def refusal(errors: list[FieldError], status: int | None = None) -> RuhuError:
    """One error for the caller: the first problem's code and message, every problem listed."""
    first = errors[0]
    extra: dict[str, Any] = {"details": [e.to_dict() for e in errors]}
    if first.field:
        extra["field"] = first.field
    return RuhuError(first.code, first.message,
                     status_code=status or _STATUS.get(first.code, 422), extra=extra)


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


def _locked(session: Session, code: str, *, share: bool) -> ChecklistTemplate | None:
    """The stored row of that code, locked until the transaction ends: a choice of a version
    (shared lock) and its retirement (exclusive) wait for each other, so no policy is left
    naming a retired version. Read committed: what this transaction reads next is current."""
    return session.exec(
        select(ChecklistTemplate).where(ChecklistTemplate.code == code)
        .with_for_update(read=share).execution_options(populate_existing=True)).first()


def check_choice(session: Session, county_code: str, code: str) -> None:
    """Refuse a policy's ``checklist_template`` the county may not use: not a built-in one nor
    one the database holds, another county's, or a retired version."""
    _locked(session, code, share=True)
    bad = choice_error(code, county_code, template_codes(session), retired_codes(session))
    if bad is not None:
        raise refusal([FieldError(bad, "checklist_template")])


def retire(session: Session, user: Principal, code: str, *, via: str = "api") -> dict[str, Any]:
    """Retire one of the user's counties' own template versions (``retire_error``; again: no
    change) and return it (``active`` false), or raise the refusal (404 for a code the database
    does not hold). Nothing else changes: checks recorded against it keep their template."""
    row = _locked(session, code, share=False)
    owner = template_county(code)
    in_use = owner is not None and session.exec(
        select(CountyPolicy.checklist_template).where(CountyPolicy.county_code == owner)
    ).first() == code
    bad = retire_error(code, user.county_codes, stored=row is not None, in_use=in_use)
    if bad is not None:
        raise refusal([FieldError(bad, "code")],
                      404 if bad == ErrorCode.template_not_found else None)
    assert row is not None  # retire_error refuses a code the database does not hold
    if row.active:
        row.active, row.updated_at = False, utcnow()
        session.flush()
        audit(session, user.user_id, "template.retire", {"code": code, "via": via})
    return {"code": row.code, "name": row.name, "items": row.items, "active": row.active}


def choose(session: Session, user: Principal, county_code: str, code: str, *,
           via: str = "console") -> None:
    """Set the county's ``checklist_template`` (checked first; audited as a policy change)."""
    check_choice(session, county_code, code)
    previous = in_use(session, county_code)
    row = session.get(CountyPolicy, county_code)
    if row is None:
        row = CountyPolicy(county_code=county_code)
        session.add(row)
    row.checklist_template, row.updated_at = code, utcnow()
    session.flush()
    audit(session, user.user_id, "policy.update",
          {"county_code": county_code, "changes": {"checklist_template": code},
           "previous": {"checklist_template": previous}, "via": via})


def in_use(session: Session, county_code: str) -> str:
    """The code of the template the county uses now (what its tablets were given). A policy
    change that chooses another records it as ``previous`` in its audit entry: checks recorded
    on it offline stay acceptable (``server.reference.templates_used``)."""
    return county_checklist(session, county_code).code
