"""走访记录: time and place come from the device (never typed); photos; household confirmation."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from kivy.properties import BooleanProperty, ListProperty, NumericProperty, StringProperty

from ..choices import FINDINGS, PURPOSES
from ..device import Locator
from ..photos import PhotoChooser, Thumbnail, pick_photo
from ..presenters import format_when
from .base import BaseScreen, load_kv

load_kv(__file__)



class VisitScreen(BaseScreen):
    presenter_name = "visits"
    household_id = StringProperty("")
    household_title = StringProperty("")
    visited_at_text = StringProperty("")
    location_text = StringProperty("未采集定位")
    location_ok = BooleanProperty(False)
    lat = NumericProperty(None, allownone=True)
    lng = NumericProperty(None, allownone=True)
    photos = ListProperty([])
    confirmed = BooleanProperty(False)
    has_findings = BooleanProperty(False)
    message = StringProperty("")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.locator = Locator()
        self.visited_at: dt.datetime | None = None
        self.chooser: PhotoChooser | None = None
        self.saved = False
        self.remembered_co_visitor = ""

    def refresh(self) -> None:
        self.saved = False
        self.household_title = self.presenters.household.title(self.household_id)
        now = self.presenter.now()
        self.visited_at = now
        self.visited_at_text = format_when(now)
        self.lat = self.lng = None
        self.location_ok = False
        self.location_text = "未采集定位"
        self.photos = []
        self.confirmed = False
        self.message = ""
        self.ids.purpose.text = PURPOSES[0]
        self.ids.notes.text = ""
        # 同行人员: usually the same colleague as last time (remembered on this tablet)
        self.remembered_co_visitor = self.presenter.last_co_visitor()
        self.ids.co_visitor.text = self.remembered_co_visitor
        self.ids.confirmed.state = "normal"
        for code, _label in FINDINGS:
            self.ids[f"finding_{code}"].state = "normal"
        self.ids.finding_note.text = ""
        self.ids.proposes_entry.state = "normal"
        self.has_findings = False
        self.locator.start(self.on_location)

    def on_leave(self, *args: Any) -> None:
        self.locator.stop()

    def on_location(self, lat: float | None, lng: float | None, text: str) -> None:
        self.lat, self.lng = lat, lng
        self.location_ok = lat is not None and lng is not None
        self.location_text = (f"已采集定位：{lat:.5f}, {lng:.5f}" if self.location_ok else text)

    def findings(self) -> list[str]:
        """The 走访发现 toggled on, in the shared order (sync_protocol.enums.Finding)."""
        return [code for code, _label in FINDINGS if self.ids[f"finding_{code}"].state == "down"]

    def on_finding(self) -> None:
        """The note and the 建议启动纳入监测 toggle are enabled once there is a finding."""
        self.has_findings = bool(self.findings())
        if not self.has_findings:
            self.ids.proposes_entry.state = "normal"

    def add_photo(self) -> None:
        self.chooser = pick_photo(self.photo_chosen)

    def photo_chosen(self, path: str) -> None:
        if path not in self.photos:
            self.photos.append(path)

    @property
    def photos_text(self) -> str:
        return "、".join(Path(p).name for p in self.photos) or "未添加照片"

    def on_photos(self, *_args: Any) -> None:
        """The chosen photos as thumbnails (a tap on one removes it from this visit)."""
        box = self.ids.thumbnails
        box.clear_widgets()
        for path in self.photos:
            box.add_widget(Thumbnail(source=path, on_remove=self.remove_photo))

    def remove_photo(self, path: str) -> None:
        if path in self.photos:
            self.photos.remove(path)

    # --- drafts ---------------------------------------------------------------------------------

    def has_draft(self) -> bool:
        ids = self.ids
        return not self.saved and bool(
            ids.notes.text.strip() or self.photos
            or ids.co_visitor.text.strip() != self.remembered_co_visitor
            or self.confirmed or ids.purpose.text != PURPOSES[0]
            or bool(self.findings()) or ids.finding_note.text.strip())

    def draft_title(self) -> str:
        return f"“{self.household_title}”的走访记录"

    def save_draft(self) -> bool:
        return self.store_visit()

    def discard_draft(self) -> None:
        self.saved = True  # dropped: the next visit starts empty (refresh on entering)

    # --- saving ---------------------------------------------------------------------------------

    def store_visit(self) -> bool:
        """Save the visit to the store; False with the reason shown when it cannot be saved."""
        if self.visited_at is None:
            return False
        result = self.presenter.record(
            self.household_id, visited_at=self.visited_at, lat=self.lat, lng=self.lng,
            purpose=self.ids.purpose.text, notes=self.ids.notes.text,
            co_visitor=self.ids.co_visitor.text, photos=list(self.photos),
            household_confirmed=self.confirmed, findings=self.findings(),
            finding_note=self.ids.finding_note.text if self.has_findings else "",
            proposes_entry=self.has_findings and self.ids.proposes_entry.state == "down")
        if result.errors:
            self.message = "未保存：" + "；".join(result.errors.values())
            return False
        self.saved = True
        self.locator.stop()
        self.last_warnings = list(result.warnings)
        return True

    def save(self) -> bool:
        if not self.store_visit():
            return False
        warnings = getattr(self, "last_warnings", [])
        note = ("（注意：" + "；".join(warnings) + "）") if warnings else ""
        self.go("household", household_id=self.household_id, flash="走访记录已保存到本机" + note)
        return True
