"""Hybrid logical clock: ``<13-digit ms>-<4-digit counter>-<device_id>``, sortable as text."""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import dataclass

HLC_RE = re.compile(r"^(\d{13})-(\d{4})-([A-Za-z0-9_-]{1,64})$")
MAX_FUTURE_SKEW_MS = 5 * 60 * 1000


@dataclass(frozen=True, order=True)
class Hlc:
    millis: int
    counter: int
    device_id: str

    def __str__(self) -> str:
        return f"{self.millis:013d}-{self.counter:04d}-{self.device_id}"

    @classmethod
    def parse(cls, text: str) -> Hlc:
        match = HLC_RE.match(text) if isinstance(text, str) else None
        if not match:
            raise ValueError(f"not an HLC: {text!r}")
        return cls(int(match.group(1)), int(match.group(2)), match.group(3))


def is_hlc(text: object) -> bool:
    return isinstance(text, str) and bool(HLC_RE.match(text))


def wall_time(text: str | None) -> dt.datetime | None:
    """The wall-clock moment (UTC) at which an HLC was ticked; None when it is not an HLC."""
    match = HLC_RE.match(text) if isinstance(text, str) else None
    if not match:
        return None
    return dt.datetime.fromtimestamp(int(match.group(1)) / 1000, dt.UTC)


def now_ms() -> int:
    return int(time.time() * 1000)


def clamp(text: str, server_ms: int | None = None) -> tuple[str, int]:
    """Clamp an HLC more than 5 minutes ahead of the server to server time.

    Returns the (possibly clamped) HLC and the skew in ms that was removed (0 when none), so the
    caller can record it. A clamped clock can never win a field forever.
    """
    match = HLC_RE.match(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"not an HLC: {text!r}")
    millis, counter, device_id = match.groups()
    return clamp_parts(millis, counter, device_id, now_ms() if server_ms is None else server_ms)


def clamp_parts(millis: str, counter: str, device_id: str, server_ms: int) -> tuple[str, int]:
    """``clamp`` of an HLC already split by ``HLC_RE`` (the push path parses each clock once)."""
    skew = int(millis) - server_ms
    if skew > MAX_FUTURE_SKEW_MS:
        return f"{server_ms:013d}-{counter}-{device_id}", skew
    return f"{millis}-{counter}-{device_id}", 0


class HlcClock:
    """A device's clock: monotonic even when the wall clock goes backwards."""

    def __init__(self, device_id: str, last: str | None = None, wall=now_ms) -> None:
        self.device_id = device_id
        self._wall = wall
        self._last = Hlc.parse(last) if last else Hlc(0, 0, device_id)

    def tick(self) -> str:
        wall = self._wall()
        if wall > self._last.millis:
            self._last = Hlc(wall, 0, self.device_id)
        else:
            self._last = Hlc(self._last.millis, self._last.counter + 1, self.device_id)
            if self._last.counter > 9999:
                self._last = Hlc(self._last.millis + 1, 0, self.device_id)
        return str(self._last)

    def observe(self, remote: str) -> None:
        """Move past a clock seen from elsewhere so later local edits sort after it."""
        other = Hlc.parse(remote)
        if (other.millis, other.counter) > (self._last.millis, self._last.counter):
            self._last = Hlc(other.millis, other.counter, self.device_id)

    @property
    def last(self) -> str:
        return str(self._last)
