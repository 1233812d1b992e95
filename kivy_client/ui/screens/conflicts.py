"""Conflicts and rejections of one household, in plain words: what happened and what to do."""

from __future__ import annotations

from kivy.properties import StringProperty
from kivy.uix.boxlayout import BoxLayout

from .base import BaseScreen, load_kv

load_kv(__file__)

# what each kind of rejected field can be fixed on (tab of the household file)
FIX_TABS = {
    "member": "members", "income_item": "income", "measure": "measures",
    "helper_assignment": "helpers", "status_event": "history", "visit": "history",
}


class IssueCard(BoxLayout):
    title = StringProperty("")
    message = StringProperty("")
    when = StringProperty("")
    tone = StringProperty("warn")
    entity = StringProperty("")
    kind = StringProperty("")
    fix_text = StringProperty("")


class ConflictsScreen(BaseScreen):
    presenter_name = "conflicts"
    household_id = StringProperty("")
    household_title = StringProperty("")
    summary = StringProperty("")

    def refresh(self) -> None:
        self.household_title = self.presenter.title(self.household_id)
        box = self.ids.cards
        box.clear_widgets()
        rows = self.presenter.issues(self.household_id)
        open_rows = [r for r in rows if r["open"]]
        for row in open_rows + [r for r in rows if not r["open"]]:
            fix = "去修改" if row["kind"] == "rejection" and row["open"] else ""
            card = IssueCard(title=row["title"], message=row["message"], when=row["when"],
                             tone=row["tone"], entity=row["entity"], kind=row["kind"],
                             fix_text=fix)
            card.ids.fix_button.bind(on_release=lambda _b, e=row["entity"]: self.fix(e))
            box.add_widget(card)
        if not rows:
            self.summary = "本户没有冲突或被退回的修改。"
        else:
            self.summary = (f"待处理 {len(open_rows)} 条。冲突由乡镇乡村振兴（防返贫）专干"
                            "决定采用哪个值，您无需操作；被退回的修改请按提示改正后保存，会自动重新上传。")

    def fix(self, entity: str) -> None:
        self.go("household", household_id=self.household_id)
        screen = self.manager.get_screen("household")
        screen.select_tab(FIX_TABS.get(entity, "basic"))
