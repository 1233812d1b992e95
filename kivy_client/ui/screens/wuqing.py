"""五清 checklist: the five items, the hint computed from the data beside a manual verdict."""

from __future__ import annotations

from typing import Any

from kivy.clock import Clock
from kivy.properties import (
    BooleanProperty,
    ListProperty,
    NumericProperty,
    ObjectProperty,
    StringProperty,
)
from kivy.uix.boxlayout import BoxLayout

from sync_protocol.enums import LABELS, CheckLevel

from ..photos import pick_photo
from .base import BaseScreen, load_kv

LEVELS: dict[str, str] = dict(LABELS[CheckLevel])
NO_LEVEL = "未选择"

load_kv(__file__)



class WuqingItem(BoxLayout):
    """One item: title, description, hint, 清/不清/未核查, note, evidence photo, save."""

    screen = ObjectProperty(None)
    item_code = StringProperty("")
    title = StringProperty("")
    description = StringProperty("")
    judge_note = StringProperty("")  # who alone may judge it (the template's 村书记 item)
    may_judge = BooleanProperty(True)  # the signed-in role may set the verdict
    judge_hint = StringProperty("")  # beside the disabled verdict buttons when it may not
    hint_text = StringProperty("")
    hint_state = StringProperty("manual")
    verdict = StringProperty("unchecked")
    note = StringProperty("")
    checked_at = StringProperty("")
    attachment_ids = ListProperty([])
    new_photos = ListProperty([])
    message = StringProperty("")
    check_level = StringProperty("")
    level_text = StringProperty(NO_LEVEL)
    level_choices = ListProperty([*LEVELS.values(), NO_LEVEL])
    rectify_by = StringProperty("")
    rectified_at = StringProperty("")
    rectify_note = StringProperty("")
    rectification_overdue = BooleanProperty(False)

    def on_check_level(self, _instance: Any, value: str) -> None:
        self.level_text = LEVELS.get(value, NO_LEVEL)

    def extra_fields(self) -> dict[str, Any]:
        """The check level and, for an unclear item, the rectification fields as typed."""
        level = next((code for code, text in LEVELS.items() if text == self.level_text), "")
        extra: dict[str, Any] = {"check_level": level}
        if self.verdict == "unclear":
            extra.update(rectify_by=self.ids.rectify_by.text,
                         rectified_at=self.ids.rectified_at.text,
                         rectify_note=self.ids.rectify_note.text)
        return extra

    def set_verdict(self, verdict: str) -> None:
        if not self.may_judge:  # the buttons are disabled; never a draft the save must refuse
            return
        self.verdict = verdict
        self.screen.count_dirty()

    def add_photo(self) -> None:
        def chosen(path: str) -> None:
            self.new_photos.append(path)
            self.screen.count_dirty()

        pick_photo(chosen)

    def snapshot(self) -> tuple[Any, ...]:
        """What the user can change on this item, to tell an unsaved edit."""
        return (self.verdict, self.ids.note.text, tuple(sorted(self.extra_fields().items())))

    def as_change(self) -> dict[str, Any]:
        return {"item_code": self.item_code, "verdict": self.verdict, "note": self.ids.note.text,
                "photos": list(self.new_photos), "extra": self.extra_fields()}


class WuqingScreen(BaseScreen):
    presenter_name = "wuqing"
    household_id = StringProperty("")
    household_title = StringProperty("")
    summary = StringProperty("")
    message = StringProperty("")
    dirty_count = NumericProperty(0)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.items: dict[str, WuqingItem] = {}
        self.loaded: dict[str, tuple[Any, ...]] = {}
        Clock.schedule_interval(lambda _dt: self.count_dirty(), 0.5)

    def refresh(self) -> None:
        self.household_title = self.presenters.household.title(self.household_id)
        box = self.ids.item_box
        box.clear_widgets()
        self.items = {}
        self.loaded = {}
        rows = self.presenter.view(self.household_id)
        for row in rows:
            item = WuqingItem(screen=self, **{k: v for k, v in row.items()})
            self.items[row["item_code"]] = item
            box.add_widget(item)
        for code, item in self.items.items():
            self.loaded[code] = item.snapshot()
        done = sum(1 for r in rows if r["verdict"] != "unchecked")
        clear = sum(1 for r in rows if r["verdict"] == "clear")
        self.summary = f"已核查 {done}/{len(rows)} 项，清 {clear} 项"
        self.count_dirty()

    def count_dirty(self) -> None:
        if self.manager is None or self.manager.current == self.name:
            self.dirty_count = len(self.dirty_items())

    # --- drafts: a verdict or note changed without 保存此项 is never dropped silently ---------

    def dirty_items(self) -> list[WuqingItem]:
        return [item for code, item in self.items.items()
                if item.snapshot() != self.loaded.get(code) or item.new_photos]

    def has_draft(self) -> bool:
        return bool(self.dirty_items())

    def draft_title(self) -> str:
        return f"五清核查（{'、'.join(i.title for i in self.dirty_items())}）"

    def save_draft(self) -> bool:
        return self.save_all()

    def save_all(self) -> bool:
        """Save every changed item at once (all or nothing): a refused item keeps everything
        typed on the screen and shows its reason under the item."""
        dirty = self.dirty_items()
        for item in self.items.values():
            item.message = ""
        if not dirty:
            self.message = "没有需要保存的修改"
            return True
        results = self.presenter.save_all(self.household_id, [i.as_change() for i in dirty])
        refused = [i for i in dirty if not results[i.item_code].ok]
        for item in refused:
            item.message = "未保存：" + "；".join(results[item.item_code].errors.values())
        if refused:
            self.message = (f"未保存：“{refused[0].title}”不能保存（见该项下方说明），"
                            "其他修改也暂未保存，请改正后再点“保存全部”")
            return False
        self.refresh()
        self.message = f"已保存 {len(dirty)} 项到本机，联网后同步"
        return True
