"""The household roster of the user's villages: search, filters, a sync badge per household."""

from __future__ import annotations

from typing import Any

from kivy.clock import Clock
from kivy.properties import BooleanProperty, NumericProperty, ObjectProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.popup import Popup
from kivy.uix.recycleview.views import RecycleDataViewBehavior

from ..choices import ALL_CATEGORIES, CATEGORY_CHOICES
from .base import BaseScreen, load_kv

load_kv(__file__)


class RosterRow(RecycleDataViewBehavior, ButtonBehavior, BoxLayout):
    """One household in the roster (a RecycleView view: rebound, never rebuilt, while scrolling)."""

    household_id = StringProperty("")
    title = StringProperty("")
    subtitle = StringProperty("")
    status_text = StringProperty("")
    state_code = StringProperty("synced")
    state_text = StringProperty("")
    index = NumericProperty(0)

    def refresh_view_attrs(self, rv: Any, index: int, data: dict[str, Any]) -> Any:
        self.index = index
        return super().refresh_view_attrs(rv, index, data)

    def on_release(self) -> None:
        from kivy.app import App

        App.get_running_app().show("household", household_id=self.household_id)


class RosterScreen(BaseScreen):
    presenter_name = "roster"
    query = StringProperty("")
    not_visited = BooleanProperty(False)
    wuqing_incomplete = BooleanProperty(False)
    has_conflict = BooleanProperty(False)
    category_text = StringProperty(ALL_CATEGORIES)
    count_text = StringProperty("")
    empty_text = StringProperty("")  # why the list is empty (first login: sync to download)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._pending = None

    def on_query(self, *_args: Any) -> None:
        # typing is debounced: one query after the last key, not one per key
        if self._pending is not None:
            self._pending.cancel()
        self._pending = Clock.schedule_once(lambda _dt: self.refresh(), 0.25)

    def on_not_visited(self, *_args: Any) -> None:
        self.refresh()

    def on_wuqing_incomplete(self, *_args: Any) -> None:
        self.refresh()

    def on_has_conflict(self, *_args: Any) -> None:
        self.refresh()

    def on_category_text(self, *_args: Any) -> None:
        self.refresh()

    def refresh(self) -> None:
        rows = self.presenter.rows(
            query=self.query,
            not_visited=self.not_visited,
            wuqing_incomplete=self.wuqing_incomplete,
            has_conflict=self.has_conflict,
            monitoring_category=CATEGORY_CHOICES.get(self.category_text),
        )
        self.ids.rv.data = rows
        self.count_text = f"共 {len(rows)} 户"
        filtered = bool(self.query or self.not_visited or self.wuqing_incomplete
                        or self.has_conflict or CATEGORY_CHOICES.get(self.category_text))
        self.empty_text = "" if rows else self.presenter.empty_hint(filtered)

    def new_household(self) -> None:
        self.go("household", household_id="")

    def open_pin(self) -> PinPopup:
        popup = PinPopup(presenter=self.presenters.login)
        popup.open()
        self.pin_popup = popup
        return popup


class PinPopup(Popup):
    """Set a 4-8 digit PIN so this tablet unlocks offline without the password."""

    presenter = ObjectProperty(None)
    message = StringProperty("")

    def save(self) -> bool:
        error = self.presenter.set_pin(self.ids.pin.text, self.ids.pin_again.text)
        self.message = error or ""
        if error is None:
            self.dismiss()
            return True
        return False
