"""Every screen of the app, registered in one place: (name, class)."""

from __future__ import annotations

from kivy.uix.screenmanager import Screen

from .conflicts import ConflictsScreen
from .household import HouseholdScreen
from .login import LoginScreen
from .roster import RosterScreen
from .visit import VisitScreen
from .wuqing import WuqingScreen

SCREENS: list[tuple[str, type[Screen]]] = [
    ("login", LoginScreen),
    ("roster", RosterScreen),
    ("household", HouseholdScreen),
    ("visit", VisitScreen),
    ("wuqing", WuqingScreen),
    ("conflicts", ConflictsScreen),
]
