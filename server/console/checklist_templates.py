"""五清核查模板 (county admin): the templates the county may use (and its retired versions), which
one it uses, choosing one, retiring (停用) a version of its own, and a new template version (a
blank form, or one filled from an existing template). The rules and the writes are
``server.checklist_templates`` (the API's too); this page only reads the form and shows the
refusal, with the row it concerns."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import Session

from server import checklist_templates as store
from server.api.deps import SessionDep
from server.console.common import village_names
from server.console.web import AdminDep, ConsoleRoute, CsrfChecked, not_found, redirect, render
from server.reference import county_policy, templates_for
from server.scope import Principal
from sync_protocol.errors import FieldError, RuhuError
from sync_protocol.templates import (
    COMPUTED_HINTS,
    MAX_ITEMS,
    TEMPLATES,
    next_version,
    retire_error,
    template_county,
)

router = APIRouter(route_class=ConsoleRoute)
PATH = "/console/checklist-templates"
NOTICES = {
    "created": "已新建模板版本。如需启用，请在上方“本县使用的模板”中选用。",
    "chosen": "已更换本县使用的五清模板，平板下次同步后按新模板核查。",
    "retired": "已停用该模板版本：不能再选用，已按此版本填写的核查记录保持不变。",
}
BLANK_ROWS = 3
_ROW = re.compile(r"^items\[(\d+)\]")


def _county(admin: Principal, county: str) -> str:
    if not county:
        return admin.county_codes[0] if admin.county_codes else ""
    if county not in admin.county_codes:
        raise not_found()
    return county


def _row_text(error: FieldError) -> str:
    """The refusal as the form shows it: which row (第N项) and why."""
    match = _ROW.match(error.field or "")
    return f"第{int(match.group(1)) + 1}项：{error.message}" if match else error.message


def _page(request: Request, session: Session, admin: Principal, county: str, *,
          status: int = 200, errors: list[str] | None = None,
          form: dict[str, Any] | None = None, notice: str = "") -> Response:
    rows = [t for t in templates_for(session, admin, retired=True)
            if template_county(str(t["code"])) in (None, county)]
    current = county_policy(session, county).checklist_template
    retirable = {str(t["code"]) for t in rows if t["active"] and retire_error(
        str(t["code"]), admin.county_codes, stored=True, in_use=t["code"] == current) is None}
    if form is None:
        form = {"code": next_version("wuqing.v1", county, store.all_codes(session)),
                "name": "", "items": []}
    names = village_names(session, admin)
    counties = [(c, f"{names[c + '000000']}（{c}）" if c + "000000" in names else c)
                for c in admin.county_codes]  # 驿城区（411702）
    shown = min(MAX_ITEMS, max(len(form["items"]) + BLANK_ROWS, 5))
    items = list(form["items"]) + [{}] * (shown - len(form["items"]))
    return render(request, "checklist_templates.html", status, active="checklist_templates",
                  templates=rows, current=current, retirable=retirable, county=county,
                  errors=errors or [],
                  form=form, items=items, hints=list(COMPUTED_HINTS.items()),
                  built_in=set(TEMPLATES), notice=NOTICES.get(notice, ""),
                  county_name=names.get(county + "000000", county), counties=counties)


@router.get("/checklist-templates")
def templates_page(request: Request, session: SessionDep, admin: AdminDep, county: str = "",
                   msg: str = "", base: str = "") -> Response:
    """The page; ``base``: fill the new-version form from that template (its next version)."""
    code = _county(admin, county)
    form = None
    if base:
        found = next((t for t in templates_for(session, admin, retired=True)
                      if t["code"] == base), None)
        if found is None:
            raise not_found()
        form = {"code": next_version(base, code, store.all_codes(session)),
                "name": found["name"], "items": list(found["items"])}
    return _page(request, session, admin, code, notice=msg, form=form)


def _form_template(form: Any) -> dict[str, Any]:
    """The template the form describes; rows left wholly blank are not items."""
    def text(name: str) -> str:
        value = form.get(name)
        return value.strip() if isinstance(value, str) else ""

    items = []
    for i in range(MAX_ITEMS):
        code, title, description = (text(f"item_code_{i}"), text(f"item_title_{i}"),
                                    text(f"item_description_{i}"))
        if not (code or title or description):
            continue
        items.append({"code": code, "title": title, "description": description,
                      "hint": text(f"item_hint_{i}") or None,
                      "secretary_only": bool(form.get(f"item_secretary_{i}"))})
    return {"code": text("code"), "name": text("name"), "items": items}


@router.post("/checklist-templates", dependencies=[CsrfChecked])
async def create_template(request: Request, session: SessionDep, admin: AdminDep) -> Response:
    form = await request.form()
    county = _county(admin, str(form.get("county") or ""))
    data = _form_template(form)
    try:
        store.create(session, admin, data, via="console")
    except RuhuError as exc:
        details = exc.extra.get("details") or [{"code": exc.code, "message": exc.message}]
        errors = [_row_text(FieldError(d["code"], d.get("field"), d["message"]))
                  for d in details]
        return _page(request, session, admin, county, status=exc.status_code, errors=errors,
                     form=data)
    return redirect(f"{PATH}?county={county}&msg=created")


@router.post("/checklist-templates/choose", dependencies=[CsrfChecked])
async def choose_template(request: Request, session: SessionDep, admin: AdminDep) -> Response:
    form = await request.form()
    county = _county(admin, str(form.get("county") or ""))
    try:
        store.choose(session, admin, county, str(form.get("code") or ""))
    except RuhuError as exc:
        return _page(request, session, admin, county, status=exc.status_code,
                     errors=[exc.message])
    return redirect(f"{PATH}?county={county}&msg=chosen")


@router.post("/checklist-templates/retire", dependencies=[CsrfChecked])
async def retire_template(request: Request, session: SessionDep, admin: AdminDep) -> Response:
    form = await request.form()
    county = _county(admin, str(form.get("county") or ""))
    try:
        store.retire(session, admin, str(form.get("code") or ""), via="console")
    except RuhuError as exc:
        return _page(request, session, admin, county, status=exc.status_code,
                     errors=[exc.message])
    return redirect(f"{PATH}?county={county}&msg=retired")
