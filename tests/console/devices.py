"""Hand-scripted tablets for console tests: now in ``tests.devices`` with the other fake
tablets (kept importable here)."""

from tests.devices import Tablet, field_conflict

__all__ = ["Tablet", "field_conflict"]
