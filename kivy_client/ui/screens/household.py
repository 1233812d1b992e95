"""一户一档: one household's file in tabs; every edit goes to the local store (and its outbox)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kivy.metrics import dp
from kivy.properties import NumericProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.popup import Popup
from kivy.uix.scrollview import ScrollView
from kivy.uix.tabbedpanel import TabbedPanelItem

from sync_protocol.enums import (
    LABELS,
    HouseholdType,
    IncomeCategory,
    LeaveReason,
    MeasureCategory,
    MeasureStatus,
    MonitoringCategory,
    MonitoringStatus,
    Relation,
    StatusEventKind,
)
from sync_protocol.errors import RuhuError

from .. import forms
from ..presenters import cross_check_lines, income_summary_lines, plan_vs_done_lines
from ..widgets import Badge, ErrorText, FieldSpec, Form, Muted, SectionTitle, WrapLabel
from .base import BaseScreen, load_kv
from .history_panel import HistoryPanel
from .procedure_panel import ProcedurePanel

load_kv(__file__)

STATE_TEXT = {"synced": "已同步", "pending": "待上传", "uploading": "上传中",
              "conflict": "有冲突", "rejected": "被退回"}


def _label(enum: Any, value: Any) -> str:
    return LABELS[enum].get(str(value), str(value or "")) if value else ""


def member_summary(r: dict[str, Any]) -> str:
    relation = _label(Relation, r.get("relation"))
    number = r.get("id_number") or "未填身份证号"
    left = f"  {r.get('left_on')}{_label(LeaveReason, r.get('left_reason'))}（已减员）" \
        if r.get("left_on") else ""
    return f"{r.get('name') or '（未填姓名）'}  {relation}  {number}{left}"


def income_summary(r: dict[str, Any]) -> str:
    amount = r.get("amount")
    shown = f"{amount:,.0f} 元" if isinstance(amount, int | float) else "—"
    return f"{r.get('year')}年  {_label(IncomeCategory, r.get('category'))}  " \
           f"{r.get('item') or ''}  {shown}"


def measure_summary(r: dict[str, Any]) -> str:
    return f"{_label(MeasureCategory, r.get('category'))}  {r.get('item') or ''}  " \
           f"{r.get('start_date') or ''}  {_label(MeasureStatus, r.get('status'))}"


def helper_summary(r: dict[str, Any]) -> str:
    period = f"{r.get('start_date') or '?'} 至 {r.get('end_date') or '今'}"
    return f"{r.get('helper_name') or ''}  {r.get('helper_unit') or ''}  " \
           f"{r.get('helper_phone') or '未填电话'}  {period}"


def event_summary(r: dict[str, Any]) -> str:
    return f"{r.get('date') or ''}  {_label(StatusEventKind, r.get('kind'))}  {r.get('note') or ''}"


class RecordPopup(Popup):
    """Add or edit one child record; shows the Chinese validation messages under each input."""

    def __init__(self, title: str, specs: list[FieldSpec], values: dict[str, Any],
                 on_save: Callable[[dict[str, Any]], dict[str | None, str] | None],
                 on_delete: Callable[[], dict[str | None, str] | None] | None = None,
                 **kwargs: Any) -> None:
        self.form = Form(specs)
        self.form.set_values(values)
        self.on_save_cb = on_save
        body = BoxLayout(orientation="vertical", spacing=dp(10))
        scroll = ScrollView()
        scroll.add_widget(self.form)
        body.add_widget(scroll)
        self.general = ErrorText(text="", size_hint_y=None, height=0, padding=(0, 0))
        body.add_widget(self.general)
        buttons = BoxLayout(size_hint_y=None, height=dp(60), spacing=dp(12))
        self.save_button = Button(text="保存")
        self.save_button.bind(on_release=lambda *_: self.save())
        cancel = Button(text="取消", background_color=(0.5, 0.5, 0.5, 1))
        cancel.bind(on_release=lambda *_: self.cancel())
        self.cancel_button = cancel
        buttons.add_widget(self.save_button)
        self.on_delete_cb = on_delete
        self.delete_button: Button | None = None
        if on_delete is not None:
            self.delete_button = Button(text="删除", background_color=(0.55, 0.2, 0.2, 1))
            self.delete_button.bind(on_release=lambda *_: self.delete())
            buttons.add_widget(self.delete_button)
        buttons.add_widget(cancel)
        body.add_widget(buttons)
        # a tap outside never closes it: typed input would be gone (取消 asks first)
        super().__init__(title=title, content=body, size_hint=(0.8, 0.9),
                         title_size=dp(22), auto_dismiss=False, **kwargs)

    @property
    def is_open(self) -> bool:
        return self._window is not None

    def cancel(self) -> bool:
        """Without edits: close. With edits: the first tap asks, the second drops them."""
        if self.form.dirty and self.cancel_button.text == "取消":
            self.cancel_button.text = "放弃修改？"
            self.general.text = "所填内容尚未保存。再点“放弃修改？”将不保存关闭，点“保存”存到本机。"
            self.general.height = dp(30)
            return False
        self.dismiss()
        return True

    def delete(self) -> bool:
        """First tap asks, second tap deletes (no accidental loss of a row)."""
        assert self.on_delete_cb is not None and self.delete_button is not None
        if self.delete_button.text == "删除":
            self.delete_button.text = "确认删除？"
            return False
        errors = self.on_delete_cb()
        if errors:
            self.general.text = "；".join(errors.values())
            self.general.height = dp(30)
            return False
        self.dismiss()
        return True

    def save(self) -> bool:
        errors = self.on_save_cb(self.form.values())
        if errors:
            self.form.show_errors(errors)
            rest = [m for f, m in errors.items() if f not in self.form.specs]
            self.general.text = "；".join(rest)
            self.general.height = dp(30) if rest else 0
            return False
        self.dismiss()
        return True


class ChildList(BoxLayout):
    """A list of one child entity (members, incomes, ...) with 添加 and tap-to-edit."""

    def __init__(self, screen: HouseholdScreen, entity: str, title: str, specs: list[FieldSpec],
                 summary: Callable[[dict[str, Any]], str],
                 defaults: Callable[[], dict[str, Any]] | None = None,
                 locked: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init__(orientation="vertical", size_hint_y=None, spacing=dp(6), **kwargs)
        self.bind(minimum_height=self.setter("height"))
        self.screen, self.entity, self.title = screen, entity, title
        self.specs, self.summary, self.defaults = specs, summary, defaults or dict
        self.locked = locked  # fields shown read-only when editing an existing row
        self.popup: RecordPopup | None = None

    def show(self, records: list[dict[str, Any]], notes: list[str] | None = None,
             after: list[tuple[str, bool]] | None = None) -> None:
        """The rows, with ``notes`` above them and ``after`` below them ((line, warn) pairs:
        the first is a heading, a warned line is red)."""
        self.clear_widgets()
        head = BoxLayout(size_hint_y=None, height=dp(56), spacing=dp(12))
        head.add_widget(SectionTitle(text=f"{self.title}（{len(records)}）"))
        add = Button(text=f"添加{self.title}", size_hint_x=None, width=dp(200))
        add.bind(on_release=lambda *_: self.open(None))
        self.add_button = add
        head.add_widget(add)
        self.add_widget(head)
        for note in notes or []:
            colour = (0.80, 0.15, 0.15, 1) if "低于" in note else (0.15, 0.40, 0.75, 1)
            self.add_widget(WrapLabel(text=note, color=colour))
        if not records:
            self.add_widget(Muted(text="暂无记录", size_hint_y=None, height=dp(40)))
        for record in records:
            self.add_widget(self._row(record))
        for i, (line, warn) in enumerate(after or []):
            if i == 0:
                self.add_widget(SectionTitle(text=line, size_hint_y=None, height=dp(48)))
                continue
            self.add_widget(WrapLabel(text=line, color=(0.80, 0.15, 0.15, 1) if warn
                                      else (0.13, 0.13, 0.13, 1)))

    def _row(self, record: dict[str, Any]) -> BoxLayout:
        row = BoxLayout(size_hint_y=None, height=dp(60), spacing=dp(10))
        button = Button(text=self.summary(record), background_color=(0.94, 0.92, 0.89, 1),
                        color=(0.13, 0.13, 0.13, 1), halign="left", valign="middle",
                        shorten=True, padding=(dp(14), 0))
        button.bind(size=button.setter("text_size"))
        button.bind(on_release=lambda *_: self.open(record))
        row.add_widget(button)
        state = record.get("sync_state", "synced")
        ctx = self.screen.presenters.ctx
        badge = Badge(text=ctx.badge_text(state) if state in STATE_TEXT else state)
        badge.state_code = ctx.shown_state(state)
        row.add_widget(badge)
        return row

    def open(self, record: dict[str, Any] | None) -> RecordPopup:
        values = dict(record) if record else self.defaults()
        verb = "修改" if record else "添加"

        def save(fields: dict[str, Any]) -> dict[str | None, str] | None:
            return self.screen.save_child(self.entity, record.get("id") if record else None, fields)

        specs = [FieldSpec(s.name, s.kind, s.choices, s.label, True, s.hint)
                 if record and s.name in self.locked else s for s in self.specs]
        def delete() -> dict[str | None, str] | None:
            return self.screen.delete_child(self.entity, record["id"]) if record else None

        self.popup = RecordPopup(f"{verb}{self.title}", specs, values, save,
                                 delete if record else None)
        if self.entity == "member":
            forms.fill_from_id_number(self.popup.form)
        self.popup.open()
        return self.popup


class HouseholdScreen(BaseScreen):
    presenter_name = "household"
    household_id = StringProperty("")
    title = StringProperty("")
    subtitle = StringProperty("")
    state_code = StringProperty("synced")
    state_text = StringProperty("")
    message = StringProperty("")
    flash = StringProperty("")  # a message handed over by the previous screen
    issue_count = NumericProperty(0)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.view: dict[str, Any] = {}
        self._built = False

    # --- construction -------------------------------------------------------------------------

    def _build(self) -> None:
        self.basic_form = Form(forms.HOUSEHOLD_BASIC)
        self.security_form = Form(forms.SECURITY)
        self.causes_form = Form(forms.CAUSES)
        self.lists = {
            "member": ChildList(self, "member", "家庭成员", forms.MEMBER, member_summary),
            "income_item": ChildList(self, "income_item", "收入", forms.INCOME, income_summary,
                                     lambda: {"year": self.presenter.today().year}),
            "measure": ChildList(self, "measure", "帮扶措施", forms.MEASURE, measure_summary,
                                 lambda: {"status": "planned"}),
            # a change of helper is a new row (添加), never a rename of the current one
            "helper_assignment": ChildList(self, "helper_assignment", "帮扶责任人", forms.HELPER,
                                           helper_summary, locked=("helper_name",)),
            "status_event": ChildList(self, "status_event", "轨迹事件", forms.STATUS_EVENT,
                                      event_summary),
        }
        self.procedure_panel = ProcedurePanel(self)
        self.history_box = HistoryPanel(self)
        panel = self.ids.tabs
        self.tabs: dict[str, TabbedPanelItem] = {}
        for key, text, widgets, savable in (
            ("basic", "基本信息", [self.basic_form], True),
            ("members", "家庭成员", [self.lists["member"]], False),
            ("income", "收入", [self.lists["income_item"]], False),
            ("security", "两不愁三保障", [self.security_form], True),
            ("causes", "致贫原因", [self.causes_form], True),
            ("procedures", "监测程序", [self.procedure_panel], False),
            ("measures", "帮扶措施", [self.lists["measure"]], False),
            ("helpers", "帮扶责任人", [self.lists["helper_assignment"]], False),
            ("history", "轨迹", [self.lists["status_event"], self.history_box], False),
        ):
            item = TabbedPanelItem(text=text, font_size=dp(17))
            box = BoxLayout(orientation="vertical", size_hint_y=None, spacing=dp(10),
                            padding=dp(12))
            box.bind(minimum_height=box.setter("height"))
            for widget in widgets:
                box.add_widget(widget)
            scroll = ScrollView()
            scroll.add_widget(box)
            page = BoxLayout(orientation="vertical", spacing=dp(8), padding=(0, 0, 0, dp(8)))
            page.add_widget(scroll)
            if savable:  # outside the scroll: always in reach of a thumb
                save = Button(text="保存", size_hint=(None, None), size=(dp(240), dp(60)),
                              pos_hint={"center_x": 0.5})
                save.bind(on_release=lambda *_a, k=key: self.save_household(k))
                page.add_widget(save)
                setattr(self, f"save_{key}_button", save)
            item.add_widget(page)
            panel.add_widget(item)
            self.tabs[key] = item
        panel.default_tab = self.tabs["basic"]
        panel.switch_to(self.tabs["basic"])
        self._built = True

    # --- showing --------------------------------------------------------------------------------

    def refresh(self) -> None:
        if not self._built:
            self._build()
        self.message, self.flash = self.flash, ""
        self.basic_form.show_errors({})
        if not self.household_id:
            self.view = {}
            self.title = "新建农户"
            self.subtitle = "离线也可新建；同步后由服务器检查是否与已有农户重复"
            self.state_text, self.state_code, self.issue_count = "未保存", "pending", 0
            self._village_picker()
            self.basic_form.set_readonly("household_number", False)
            self.basic_form.set_values({"village_code": self.presenter.default_village()})
            self.security_form.set_values({})
            self.causes_form.set_values({})
            for child in self.lists.values():
                child.show([])
            self.procedure_panel.show({}, [])
            self.history_box.show({})
            self.ids.tabs.switch_to(self.tabs["basic"])
            return
        try:
            view = self.presenter.view(self.household_id)
        except RuhuError:  # gone from this tablet (e.g. out of scope after a sync)
            self.household_id = ""
            self.go("roster")
            return
        self.view = view
        h = view["household"]
        self.title = f"{h.get('head_name') or '（未填户主）'}户"
        number = h.get("household_number") or "无户编号"
        self.subtitle = "  ".join(x for x in (
            number, self.presenter.village_name(h.get("village_code")), h.get("group_name"),
            _label(HouseholdType, h.get("household_type")),
            # 2021+ wording: the monitoring state, not the 2014-2020 poverty status
            f"{_label(MonitoringStatus, h.get('monitoring_status'))}"
            f"（{_label(MonitoringCategory, h.get('monitoring_category'))}）"
            if h.get("monitoring_status") in ("monitored", "eliminated") else "") if x)
        self.state_code = self.presenters.ctx.shown_state(view.get("state", "synced"))
        self.state_text = STATE_TEXT.get(self.state_code, self.state_code)
        self.issue_count = len(view.get("issues", []))
        self._village_picker(h.get("village_code"))
        # 户编号 from the national system (it came from the server) is not changed on a tablet
        self.basic_form.set_readonly("household_number", view.get("number_locked", False))
        self.basic_form.set_values(h)
        self.security_form.set_values(h)
        self.causes_form.set_values(h)
        order = list(Relation)
        self.lists["member"].show(sorted(view["members"], key=lambda r: (
            order.index(r["relation"]) if r.get("relation") in order else len(order),
            r.get("birth_date") or "")), cross_check_lines(
                view, self.presenter.income_lines(h.get("village_code"))))
        self.lists["income_item"].show(sorted(view["incomes"], key=lambda r: (
            -(r.get("year") or 0), r.get("category") or "")),
            income_summary_lines(view["incomes"], view["members"],
                                 self.presenter.income_lines(h.get("village_code"))))
        self.lists["measure"].show(view["measures"],
                                   after=plan_vs_done_lines(view["measures"]))
        self.lists["helper_assignment"].show(view["helpers"])
        self.lists["status_event"].show(sorted(view["status_events"],
                                               key=lambda r: r.get("date") or ""))
        self.procedure_panel.show(h, self.presenters.procedures.rows(self.household_id),
                                  view["visits"])
        self._show_history(view)

    def _village_picker(self, current: str | None = None) -> None:
        """所属行政村 picked from the villages of the user's scope (never a typed code)."""
        choices = self.presenter.village_choices()
        if current and current not in choices:
            choices[current] = f"{self.presenter.village_name(current)}（{current}）"
        self.basic_form.set_choices("village_code", choices)

    def record_popup(self, title: str, specs: list[FieldSpec], values: dict[str, Any],
                     save: Callable[[dict[str, Any]], dict[str | None, str] | None]
                     ) -> RecordPopup:
        popup = RecordPopup(title, specs, values, save)
        popup.open()
        return popup

    def procedure_action(self, action: str, procedure_id: str | None,
                         fields: dict[str, Any]) -> dict[str | None, str] | None:
        if not self.household_id:
            return {None: "请先保存农户基本信息"}
        result = self.presenters.procedures.act(self.household_id, procedure_id, action,
                                                fields)
        if result.errors:
            return result.errors
        self.refresh()
        self.select_tab("procedures")
        self.message = "已保存到本机，联网后同步（由乡镇、县级审核）"
        return None

    def _show_history(self, view: dict[str, Any]) -> None:
        self.history_box.show(view)

    @property
    def withdraw_buttons(self) -> dict[str, Button]:
        return self.history_box.withdraw_buttons

    # --- saving ---------------------------------------------------------------------------------

    # --- drafts ---------------------------------------------------------------------------------

    TAB_NAMES = {"basic": "基本信息", "security": "两不愁三保障", "causes": "致贫原因"}

    def forms(self) -> dict[str, Any]:
        return {"basic": self.basic_form, "security": self.security_form,
                "causes": self.causes_form} if self._built else {}

    def open_popup(self) -> RecordPopup | None:
        for child in getattr(self, "lists", {}).values():
            if child.popup is not None and child.popup.is_open:
                return child.popup
        return None

    def has_draft(self) -> bool:
        popup = self.open_popup()
        return any(f.dirty for f in self.forms().values()) or bool(popup and popup.form.dirty)

    def draft_title(self) -> str:
        parts = [self.TAB_NAMES[k] for k, f in self.forms().items() if f.dirty]
        popup = self.open_popup()
        if popup is not None and popup.form.dirty:
            parts.append(popup.title)
        return f"“{self.title}”的{'、'.join(parts)}"

    def save_draft(self) -> bool:
        popup = self.open_popup()
        if popup is not None and popup.form.dirty and not popup.save():
            return False
        for key, form in self.forms().items():
            if form.dirty and self.save_household(key) is not None:
                self.select_tab(key)
                return False
        return True

    def discard_draft(self) -> None:
        popup = self.open_popup()
        if popup is not None:
            popup.dismiss()
        for form in self.forms().values():
            form.set_values(form.clean)
            form.show_errors({})

    def refresh_keeping_drafts(self, saved: Any = None) -> None:
        """Reload from the store without dropping what is typed on the other tabs."""
        drafts = {k: f.values() for k, f in self.forms().items() if f.dirty and f is not saved}
        self.refresh()
        for key, values in drafts.items():
            self.forms()[key].restore(values)

    def save_household(self, tab: str) -> dict[str | None, str] | None:
        form = self.forms()[tab]
        fields = form.values()
        result = self.presenter.save(self.household_id or None, fields)
        if result.errors:
            form.show_errors(result.errors)
            self.message = "未保存：" + "；".join(result.errors.values())
            return result.errors
        form.show_errors({})
        self.household_id = result.record_id
        self.refresh_keeping_drafts(form)
        self.message = "已保存到本机" + (f"（提醒：{'；'.join(result.warnings)}）"
                                           if result.warnings else "，联网后同步")
        return None

    def save_child(self, entity: str, record_id: str | None,
                   fields: dict[str, Any]) -> dict[str | None, str] | None:
        if not self.household_id:
            return {None: "请先保存农户基本信息"}
        result = self.presenters.records.save(entity, self.household_id, record_id, fields)
        if result.errors:
            return result.errors
        self.refresh_keeping_drafts()
        self.message = "已保存到本机" + (f"（提醒：{'；'.join(result.warnings)}）"
                                           if result.warnings else "，联网后同步")
        return None

    def delete_child(self, entity: str, record_id: str) -> dict[str | None, str] | None:
        result = self.presenters.records.delete(entity, record_id)
        if result.errors:
            return result.errors
        self.refresh_keeping_drafts()
        self.message = "已删除（联网后同步；服务器保留修改记录）"
        return None

    def withdraw_visit(self, visit_id: str) -> bool:
        """Withdraw one's own visit of today: the first tap asks, the second withdraws."""
        button = self.withdraw_buttons.get(visit_id)
        if button is not None and button.text == "撤回":
            button.text = "确认撤回？"
            return False
        result = self.presenters.visits.withdraw(visit_id)
        if result.errors:
            self.message = "未撤回：" + "；".join(result.errors.values())
            return False
        self.refresh_keeping_drafts()
        self.message = "走访记录已撤回（保留在记录中，不再计入走访；联网后同步）"
        return True

    def open_visit(self) -> None:
        if self.household_id:
            self.go("visit", household_id=self.household_id)

    def open_wuqing(self) -> None:
        if self.household_id:
            self.go("wuqing", household_id=self.household_id)

    def open_conflicts(self) -> None:
        if self.household_id:
            self.go("conflicts", household_id=self.household_id)

    def select_tab(self, key: str) -> None:
        self.ids.tabs.switch_to(self.tabs[key])

