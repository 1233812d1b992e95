"""Demo monitoring procedures: every stage of both kinds, so each screen has something to show.

Built from the demo county's records (no database): entry procedures on households that are not
monitored (category fitting the household type), elimination procedures on households monitored
long enough; the ones waiting for the township or the county satisfy the conditions the state
machine checks there (``sync_protocol.procedure``), so approving them in the demo works.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from sync_protocol import procedure as machine

VILLAGES = ("411702105201", "411702105202")  # the villages with demo staff
# (stage, days since proposed, note): entry procedures, one household each
ENTRY_PLAN: list[tuple[str, int, dict[str, Any]]] = [
    ("proposed", 1, {}),
    ("verified", 3, {}),
    ("reviewed", 5, {}),
    ("notice", 7, {}),  # notice still running
    ("notice", 11, {}),  # notice over: in the clerk's queue
    ("notice", 20, {"objection": "有村民反映该户家中有人在外务工收入较高"}),  # over, objection open
    ("township_approved", 13, {}),  # in the county's queue
    ("returned", 9, {"return_reason": "入户核实记录缺少户主签字，请补充后重新提交"}),
    ("rejected", 30, {"decision_note": "经核实家庭收入高于监测范围，不予纳入"}),
    ("withdrawn", 4, {}),
]
ELIMINATION_PLAN: list[tuple[str, int, dict[str, Any]]] = [
    ("proposed", 2, {}),
    ("reviewed", 6, {}),
    ("notice", 12, {}),  # notice over: in the clerk's queue
    ("township_approved", 14, {}),  # in the county's queue
]
ORDER = ["proposed", "verified", "reviewed", "notice", "township_approved", "approved"]
NAMESPACE = uuid.UUID("2f0e7a1c-5b6d-4c3e-9a8f-7d6c5b4a3e2f")

Add = Callable[[str, uuid.UUID, str, dict[str, Any], dt.datetime, uuid.UUID | None, uuid.UUID],
               None]


def _at(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, 0), dt.UTC)


def _fields(kind: str, stage: str, days: int, extra: dict[str, Any], household: dict[str, Any],
            today: dt.date, users: dict[str, uuid.UUID], village: str) -> dict[str, Any]:
    proposed = today - dt.timedelta(days=days)
    village_user = users["demo_cadre" if village == VILLAGES[0] else "demo_cadre2"]
    fields: dict[str, Any] = {"household_id": household["id"], "kind": kind,
                              "proposed_on": proposed}
    if kind == "entry":
        fields.update(source="screening" if days % 2 else "self_report",
                      category="unstable" if household.get("household_type") == "exited"
                      else "marginal",
                      risk_types=["illness", "large_expense"] if days % 3 else ["disaster"])
    else:
        fields["method"] = "assisted" if days % 2 else "natural"
    reached = ORDER.index(stage) if stage in ORDER else ORDER.index(
        "reviewed" if stage in ("rejected", "returned") else "proposed")
    if stage == "rejected":
        reached = ORDER.index("township_approved")
    by, at = village_user, proposed
    if reached >= 1:
        fields.update(verifiers=["张卫东", "王志远"] if village == VILLAGES[0] else
                      ["李红梅", "李长江"], verified_at=_at(proposed + dt.timedelta(days=1)))
        at = proposed + dt.timedelta(days=1)
    if reached >= 2:
        fields["review_note"] = "经村民代表会议民主评议，同意提交公示"
        at = proposed + dt.timedelta(days=2)
    if reached >= 3:
        start = proposed + dt.timedelta(days=3)
        fields.update(notice_start=start, notice_end=start + dt.timedelta(days=5))
        at = start
    if reached >= 4:
        by, at = users["demo_clerk"], proposed + dt.timedelta(days=10)
    fields.update(extra)
    if stage == "approved" and kind == "entry":  # how a monitored household got there
        fields.update(category=household.get("monitoring_category"),
                      risk_types=household.get("risk_types") or ["other"])
    if stage in ("rejected", "approved"):
        by, at = users["demo_admin"], proposed + dt.timedelta(days=12)
        fields.setdefault("decision_note", "同意")
    if stage == "returned":
        by, at = users["demo_clerk"], proposed + dt.timedelta(days=3)
    fields.update(stage=stage, stage_by=by, stage_at=_at(min(at, today)))
    return fields


def add_procedures(rows: dict[str, list[dict[str, Any]]], add: Add, today: dt.date,
                   users: dict[str, uuid.UUID], monitoring_lines: dict[int, float]) -> None:
    """Add the demo procedures to the demo county's ``rows`` through ``add`` (``_Records.add``)."""
    by_household: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(
        lambda: defaultdict(list))
    for entity in ("member", "income_item"):
        for row in rows[entity]:
            by_household[str(row["household_id"])][entity].append(row)
    policy = machine.ProcedurePolicy(monitoring_lines=monitoring_lines)
    for village in VILLAGES:
        households = [h for h in rows["household"] if h["village_code"] == village]
        calm = [h for h in households if h.get("monitoring_status") != "monitored"]
        ready = []
        for h in households:
            if h.get("monitoring_status") != "monitored":
                continue
            kids = by_household[str(h["id"])]
            facts = machine.household_facts(h, kids["member"], kids["income_item"], [])
            if machine.elimination_refusal(facts, policy, today) is None:
                ready.append(h)
        plans = [("entry", p, h) for p, h in zip(ENTRY_PLAN, calm, strict=False)]
        plans += [("elimination", p, h) for p, h in zip(ELIMINATION_PLAN, ready, strict=False)]
        # how a monitored household got there: its approved entry procedure
        monitored = [h for h in households if h.get("monitoring_status") == "monitored"
                     and h.get("monitoring_since") and h not in ready[:len(ELIMINATION_PLAN)]]
        for h in monitored[:3]:
            since = h["monitoring_since"]
            plans.append(("entry", ("approved", (today - since).days + 12, {}), h))
        # how an eliminated household got there: its approved elimination procedure
        eliminated = [h for h in households if h.get("monitoring_status") == "eliminated"
                      and h.get("eliminated_on")]
        for h in eliminated[:2]:
            plans.append(("elimination", ("approved", (today - h["eliminated_on"]).days + 12,
                                          {}), h))
        for kind, (stage, days, extra), h in plans:
            fields = _fields(kind, stage, days, extra, h, today, users, village)
            rid = uuid.uuid5(NAMESPACE, f"{h['id']}:{kind}:{stage}")
            add("procedure", rid, village, fields, fields["stage_at"], fields["stage_by"],
                h["id"])
