"""Reference data a device or the console needs: regions in scope, 五清 templates, income lines,
county policy — and the defaults (template ``wuqing.v1``) every installation must have."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from server.db.tables import (
    AuditLog,
    ChecklistTemplate,
    CountyPolicy,
    IncomeLine,
    Region,
    utcnow,
)
from server.scope import Principal
from sync_protocol import policy as rules_mod
from sync_protocol.enums import LABELS
from sync_protocol.policy import CountyRules
from sync_protocol.templates import (
    DEFAULT_TEMPLATE_CODE,
    TEMPLATES,
    ChecklistTemplateDef,
    recordable_templates,
    stored_codes,
    template_county,
    template_from,
)

REFERENCE_VERSION = 1


def ensure_default_templates(session: Session) -> int:
    """Insert every built-in checklist template that is missing; returns how many were added.

    An existing row is never overwritten: a county may have edited its copy.
    """
    existing = set(session.exec(select(ChecklistTemplate.code)).all())
    added = 0
    for template in TEMPLATES.values():
        if template.code not in existing:
            session.add(_template_row(template))
            added += 1
    session.flush()
    return added


def ensure_defaults(engine: Engine) -> int:
    """``ensure_default_templates`` in its own transaction (``ruhu serve`` calls this on start)."""
    with Session(engine) as session:
        added = ensure_default_templates(session)
        session.commit()
    return added


def _template_row(template: ChecklistTemplateDef) -> ChecklistTemplate:
    data = template.to_dict()
    return ChecklistTemplate(code=data["code"], name=data["name"], items=data["items"])


def ancestors(code: str) -> list[str]:
    """The 12-digit codes of the province, city, county and township above a code or prefix."""
    out = []
    for length in (2, 4, 6, 9):
        if len(code) > length:
            out.append(code[:length].ljust(12, "0"))
    return out


def regions_for(session: Session, principal: Principal) -> list[dict[str, Any]]:
    """Every region inside the user's scopes, plus the regions above them (for names)."""
    above = {a for s in principal.scopes for a in ancestors(s)}
    rows = session.exec(
        select(Region)
        .where(sa.or_(principal.scope_clause(Region.code), Region.code.in_(above)))  # type: ignore[attr-defined]
        .order_by(Region.code)
    ).all()
    return [{"code": r.code, "name": r.name, "level": r.level, "parent": r.parent_code}
            for r in rows]


def templates(session: Session, *, retired: bool = False) -> list[dict[str, Any]]:
    """Active templates from the database; built-in ones fill in when the table lacks them. With
    ``retired``, the retired versions too (``active`` false): none may be chosen, but checks
    recorded against one are still read by its items."""
    rows = session.exec(select(ChecklistTemplate).order_by(ChecklistTemplate.code)).all()
    out = {r.code: {"code": r.code, "name": r.name, "items": r.items, "active": r.active}
           for r in rows}
    for code, template in TEMPLATES.items():
        out.setdefault(code, {**template.to_dict(), "active": True})
    ordered = sorted(out.items(), key=lambda kv: (kv[0] != DEFAULT_TEMPLATE_CODE, kv[0]))
    return [t for _code, t in ordered if retired or t["active"]]  # the default template first


def templates_for(session: Session, principal: Principal, *,
                  retired: bool = False) -> list[dict[str, Any]]:
    """The active templates a user's devices and console may use (with ``retired``, the retired
    ones too): the built-in ones, those of the user's counties and any stored before counties
    kept their own — not another county's."""
    counties = set(principal.county_codes)
    return [t for t in templates(session, retired=retired)
            if template_county(str(t["code"])) in (None, *counties)]


def template_codes(session: Session) -> frozenset[str]:
    """The codes of every active template (``policy.template_code``'s ``known``)."""
    return stored_codes(templates(session))


def retired_codes(session: Session) -> frozenset[str]:
    """The codes of the retired template versions (``templates.choice_error``'s ``retired``)."""
    return frozenset(session.exec(select(ChecklistTemplate.code).where(
        ChecklistTemplate.active.is_(False))).all())  # type: ignore[attr-defined]


def stored_templates(session: Session) -> dict[str, ChecklistTemplateDef]:
    """Every template by code as the database keeps it, retired versions too (a history names
    the items of checks recorded against any of them)."""
    return {str(t["code"]): ChecklistTemplateDef.from_dict(t)
            for t in templates(session, retired=True)}


def rules_checklist(session: Session, rules: CountyRules) -> ChecklistTemplateDef:
    """The template a county's rules name, as the database keeps it: the county's own one
    when its policy chose one (``policy.template``), ``wuqing.v1`` for a code the database does
    not know or that is another county's."""
    return rules_mod.template(rules, templates(session))


def checklist_template(session: Session, code: str) -> ChecklistTemplateDef:
    """The template of that code as the county keeps it in the database (built-in otherwise),
    a retired version too: the read API, the console and the exports show the same titles as
    the tablet, and a push judges an item by the template its ``template_code`` names."""
    return template_from(code, templates(session, retired=True))


def county_policy(session: Session, county_code: str) -> CountyPolicy:
    """The county's policy row, or the defaults when the county has none (not saved)."""
    row = session.get(CountyPolicy, county_code)
    return row if row is not None else CountyPolicy(county_code=county_code)


def monitoring_lines(session: Session, policy: CountyPolicy) -> dict[str, float]:
    """The monitoring income line by year: the province's (income_line.monitoring_amount),
    overridden by the county's own (county_policy.monitoring_lines)."""
    rows = session.exec(
        select(IncomeLine).where(IncomeLine.province == policy.county_code[:2],
                                 IncomeLine.monitoring_amount.is_not(None))  # type: ignore[union-attr]
    ).all()
    lines = {str(r.year): float(r.monitoring_amount) for r in rows
             if r.monitoring_amount is not None}
    lines.update({str(k): float(v) for k, v in (policy.monitoring_lines or {}).items()})
    return dict(sorted(lines.items()))


def policy_dict(session: Session, policy: CountyPolicy) -> dict[str, Any]:
    """A county's policy as devices, the console and ``GET /api/v1/policy`` see it."""
    return {
        "county_code": policy.county_code,
        "visit_interval_days": policy.visit_interval_days,
        "monitored_visit_interval_days": policy.monitored_visit_interval_days,
        "stale_after_days": policy.stale_after_days,
        "checklist_template": policy.checklist_template,
        "notice_days": policy.notice_days,
        "entry_deadline_days": policy.entry_deadline_days,
        "min_monitored_days": policy.min_monitored_days,
        "monitoring_lines": monitoring_lines(session, policy),
        "income_drop_share": policy.income_drop_share,
    }


def county_rules(session: Session, county_code: str) -> CountyRules:
    """The county's rules (visits, template, procedure policy with the monitoring lines) from
    the dict every face sees (``policy_dict``): the one way the server builds them."""
    county = county_code[:6]
    return CountyRules.of(policy_dict(session, county_policy(session, county)), county)


def county_checklist(session: Session, county_code: str) -> ChecklistTemplateDef:
    """The checklist template the county uses, as kept in the database."""
    return rules_checklist(session, county_rules(session, county_code))


def templates_used(session: Session, county_code: str) -> frozenset[str]:
    """The 五清 templates the county's policy named before, from the audit trail of its policy
    changes (``policy.update``: the template chosen and, since it is recorded, the one it
    replaced). A choice audited before the replaced one was recorded implies ``wuqing.v1``, the
    template every county starts on. Nothing audited: nothing but the current one."""
    changes = AuditLog.detail["changes"]["checklist_template"].astext  # type: ignore[index]
    previous = AuditLog.detail["previous"]["checklist_template"].astext  # type: ignore[index]
    rows = session.execute(
        sa.select(changes, previous).where(
            AuditLog.action == "policy.update",  # type: ignore[arg-type]
            AuditLog.detail["county_code"].astext == county_code,  # type: ignore[index]
            changes.is_not(None))).all()
    used = {code for row in rows for code in row if code}
    if any(before is None for _chosen, before in rows):
        used.add(DEFAULT_TEMPLATE_CODE)
    return frozenset(used)


def county_recordable(session: Session, county_code: str) -> dict[str, ChecklistTemplateDef]:
    """The templates a new 五清 item of a household of the county may be recorded against
    (``templates.recordable_templates``): its current one, every version of its own (retired ones
    too) and the templates its policy named before (``templates_used``). A few small queries;
    the push asks once per county a batch creates 五清 items in."""
    county = county_code[:6]
    rows = templates(session, retired=True)
    current = rules_mod.template(county_rules(session, county),
                                 [t for t in rows if t["active"]]).code
    return recordable_templates(county, current, rows, templates_used(session, county))


# Users one of whose scopes is a prefix of one of the user's (``?|``: the prefixes) or starts with
# one (the JSON text holds '"<scope>'): a cheap first cut over the users table; ``staff_for``
# keeps the rows whose scopes truly overlap.
_STAFF_SQL = sa.text(
    "SELECT u.id::text, u.name, u.role, u.unit, u.scopes FROM app_user u WHERE NOT u.disabled"
    " AND (u.scopes ?| CAST(:prefixes AS text[])"
    " OR u.scopes::text LIKE ANY(CAST(:patterns AS text[])))")


def staff_for(session: Session, principal: Principal) -> list[dict[str, Any]]:
    """Users whose scopes overlap the user's — one of theirs inside one of the user's, or the
    other way round (names for visitors and helpers; no contact data). Postgres makes the first
    cut: a province's users as ORM objects cost 50 ms and more per sync round
    (docs/performance.md, reference data)."""
    mine = principal.scopes
    prefixes = sorted({p[:n] for p in mine for n in range(1, len(p) + 1)})
    rows = session.execute(_STAFF_SQL, {
        "prefixes": prefixes,
        "patterns": ['%"' + p.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
                     for p in mine]}).all()
    out = [{"id": uid, "name": name, "role": role, "unit": unit}
           for uid, name, role, unit, scopes in rows
           if any(s.startswith(p) or p.startswith(s) for s in scopes or () for p in mine)]
    return sorted(out, key=lambda u: (u["role"], u["name"], u["id"]))  # the same order each time


def reference_tag(payload: dict[str, Any]) -> str:
    """The content tag of a reference payload: the first 32 hex digits of the SHA-256 of its
    canonical JSON (sorted keys, no spaces), ``generated_at`` and the tag itself left out. The
    same data gives the same tag on any server process; any change in it (a region, a template,
    the policy, the staff, the labels) gives another (docs/protocol.md, Reference data)."""
    body = {k: v for k, v in payload.items() if k not in ("generated_at", "tag")}
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def reference_payload(session: Session, principal: Principal) -> dict[str, Any]:
    """Everything a device or the console needs besides the records themselves, with its
    content ``tag`` (``reference_tag``)."""
    provinces = sorted({s[:2] for s in principal.scopes})
    lines = session.exec(
        select(IncomeLine)
        .where(IncomeLine.province.in_(provinces))  # type: ignore[attr-defined]
        .order_by(IncomeLine.province, IncomeLine.year)  # type: ignore[arg-type]
    ).all()
    payload: dict[str, Any] = {
        "version": REFERENCE_VERSION,
        "generated_at": utcnow().isoformat(),
        "regions": regions_for(session, principal),
        "checklist_templates": templates_for(session, principal),
        "income_lines": [
            {"province": r.province, "year": r.year, "amount": r.amount,
             "monitoring_amount": r.monitoring_amount}
            for r in lines
        ],
        "county_policies": [policy_dict(session, county_policy(session, c))
                            for c in principal.county_codes],
        "staff": staff_for(session, principal),
        "labels": {enum.__name__: labels for enum, labels in LABELS.items()},
    }
    payload["tag"] = reference_tag(payload)
    return payload
