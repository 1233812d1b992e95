"""Choosing photos: the device camera where plyer has one, otherwise a file chooser popup."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from kivy.metrics import dp
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.filechooser import FileChooserListView
from kivy.uix.image import Image
from kivy.uix.popup import Popup

from . import device

PHOTO_FILTERS = ["*.jpg", "*.jpeg", "*.png", "*.JPG", "*.JPEG", "*.PNG", "*.pdf"]


class PhotoChooser(Popup):
    """A file chooser limited to JPEG/PNG/PDF (the types the server accepts)."""

    def __init__(self, on_chosen: Callable[[str], None], start: str | None = None,
                 **kwargs: Any) -> None:
        self.on_chosen = on_chosen
        body = BoxLayout(orientation="vertical", spacing=dp(8))
        self.chooser = FileChooserListView(path=start or str(Path.home()),
                                           filters=PHOTO_FILTERS, font_name="NotoSansSC")
        body.add_widget(self.chooser)
        row = BoxLayout(size_hint_y=None, height=dp(60), spacing=dp(12))
        ok = Button(text="选用这张照片")
        ok.bind(on_release=lambda *_: self.choose())
        cancel = Button(text="取消", background_color=(0.5, 0.5, 0.5, 1))
        cancel.bind(on_release=lambda *_: self.dismiss())
        row.add_widget(ok)
        row.add_widget(cancel)
        body.add_widget(row)
        super().__init__(title="选择照片", content=body, size_hint=(0.85, 0.9),
                         title_size=dp(22), **kwargs)

    def choose(self, path: str | None = None) -> None:
        chosen = path or (self.chooser.selection[0] if self.chooser.selection else None)
        if chosen:
            self.dismiss()
            self.on_chosen(chosen)


def pick_photo(on_chosen: Callable[[str], None]) -> PhotoChooser | None:
    """Camera first; returns the chooser popup when the device has no camera."""
    if device.take_photo(lambda path: on_chosen(path) if path else None):
        return None
    popup = PhotoChooser(on_chosen)
    popup.open()
    return popup


class Thumbnail(ButtonBehavior, Image):
    """A photo as a small picture (96 dp); a tap calls ``on_remove(path)`` (the visit form
    drops it) or ``on_open(path)`` (shown large). A PDF shows as a document icon."""

    def __init__(self, source: str, on_remove: Callable[[str], None] | None = None,
                 on_open: Callable[[str], None] | None = None, **kwargs: Any) -> None:
        shown = "" if source.lower().endswith(".pdf") else source
        super().__init__(source=shown, size_hint=(None, None), size=(dp(96), dp(96)),
                         fit_mode="contain", **kwargs)
        self.path = source
        self._on_remove, self._on_open = on_remove, on_open

    def on_release(self) -> None:
        if self._on_remove is not None:
            self._on_remove(self.path)
        elif self._on_open is not None:
            self._on_open(self.path)


def show_photo(path: str) -> Popup:
    """One photo, large, in a pop-up (a tap anywhere closes it: nothing is typed here)."""
    popup = Popup(title="照片", content=Image(source=path, fit_mode="contain"),
                  size_hint=(0.9, 0.9), title_size=dp(22))
    popup.open()
    return popup
