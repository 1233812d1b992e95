"""Monitoring procedures in the push path: the pure machine (``sync_protocol.procedure``) judged
against the server's current, locked rows.

``records.run`` calls in at three points:

* before locking: ``households_of`` finds the household of every procedure a batch changes, so
  that household row is locked too (households are locked first: no deadlocks). Every procedure
  change of a household therefore runs after the one before it, and is judged from the stage
  that one left — two devices moving the same procedure can never both be applied.
* before each merge: ``gate`` refuses a device's change to a household's derived monitoring
  fields (``procedure.field_derived``), and judges a procedure change (stage moves, roles,
  conditions; ``procedure.stage_changed`` when the device had not seen the current stage). It
  stamps ``stage_by``/``stage_at`` on every move.
* after a merge that approved a procedure: ``apply_approval`` writes the household's derived
  fields and the status event into the same batch (same transaction, versions, change log), so
  devices get them on their next pull.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

import sqlalchemy as sa
from sqlmodel import Session

from server.reference import county_rules
from server.sync.batch import Origin, server_hlc
from server.sync.values import TABLES
from sync_protocol import procedure as machine
from sync_protocol.entities import to_python
from sync_protocol.errors import ErrorCode
from sync_protocol.merge import DELETE, UPSERT, Incoming, Outcome, Stored, hlc_device, merge
from sync_protocol.policy import china_today

# origins whose household writes may set the monitoring fields: a county admin's import
DERIVED_WRITERS = frozenset({Origin.IMPORT})
# household columns the rules read (read with the household's lock)
HOUSEHOLD_FACT_COLUMNS = frozenset({"household_type", "monitoring_status", "monitoring_since",
                                    *machine.DERIVED_FIELDS})
EVENT_NAMESPACE = uuid.UUID("6f1c2a52-93a4-4f63-9a57-0c3f1e0d5a13")


class Change(Protocol):
    """What ``gate`` needs of a prepared change (``records.Prepared``)."""

    entity: str
    record_id: str | None
    op: str
    base_version: int | None
    fields: dict[str, Any]
    hlc: str

    def reject(self, code: ErrorCode, fld: str | None = None, message: str = "") -> None: ...


class State(Protocol):
    """What ``gate`` needs of a record's batch state (``records.RecState``)."""

    entity: str
    id: str
    stored: Stored | None
    village_code: str | None
    household_id: str | None


@dataclass
class Context:
    """The batch's view of the households its procedure changes touch."""

    today: dt.date
    members: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    incomes: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    procedures: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    # the households' visits (a procedure may cite one: ``visit_id``)
    visits: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    policies: dict[str, machine.ProcedurePolicy] = field(default_factory=dict)
    # procedure id -> verdict of its latest judged change (``apply_approval`` reads it)
    approved: dict[str, bool] = field(default_factory=dict)


def households_of(session: Session, procedure_ids: list[str]) -> dict[str, str]:
    """procedure id -> household id, for the procedures that exist (one query, no lock)."""
    if not procedure_ids:
        return {}
    t = TABLES["procedure"]
    rows = session.execute(sa.select(sa.cast(t.c.id, sa.Text), sa.cast(t.c.household_id, sa.Text))
                           .where(t.c.id.in_([uuid.UUID(i) for i in procedure_ids]))).all()
    return {r[0]: r[1] for r in rows}


def lock_households(session: Session, changes: list[Any], floors: dict[str, dict[str, int]],
                    no_change: int) -> set[str] | None:
    """The households of a batch's procedure changes (None: it has none), added to the rows the
    batch locks (``floors``): a procedure's household is locked with it, so its changes run one
    after the other."""
    if not changes:
        return None
    owners = set(households_of(session, list(floors["procedure"])).values())
    owners |= {str(p.fields["household_id"]) for p in changes
               if isinstance(p.fields.get("household_id"), uuid.UUID)}
    for household_id in owners:
        floors["household"].setdefault(household_id, no_change)
    return owners


def load_context(session: Session, household_ids: set[str] | None,
                 states: dict[tuple[str, str], Any]) -> Context | None:
    """Members, incomes and procedures of the households, and their counties' policies (one
    query per table); None when the batch has no procedure change."""
    if household_ids is None:
        return None
    ctx = Context(today=china_today())
    if not household_ids:
        return ctx
    counties = {(st.village_code or "")[:6] for (e, h), st in states.items()
                if e == "household" and h in household_ids}
    ids = [uuid.UUID(h) for h in household_ids]
    wanted = {"member": ("labor_ability",), "income_item": ("year", "category", "amount"),
              "procedure": ("kind", "stage"), "visit": ("withdrawn",)}
    targets = {"member": ctx.members, "income_item": ctx.incomes, "procedure": ctx.procedures,
               "visit": ctx.visits}
    for entity, columns in wanted.items():
        t = TABLES[entity]
        rows = session.execute(
            sa.select(sa.cast(t.c.id, sa.Text).label("id"),
                      sa.cast(t.c.household_id, sa.Text).label("household_id"), t.c.deleted,
                      *[t.c[c] for c in columns])
            .where(t.c.household_id.in_(ids))).mappings()
        for found in rows:
            targets[entity].setdefault(found["household_id"], {})[found["id"]] = dict(found)
    for county in counties:
        ctx.policies[county] = county_rules(session, county).procedures
    return ctx


def _rows(base: dict[str, dict[str, Any]], states: dict[tuple[str, str], Any], entity: str,
          household_id: str) -> list[dict[str, Any]]:
    """The rows of a household's children: the database's, overlaid by this batch's states."""
    rows = {rid: dict(row) for rid, row in base.items()}
    for (name, rid), st in states.items():
        if name == entity and st.household_id == household_id and st.stored is not None:
            rows[rid] = {**rows.get(rid, {}), **st.stored.values, "id": rid,
                         "deleted": st.stored.deleted}
    return list(rows.values())


def _facts(ctx: Context, states: dict[tuple[str, str], Any], household_id: str,
           ) -> machine.HouseholdFacts:
    head = states.get(("household", household_id))
    values = head.stored.values if head is not None and head.stored is not None else {}
    return machine.household_facts(
        values,
        _rows(ctx.members.get(household_id, {}), states, "member", household_id),
        _rows(ctx.incomes.get(household_id, {}), states, "income_item", household_id),
        _rows(ctx.procedures.get(household_id, {}), states, "procedure", household_id),
    )


def _visit(ctx: Context, states: dict[tuple[str, str], Any], household_id: str,
           visit_id: str) -> dict[str, Any] | None:
    """A visit the procedure cites, if it is one of the household's (this batch's state first)."""
    rows = {r["id"]: r for r in _rows(ctx.visits.get(household_id, {}), states, "visit",
                                      household_id)}
    return rows.get(visit_id)


def _stale_stage(p: Change, st: State, origin: Origin) -> bool:
    """The writer moves the stage without having seen its current value: someone else moved
    it since the change's base version. A device's own earlier moves do not count; every
    server-side write shares the server's clock, so there the base version alone decides."""
    assert st.stored is not None
    version = st.stored.field_versions.get("stage", 0)
    if version <= (p.base_version or 0):
        return False
    return origin is not Origin.DEVICE or \
        hlc_device(st.stored.field_hlcs.get("stage")) != hlc_device(p.hlc)


def gate(p: Change, st: State | None, role: str, user_id: Any, origin: Origin,
         states: dict[tuple[str, str], Any], ctx: Context | None, now: dt.datetime) -> bool:
    """Judge a change before its merge; False when it was refused (``p`` then holds the
    refusal). May add the server-stamped fields to ``p.fields``."""
    if p.entity == "household":
        if origin in DERIVED_WRITERS or p.op == DELETE:
            return True
        current = st.stored.values if st is not None and st.stored is not None else None
        refusal = machine.derived_field_refusal(current, p.fields)
        if refusal is not None:
            p.reject(refusal.code or ErrorCode.procedure_field_derived, refusal.field,
                     refusal.message)
            return False
        return True
    if p.entity != "procedure":
        return True
    assert ctx is not None
    existing = st is not None and st.stored is not None
    household_id: str = ((st.household_id if existing and st is not None else None)
                         or str(p.fields.get("household_id") or ""))
    head = states.get(("household", household_id))
    county = (head.village_code if head is not None else "") or ""
    policy = ctx.policies.get(county[:6], machine.ProcedurePolicy())
    facts = _facts(ctx, states, household_id)
    current = None
    if existing:
        assert st is not None and st.stored is not None
        if st.stored.deleted:
            p.reject(ErrorCode.procedure_closed)
            return False
        if "stage" in p.fields and p.op != DELETE and _stale_stage(p, st, origin):
            p.reject(ErrorCode.procedure_stage_changed, "stage")
            return False
        current = st.stored.values
    sent = {k: v for k, v in p.fields.items() if k not in machine.SERVER_STAMPED}
    verdict = machine.judge(current, sent, role, facts, policy, ctx.today, record_id=p.record_id,
                            deleting=p.op == DELETE)
    if verdict.ok and sent.get("visit_id"):
        verdict = machine.visit_refusal(_visit(ctx, states, household_id, str(sent["visit_id"])),
                                        household_id) or verdict
    if not verdict.ok:
        p.reject(verdict.code or ErrorCode.procedure_transition_invalid, verdict.field,
                 verdict.message)
        return False
    p.fields = sent
    if current is None:
        p.fields.setdefault("stage", machine.S.proposed.value)
        p.fields.setdefault("proposed_on", ctx.today)
    if verdict.moves:
        p.fields["stage_by"] = uuid.UUID(str(user_id)) if user_id is not None else None
        p.fields["stage_at"] = now
    ctx.approved[str(p.record_id)] = verdict.approves
    return True


def apply_approval(p: Change, st: State, outcome: Outcome, states: dict[tuple[str, str], Any],
                   ctx: Context | None, make_state: Any, log: Any) -> None:
    """After an approving move was merged: the household's derived fields and the status event,
    written by this batch. ``make_state(entity, id, stored, village, household_id)`` builds a record
    state (its stored state None); ``log(entity, state, outcome, hlc)`` adds its change-log row."""
    if ctx is None or not ctx.approved.pop(str(p.record_id), False) or not outcome.written:
        return
    assert st.stored is not None and st.household_id is not None
    derived = machine.derived_household_fields(st.stored.values, ctx.today)
    hlc = server_hlc()
    head = states[("household", st.household_id)]
    assert head.stored is not None
    h_out = merge(head.stored, Incoming(UPSERT, None, to_python("household", derived.household),
                                        hlc, force=True))
    _keep(head, h_out)
    log("household", head, h_out, hlc)
    event_id = str(uuid.uuid5(EVENT_NAMESPACE, f"{st.id}:{st.stored.version}"))
    fields = to_python("status_event", {
        "household_id": st.household_id, "kind": derived.event_kind,
        "date": ctx.today.isoformat(), "note": derived.event_note[:2000],
        "recorded_by": str(st.stored.values.get("stage_by") or "") or None})
    event = make_state("status_event", event_id, None, head.village_code, st.household_id)
    e_out = merge(None, Incoming(UPSERT, None, fields, hlc, force=True))
    _keep(event, e_out)
    states[("status_event", event_id)] = event
    log("status_event", event, e_out, hlc)


def _keep(st: Any, outcome: Outcome) -> None:
    st.stored = outcome.state()
    st.dirty = True
    st.changed.update(outcome.changed)
