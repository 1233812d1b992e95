"""The base of every screen: its presenter (``presenters/``) and a ``refresh`` on entering."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.lang import Builder
from kivy.uix.screenmanager import Screen


def load_kv(module_file: str) -> None:
    """Load the ``.kv`` file that sits next to a screen module (once)."""
    path = str(Path(module_file).with_suffix(".kv"))
    if path not in Builder.files:
        Builder.load_file(path)


class BaseScreen(Screen):
    presenter_name = ""  # which of the app's ``Presenters`` this screen uses

    @property
    def presenters(self) -> Any:
        return App.get_running_app().presenters

    @property
    def presenter(self) -> Any:
        return getattr(self.presenters, self.presenter_name)

    def go(self, name: str, **params: Any) -> None:
        App.get_running_app().show(name, **params)

    def on_pre_enter(self, *args: Any) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Reload what the screen shows from its presenter."""

    # --- drafts: typed input is never dropped without asking (docs/tablet.md) ----------------

    def has_draft(self) -> bool:
        """True while the screen holds input that is not saved yet."""
        return False

    def draft_title(self) -> str:
        """What the unsaved input is, in the ask-before-leaving dialog."""
        return "当前页面"

    def save_draft(self) -> bool:
        """Save the unsaved input; False (errors shown on the screen) when it cannot be saved."""
        return True

    def discard_draft(self) -> None:
        """Drop the unsaved input (the user chose 放弃)."""
        self.refresh()
