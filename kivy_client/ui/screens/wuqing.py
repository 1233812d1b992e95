"""五清 checklist: the five items, the hint computed from the data beside a manual verdict."""

from __future__ import annotations

from typing import Any

from kivy.properties import BooleanProperty, ListProperty, ObjectProperty, StringProperty
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
        self.verdict = verdict

    def add_photo(self) -> None:
        pick_photo(lambda path: self.new_photos.append(path))

    def save(self) -> None:
        self.screen.save_item(self)


class WuqingScreen(BaseScreen):
    household_id = StringProperty("")
    household_title = StringProperty("")
    summary = StringProperty("")
    message = StringProperty("")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.items: dict[str, WuqingItem] = {}
        self.loaded: dict[str, tuple[str, str]] = {}

    def refresh(self) -> None:
        self.household_title = self.controller.household_title(self.household_id)
        box = self.ids.item_box
        box.clear_widgets()
        self.items = {}
        rows = self.controller.wuqing_view(self.household_id)
        for row in rows:
            item = WuqingItem(screen=self, **{k: v for k, v in row.items()})
            self.items[row["item_code"]] = item
            self.loaded[row["item_code"]] = (row["verdict"], row["note"])
            box.add_widget(item)
        done = sum(1 for r in rows if r["verdict"] != "unchecked")
        clear = sum(1 for r in rows if r["verdict"] == "clear")
        self.summary = f"已核查 {done}/{len(rows)} 项，清 {clear} 项"

    # --- drafts: a verdict or note changed without 保存此项 is never dropped silently ---------

    def dirty_items(self) -> list[WuqingItem]:
        return [item for code, item in self.items.items()
                if (item.verdict, item.ids.note.text) != self.loaded.get(code)
                or item.new_photos]

    def has_draft(self) -> bool:
        return bool(self.dirty_items())

    def draft_title(self) -> str:
        return f"五清核查（{'、'.join(i.title for i in self.dirty_items())}）"

    def save_draft(self) -> bool:
        for item in self.dirty_items():
            if not self._store(item):
                self.message = f"“{item.title}”未保存：{item.message[4:]}"
                return False
        self.refresh()
        return True

    def _store(self, item: WuqingItem) -> bool:
        result = self.controller.set_verdict(self.household_id, item.item_code, item.verdict,
                                             item.ids.note.text, list(item.new_photos),
                                             item.extra_fields())
        if result.errors:
            item.message = "未保存：" + "；".join(result.errors.values())
            return False
        return True

    def save_item(self, item: WuqingItem) -> None:
        if not self._store(item):
            return
        drafts = {i.item_code: (i.verdict, i.ids.note.text, list(i.new_photos))
                  for i in self.dirty_items() if i is not item}
        self.refresh()
        for code, (verdict, note, photos) in drafts.items():  # the other items keep their input
            other = self.items[code]
            other.verdict, other.ids.note.text, other.new_photos = verdict, note, photos
        self.message = f"“{item.title}”已保存到本机，联网后同步"
