"""Shared widgets: the sync status bar, badges, and a generic form built from entity fields."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kivy.lang import Builder
from kivy.metrics import dp
from kivy.properties import (
    BooleanProperty,
    ListProperty,
    NumericProperty,
    ObjectProperty,
    StringProperty,
)
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.label import Label
from kivy.uix.spinner import Spinner
from kivy.uix.textinput import TextInput
from kivy.uix.togglebutton import ToggleButton

from sync_protocol.display import parse_text
from sync_protocol.entities import FIELD_LABELS

from . import theme

Builder.load_file(str(Path(__file__).with_suffix(".kv")))

NOT_SET = "（未填写）"
YES, NO = "是", "否"


class StatusBar(BoxLayout):
    """Always visible: who is logged in, last sync, pending count, conflicts, sync button."""

    user_text = StringProperty("未登录")
    last_sync_text = StringProperty("从未同步")
    pending = NumericProperty(0)
    conflicts = NumericProperty(0)
    rejected = NumericProperty(0)
    syncing = BooleanProperty(False)
    progress = NumericProperty(0)
    progress_text = StringProperty("")
    online_text = StringProperty("")
    sync_action = ObjectProperty(None, allownone=True)
    logout_action = ObjectProperty(None, allownone=True)
    stop_action = ObjectProperty(None, allownone=True)
    signed_in = BooleanProperty(False)  # nobody signed in: no counts, no sync or logout button
    retrying = BooleanProperty(False)  # the server did not answer; the sync waits to retry


class Badge(Label):
    """A coloured pill with the sync state of a household or record."""

    state_code = StringProperty("synced")
    colour = ListProperty(list(theme.OK))

    def on_state_code(self, _inst: Any, value: str) -> None:
        self.colour = list(theme.BADGE_COLOURS.get(value, theme.MUTED))


class SectionTitle(Label):
    pass


class Muted(Label):
    pass


class ErrorText(Label):
    pass


class WrapLabel(Label):
    pass


class FieldSpec:
    """One input of a ``Form``; kind: text, multiline, enum, multi_enum, bool, date, int, float."""

    def __init__(self, name: str, kind: str = "text", choices: dict[str, str] | None = None,
                 label: str | None = None, readonly: bool = False, hint: str = "") -> None:
        self.name = name
        self.kind = kind
        self.choices = choices or {}
        self.label = label or FIELD_LABELS.get(name, name)
        self.readonly = readonly
        self.hint = hint


class MultiChoice(GridLayout):
    """Toggle buttons for a list-valued enum (致贫原因): tap to select, order kept as tapped."""

    choices = ObjectProperty({})
    selected = ListProperty([])

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cols = 4
        self.spacing = dp(6)
        self.size_hint_y = None
        self.bind(minimum_height=self.setter("height"))
        self.buttons: dict[str, ToggleButton] = {}
        for code, text in self.choices.items():
            button = ToggleButton(text=text, size_hint_y=None, height=dp(52))
            button.bind(state=lambda b, s, c=code: self._toggle(c, s))
            self.buttons[code] = button
            self.add_widget(button)

    def _toggle(self, code: str, state: str) -> None:
        if state == "down" and code not in self.selected:
            self.selected.append(code)
        elif state != "down" and code in self.selected:
            self.selected.remove(code)

    def set(self, values: list[str]) -> None:
        self.selected = []
        for button in self.buttons.values():
            button.state = "normal"
        for code in values or []:
            if code in self.buttons:
                self.buttons[code].state = "down"


class YesNo(BoxLayout):
    """是 / 否 as two buttons: one tap sets the value; tapping the chosen one again clears it
    (``value``: True, False or None = 未填写)."""

    value = ObjectProperty(None, allownone=True)

    def __init__(self, readonly: bool = False, **kwargs: Any) -> None:
        super().__init__(spacing=dp(8), size_hint_y=None, height=dp(52), **kwargs)
        self.yes = ToggleButton(text=YES, disabled=readonly)
        self.no = ToggleButton(text=NO, disabled=readonly)
        self.yes.bind(on_release=lambda *_: self._tap(True))
        self.no.bind(on_release=lambda *_: self._tap(False))
        self.add_widget(self.yes)
        self.add_widget(self.no)
        self.bind(value=lambda *_: self._show())

    def _tap(self, choice: bool) -> None:
        self.value = None if self.value is choice else choice
        self._show()

    def _show(self) -> None:
        self.yes.state = "down" if self.value is True else "normal"
        self.no.state = "down" if self.value is False else "normal"


class Form(GridLayout):
    """Two columns (label, input) generated from ``FieldSpec``s; errors show under the input."""

    def __init__(self, specs: list[FieldSpec], **kwargs: Any) -> None:
        super().__init__(cols=1, size_hint_y=None, spacing=dp(6), **kwargs)
        self.bind(minimum_height=self.setter("height"))
        self.specs = {s.name: s for s in specs}
        self.inputs: dict[str, Any] = {}
        self.errors: dict[str, ErrorText] = {}
        for spec in specs:
            row = BoxLayout(size_hint_y=None, spacing=dp(12))
            label = Label(text=spec.label, size_hint_x=None, width=dp(220), halign="right",
                          valign="middle", color=theme.MUTED)
            label.bind(size=label.setter("text_size"))
            widget = self._input(spec)
            row.add_widget(label)
            row.add_widget(widget)
            height = widget.height if spec.kind in ("multi_enum", "multiline") else dp(52)
            row.height = height
            if spec.kind == "multi_enum":
                widget.bind(height=row.setter("height"))
            self.add_widget(row)
            error = ErrorText(text="", size_hint_y=None, height=0)
            self.errors[spec.name] = error
            self.add_widget(error)
            self.inputs[spec.name] = widget

    def _input(self, spec: FieldSpec) -> Any:
        if spec.kind == "enum":
            return Spinner(text=NOT_SET, values=[NOT_SET, *spec.choices.values()],
                           size_hint_y=None, height=dp(52), disabled=spec.readonly)
        if spec.kind == "bool":
            return YesNo(readonly=spec.readonly)
        if spec.kind == "multi_enum":
            return MultiChoice(choices=spec.choices)
        multiline = spec.kind == "multiline"
        return TextInput(multiline=multiline, size_hint_y=None,
                         height=dp(120) if multiline else dp(52), readonly=spec.readonly,
                         hint_text=spec.hint, input_filter=_FILTERS.get(spec.kind),
                         write_tab=False)

    def set_values(self, values: dict[str, Any]) -> None:
        for name, spec in self.specs.items():
            widget, value = self.inputs[name], values.get(name)
            if spec.kind == "enum":
                widget.text = NOT_SET if value is None else spec.choices.get(str(value), NOT_SET)
            elif spec.kind == "bool":
                widget.value = None if value is None else bool(value)
            elif spec.kind == "multi_enum":
                widget.set(list(value or []))
            else:
                widget.text = "" if value is None else str(value)
        self.clean = self.values()

    def restore(self, draft: dict[str, Any]) -> None:
        """Put unsaved input back after a reload (the loaded values stay the clean state)."""
        clean = getattr(self, "clean", {})
        self.set_values({**clean, **draft,
                         **{n: clean.get(n) for n, s in self.specs.items() if s.readonly}})
        self.clean = clean

    @property
    def dirty(self) -> bool:
        """Typed or chosen since the last ``set_values`` (what was loaded or saved)."""
        return self.values() != getattr(self, "clean", {})

    def values(self) -> dict[str, Any]:
        """Raw values for ``validate_fields``; empty inputs are ``None``."""
        out: dict[str, Any] = {}
        for name, spec in self.specs.items():
            if spec.readonly:
                continue
            widget = self.inputs[name]
            if spec.kind == "enum":
                codes = {v: k for k, v in spec.choices.items()}
                out[name] = codes.get(widget.text)
            elif spec.kind == "bool":
                out[name] = widget.value
            elif spec.kind == "multi_enum":
                out[name] = list(widget.selected)
            else:
                text = widget.text.strip()
                out[name] = parse_text(spec.kind, text)
        return out

    def set_choices(self, name: str, choices: dict[str, str]) -> None:
        """New choices of an ``enum`` input (e.g. the villages of the signed-in user)."""
        spec, widget = self.specs[name], self.inputs[name]
        spec.choices = dict(choices)
        widget.values = [NOT_SET, *spec.choices.values()]

    def set_readonly(self, name: str, readonly: bool) -> None:
        """Make one text input read-only (its value is then never sent as an edit)."""
        spec, widget = self.specs[name], self.inputs[name]
        spec.readonly = readonly
        widget.readonly = readonly
        widget.background_color = (0.90, 0.89, 0.87, 1) if readonly else (1, 1, 1, 1)

    def show_errors(self, messages: dict[str | None, str]) -> None:
        """``{field: message}``; unknown fields are ignored (the caller shows them elsewhere)."""
        for name, error in self.errors.items():
            text = messages.get(name, "")
            error.text = text
            error.height = dp(28) if text else 0


_FILTERS = {"int": "int", "float": "float"}


