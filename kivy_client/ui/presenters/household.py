"""The household file's presenter (一户一档, 基本信息 and the other household tabs): the file,
its history, saving the household's own fields, the villages it may belong to."""

from __future__ import annotations

from typing import Any

from sync_protocol.crosscheck import (
    PLAN_VS_DONE_TITLE,
    cross_checks,
    plan_gaps,
    plan_vs_done_line,
)
from sync_protocol.display import hlc_time
from sync_protocol.entities import ENTITIES, FIELD_LABELS
from sync_protocol.errors import ErrorCode, RuhuError
from sync_protocol.explain import explain
from sync_protocol.income import Members, income_table
from sync_protocol.policy import china_today, household_number_locked, visit_interval_days
from sync_protocol.wuqing import HouseholdBundle

from ...store import SYNC_STATE_LABELS, SyncState
from .base import Presenter, SaveResult, format_when, save_record

CHILDREN = ("members", "incomes", "measures", "helpers", "visits", "status_events", "checklist")


class HouseholdPresenter(Presenter):
    def view(self, household_id: str) -> dict[str, Any]:
        bundle = self.store.household_bundle(household_id)
        if bundle is None:
            raise RuhuError(ErrorCode.record_not_found, status_code=404)

        def rows(records: list[Any]) -> list[dict[str, Any]]:
            return [{**r.fields, "id": r.id, "sync_state": r.sync_state.value} for r in records]

        out: dict[str, Any] = {name: rows(getattr(bundle, name)) for name in CHILDREN}
        out.update(
            household=dict(bundle.household.fields),
            state=bundle.sync_state.value,
            issues=[i for i in bundle.issues if i.status == "open"],
            history=self.history({household_id} | {r.id for name in CHILDREN
                                                    for r in getattr(bundle, name)}),
            decisions=self.decisions(household_id),
            number_locked=household_number_locked(
                self.store.server_fields("household", household_id)),
        )
        return out

    def history(self, ids: set[str]) -> list[str]:
        """Local edits of these records still waiting for upload, newest first, in words."""
        lines = []
        for change in reversed(self.store.outbox(limit=10**6, max_bytes=10**12)):
            if change.record_id not in ids:
                continue
            label = ENTITIES[change.entity].label if change.entity in ENTITIES else change.entity
            names = "、".join(FIELD_LABELS.get(f, f) for f in change.fields
                             if f not in ("household_id",))
            verb = "删除" if change.op == "delete" else ("新建" if change.base_version is None
                                                         else "修改")
            lines.append(f"{hlc_time(change.hlc)}  本机{verb}{label}：{names or '—'}（待上传）")
        return lines

    def decisions(self, household_id: str) -> list[str]:
        """Conflicts of this household the township clerk has decided: what they chose, with
        their note (also for the cadre whose value was not taken), newest first."""
        out = []
        for issue in reversed(self.store.household_issues(household_id)):
            conflict = issue.payload.get("conflict") or {}
            if issue.kind != "conflict" or issue.status != "resolved":
                continue
            when = format_when(conflict.get("resolved_at")) or format_when(issue.created_at)
            out.append(f"{when}  {explain(issue.kind, issue.entity, issue.status, issue.payload)}")
        return out

    def save(self, household_id: str | None, fields: dict[str, Any]) -> SaveResult:
        return save_record(self, "household", household_id, fields, self.store.create_household)

    # --- choices and derived figures --------------------------------------------------------

    def village_choices(self) -> dict[str, str]:
        """Code → "村 name（code）" of the villages in the user's scope (the 所属行政村 picker):
        the scope's villages and the reference villages under a wider scope."""
        names = self.ctx.village_names()
        scopes = self.store.user_scopes
        codes = [s for s in scopes if len(s) == 12]
        codes += sorted(str(r.get("code")) for r in self.store.reference().get("regions") or []
                        if r.get("level") == "village" and str(r.get("code")) not in codes
                        and any(str(r.get("code")).startswith(s) for s in scopes))
        return {code: f"{names.get(code, code)}（{code}）" for code in codes}

    def default_village(self) -> str:
        villages = list(self.village_choices())
        return villages[0] if villages else ""

    def visit_interval_days(self, household: dict[str, Any] | None = None) -> int:
        """The county's required visit interval (shorter for monitored households)."""
        village = str((household or {}).get("village_code") or self.default_village())
        return visit_interval_days(self.store.county_rules(village), household or {})

    def income_lines(self, village_code: str | None) -> dict[int, float]:
        """Year → 防止返贫监测 income line (yuan per head) of the village's county: the
        province's, overridden by the county's own (the same CountyRules the server uses)."""
        return dict(self.store.county_rules(village_code).procedures.monitoring_lines)

    def title(self, household_id: str) -> str:
        return self.ctx.household_title(household_id)

    def village_name(self, code: str | None) -> str:
        return self.ctx.village_name(code)

    def state_label(self, state: str) -> str:
        return SYNC_STATE_LABELS.get(SyncState(state), state)


def cross_check_lines(view: dict[str, Any], lines: dict[int, float] | None = None) -> list[str]:
    """The household file's contradictions (``sync_protocol.crosscheck``) as hint lines for the
    members tab: shown, never blocking a save."""
    bundle = HouseholdBundle(household=view.get("household") or {}, members=view["members"],
                             incomes=view["incomes"], measures=view["measures"],
                             helpers=view["helpers"], visits=view["visits"])
    return ["核对提示：" + c.message for c in cross_checks(bundle, china_today(), lines)]


def income_summary_lines(incomes: list[dict[str, Any]], members: Members,
                         lines: dict[int, float] | None = None) -> list[str]:
    """家庭纯收入 and 人均纯收入 per year (``sync_protocol.income.income_table``: each year's
    members), newest year first, with a warning where the per-head income is below that year's
    monitoring line (the current year against the line pro-rated to the share gone by)."""
    out = []
    for row in income_table(incomes, members, china_today(), lines):
        year, head, people = row["year"], row["per_capita"], row["people"]
        text = f"，人均 {head:,.0f} 元（{people}人）" if head is not None else ""
        if row["below_line"]:
            text += (f"，低于按进度折算的监测线 {row['line']:,.0f} 元（当年未满）"
                     if row["line_prorated"] else f"，低于{year}年监测线 {row['line']:,.0f} 元")
        out.append(f"{year}年 家庭纯收入 {row['net']:,.0f} 元{text}")
    return out


def plan_vs_done_lines(measures: list[dict[str, Any]]) -> list[tuple[str, bool]]:
    """计划实施与已落实对比 under the 帮扶措施 list (``sync_protocol.crosscheck.plan_vs_done``, the
    console's rows in the same words): the title, then (line, differs from the plan) for each
    planned measure; nothing when no measure was planned."""
    rows = plan_gaps(measures)
    if not rows:
        return []
    return [(PLAN_VS_DONE_TITLE, False)] + [(plan_vs_done_line(m, gap), bool(gap["differs"]))
                                           for m, gap in rows]
