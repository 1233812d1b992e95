"""The base of every screen: access to the app's controller and a ``refresh`` on entering."""

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
    @property
    def controller(self) -> Any:
        return App.get_running_app().controller

    def go(self, name: str, **params: Any) -> None:
        App.get_running_app().show(name, **params)

    def on_pre_enter(self, *args: Any) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Reload what the screen shows from the controller."""
