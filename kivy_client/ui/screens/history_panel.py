"""The household's 轨迹 tab below the status events: visits (with photo thumbnails; photos taken
on other tablets are downloaded on a tap and kept), the clerk's decisions on conflicts (with their
note), and the local edits waiting for upload."""

from __future__ import annotations

import threading
from typing import Any

from kivy.clock import Clock
from kivy.metrics import dp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button

from sync_protocol.explain import CLERK

from ..photos import Thumbnail, show_photo
from ..presenters import format_when
from ..widgets import Muted, SectionTitle, WrapLabel


class HistoryPanel(BoxLayout):
    def __init__(self, screen: Any, **kwargs: Any) -> None:
        """``screen``: the household screen (its ``presenters`` and ``withdraw_visit``)."""
        super().__init__(orientation="vertical", size_hint_y=None, spacing=dp(4), **kwargs)
        self.bind(minimum_height=self.setter("height"))
        self.screen = screen
        self.withdraw_buttons: dict[str, Button] = {}
        self.download_buttons: dict[str, Button] = {}
        self.view: dict[str, Any] = {}

    def show(self, view: dict[str, Any]) -> None:
        self.view = view
        self.clear_widgets()
        self.withdraw_buttons, self.download_buttons = {}, {}
        visits = self.screen.presenters.visits
        self.add_widget(SectionTitle(text=f"走访记录（{len(view.get('visits', []))}）"))
        for v in sorted(view.get("visits", []), key=lambda r: r.get("visited_at") or "",
                        reverse=True):
            self._visit(v, visits)
        decisions = view.get("decisions", [])
        if decisions:
            self.add_widget(SectionTitle(text=f"冲突处理结果（{CLERK}）"))
            for line in decisions:
                self.add_widget(WrapLabel(text=line, color=(0.15, 0.40, 0.75, 1)))
        self.add_widget(SectionTitle(text="修改记录"))
        history = view.get("history", [])
        if not history:
            self.add_widget(Muted(text="暂无修改记录", size_hint_y=None, height=dp(36)))
        for line in history:
            self.add_widget(WrapLabel(text=line))

    def _visit(self, v: dict[str, Any], visits: Any) -> None:
        where = "已采集定位" if v.get("location_captured") else "未采集定位"
        confirmed = "农户已确认" if v.get("household_confirmed") else "农户未确认"
        withdrawn = "【已撤回，不计入走访】" if v.get("withdrawn") else ""
        text = WrapLabel(text=f"{withdrawn}{format_when(v.get('visited_at'))}  "
                              f"{v.get('purpose') or ''}  {where}  {confirmed}  "
                              f"{v.get('notes') or ''}")
        if not visits.can_withdraw(v):
            self.add_widget(text)
        else:
            row = BoxLayout(size_hint_y=None, spacing=dp(10))
            text.bind(height=lambda _w, h, r=row: setattr(r, "height", max(h, dp(52))))
            row.add_widget(text)
            button = Button(text="撤回", size_hint=(None, None), size=(dp(150), dp(48)))
            button.bind(on_release=lambda *_a, vid=v["id"]: self.screen.withdraw_visit(vid))
            self.withdraw_buttons[v["id"]] = button
            row.add_widget(button)
            self.add_widget(row)
        photos = list(v.get("attachment_ids") or [])
        if photos:
            strip = BoxLayout(size_hint_y=None, height=dp(100), spacing=dp(8))
            for sha in photos:
                path = visits.photo_file(sha)
                if path is not None:
                    strip.add_widget(Thumbnail(source=path, on_open=show_photo))
                    continue
                button = Button(text="下载照片", size_hint=(None, None), size=(dp(120), dp(96)),
                                background_color=(0.15, 0.40, 0.75, 1))
                button.bind(on_release=lambda *_a, s=sha: self.download(s))
                self.download_buttons[sha] = button
                strip.add_widget(button)
            strip.add_widget(BoxLayout())
            self.add_widget(strip)

    def download(self, sha: str) -> None:
        """Fetch a photo taken on another tablet (off the UI thread), then show it."""
        button = self.download_buttons.get(sha)
        if button is not None:
            button.text, button.disabled = "下载中…", True
        visits = self.screen.presenters.visits

        def done(error: str | None) -> None:
            if error is not None:
                if button is not None:
                    button.text, button.disabled = "重试下载", False
                self.screen.message = error
                return
            self.show(self.view)

        def work() -> None:
            error = visits.fetch_photo(sha)
            Clock.schedule_once(lambda _dt: done(error))

        threading.Thread(target=work, name="ruhu-photo", daemon=True).start()
