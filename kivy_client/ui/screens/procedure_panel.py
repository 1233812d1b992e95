"""The household's 监测程序 tab: the monitoring fields (read-only, with the procedure that set
them), 发起纳入监测 / 发起风险消除 (from the household, or from one of its recent visits: source
干部排查 and the visit linked), and each procedure's stage in plain words with the moves a
village role can make (入户核实, 村级评议, 开始公示, 撤回, 重新提交). Every move is judged
offline by the same state machine as the server (``kivy_client.procedures``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from kivy.metrics import dp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button

from kivy_client.procedures import from_visit_defaults
from sync_protocol.display import fmt_time, value_label
from sync_protocol.enums import (
    LABELS,
    HouseholdType,
    MonitoringCategory,
    MonitoringStatus,
    ProcedureSource,
    RiskElimination,
    RiskType,
    label,
)

from ..widgets import FieldSpec, Muted, SectionTitle, WrapLabel

CATEGORIES = {k: v for k, v in LABELS[MonitoringCategory].items() if k != "none"}
# action -> (button text, popup fields)
ACTIONS: dict[str, tuple[str, list[FieldSpec]]] = {
    "entry": ("发起纳入监测", [
        FieldSpec("source", "enum", LABELS[ProcedureSource]),
        FieldSpec("category", "enum", CATEGORIES, label="拟纳入监测对象类别"),
        FieldSpec("risk_types", "multi_enum", LABELS[RiskType],
                  label="返贫致贫风险类型（先选主要风险，最多3项）")]),
    "elimination": ("发起风险消除", [
        FieldSpec("method", "enum", LABELS[RiskElimination])]),
    "verify": ("入户核实", [FieldSpec("verifiers", hint="至少两人，用顿号或逗号分隔")]),
    "review": ("村级评议", [FieldSpec("review_note", "multiline")]),
    "notice": ("开始公示", [FieldSpec("notice_start", "date"), FieldSpec("notice_end", "date")]),
    "withdraw": ("撤回", []),
    "resubmit": ("重新提交", []),
}
# the moves a village role may make from each stage
STAGE_ACTIONS = {"proposed": ("verify", "withdraw"), "verified": ("review", "withdraw"),
                 "reviewed": ("notice", "withdraw"), "returned": ("resubmit", "withdraw")}
# how many of the household's latest visits offer 发起纳入监测
VISITS_OFFERED = 3


class ProcedurePanel(BoxLayout):
    def __init__(self, screen: Any, **kwargs: Any) -> None:
        """``screen``: the household screen (its ``presenters``, ``procedure_action`` and
        ``record_popup``)."""
        super().__init__(orientation="vertical", size_hint_y=None, spacing=dp(6), **kwargs)
        self.bind(minimum_height=self.setter("height"))
        self.screen = screen
        self.buttons: dict[str, Button] = {}
        self.popup: Any = None

    def show(self, household: dict[str, Any], procedures: list[dict[str, Any]],
             visits: list[dict[str, Any]] | None = None) -> None:
        self.clear_widgets()
        self.buttons = {}
        h = household
        self.add_widget(SectionTitle(text="监测信息（由县级确认的监测程序生成，不能直接修改）"))
        risks = "、".join(label(r, RiskType) for r in h.get("risk_types") or []) or "无"
        status = label(h.get("monitoring_status") or "none", MonitoringStatus)
        category = label(h.get("monitoring_category") or "none", MonitoringCategory)
        lines = [f"户类型：{label(h.get('household_type'), HouseholdType) or '未填写'}",
                 f"监测状态：{status}", f"监测对象类别：{category}",
                 f"返贫致贫风险类型：{risks}"]
        if h.get("monitoring_since"):
            lines.append(f"纳入监测日期：{h['monitoring_since']}")
        if h.get("eliminated_on"):
            lines.append(f"风险消除：{h['eliminated_on']}"
                         f"（{label(h.get('elimination_method'), RiskElimination)}）")
        for line in lines:
            self.add_widget(WrapLabel(text=line))
        row = BoxLayout(size_hint_y=None, height=dp(60), spacing=dp(12))
        for action in ("entry", "elimination"):
            row.add_widget(self._button(action, None))
        self.add_widget(row)
        self.add_widget(SectionTitle(text=f"监测程序（{len(procedures)}）"))
        if not procedures:
            self.add_widget(Muted(text="暂无监测程序", size_hint_y=None, height=dp(40)))
        for p in procedures:
            for line in p["describe"]["lines"]:
                self.add_widget(WrapLabel(text=line))
            actions = STAGE_ACTIONS.get(p.get("stage") or "", ())
            if actions:
                row = BoxLayout(size_hint_y=None, height=dp(56), spacing=dp(12))
                for action in actions:
                    row.add_widget(self._button(action, p))
                self.add_widget(row)
        self._show_visits(visits or [])

    def _show_visits(self, visits: list[dict[str, Any]]) -> None:
        """The latest counting visits, each with 依据此次走访发起纳入监测."""
        # visits whose findings propose starting 纳入监测 first, then the latest
        recent = sorted((v for v in visits if not v.get("withdrawn")),
                        key=lambda v: (bool(v.get("proposes_entry")), v.get("visited_at") or ""),
                        reverse=True)[:VISITS_OFFERED]
        if not recent:
            return
        self.add_widget(SectionTitle(text="从走访发起（走访中发现风险）"))
        for v in recent:
            row = BoxLayout(size_hint_y=None, height=dp(56), spacing=dp(12))
            text = f"{fmt_time(v.get('visited_at'))}  {v.get('purpose') or ''}"
            if v.get("findings"):
                text += f"  发现：{value_label('visit', 'findings', v['findings'])}"
            if v.get("proposes_entry"):
                text += "（建议启动纳入监测）"
            row.add_widget(WrapLabel(text=text))
            button = Button(text="依据此次走访发起纳入监测", size_hint_x=None, width=dp(300))
            button.bind(on_release=lambda *_a, visit=v: self.open("entry", None, visit))
            self.buttons[f"entry_visit:{v['id']}"] = button
            row.add_widget(button)
            self.add_widget(row)

    def _button(self, action: str, procedure: dict[str, Any] | None) -> Button:
        button = Button(text=ACTIONS[action][0])
        button.bind(on_release=lambda *_: self.open(action, procedure))
        self.buttons[action if procedure is None else f"{action}:{procedure['id']}"] = button
        return button

    def open(self, action: str, procedure: dict[str, Any] | None,
             visit: dict[str, Any] | None = None) -> Any:
        title, specs = ACTIONS[action]
        values: dict[str, Any] = {}
        linked: dict[str, Any] = {}
        if visit is not None:  # 发起纳入监测 from a visit: source 干部排查, the visit linked
            linked = from_visit_defaults(str(visit["id"]))
            values = {"source": linked.pop("source")}
            title = f"{title}（依据 {fmt_time(visit.get('visited_at'))} 走访）"
        if action == "notice":
            presenter = self.screen.presenters.procedures
            today = presenter.today()
            days = presenter.notice_days(self.screen.household_id)
            values = {"notice_start": today.isoformat(),
                      "notice_end": (today + dt.timedelta(days=days)).isoformat()}

        def save(fields: dict[str, Any]) -> dict[str | None, str] | None:
            return self.screen.procedure_action(action, procedure["id"] if procedure else None,
                                                {**fields, **linked})

        self.popup = self.screen.record_popup(title, specs, values, save)
        return self.popup
