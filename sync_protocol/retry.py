"""The busy-retry header: a tablet tells the server how long the same request has been turned away.

A busy server answers 503 ``sync.busy`` with ``Retry-After`` (docs/protocol.md, Back-pressure);
the tablet waits and sends the very same request again. Without more, the server cannot tell a
fifth attempt from a first, and in the storm one tablet was turned away on every retry while
newer requests got the slots. So a retry carries

    X-Ruhu-Retry: <count>; waited=<seconds>

``count``: how many times this same request has been answered busy so far (≥ 1); ``waited``:
whole seconds since its first attempt was sent. A first attempt carries no header. The server
serves the waiting request that was first sent earliest (``server/backpressure.py``). The header
is a hint from the client, not trusted for anything but that order: a value that does not parse
is ignored (a first attempt), numbers are capped, so a hostile client gets at most the place of an
honest tablet that has waited ``MAX_WAITED_S``.
"""

from __future__ import annotations

from dataclasses import dataclass

RETRY_HEADER = "X-Ruhu-Retry"
MAX_COUNT = 1000
MAX_WAITED_S = 600  # the tablet gives up a request after 10 min of busy answers
_MAX_LENGTH = 64  # longer values are not ours: ignored unread


@dataclass(frozen=True)
class Retry:
    count: int  # busy answers to this request so far
    waited_s: int  # seconds since its first attempt


def format_retry(count: int, waited_s: float) -> str:
    """The header's value for a request answered busy ``count`` times, first sent ``waited_s``
    seconds ago."""
    return f"{max(1, min(count, MAX_COUNT))}; waited={max(0, min(int(waited_s), MAX_WAITED_S))}"


def parse_retry(value: str | bytes | None) -> Retry | None:
    """The header's meaning; None for a first attempt or a value that does not parse. Never
    raises."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if len(value) > _MAX_LENGTH:
        return None
    head, _, rest = value.partition(";")
    count = _number(head)
    if count is None or count < 1:
        return None
    waited = 0
    name, eq, number = rest.partition("=")
    if eq and name.strip().lower() == "waited":
        waited = _number(number) or 0
    return Retry(min(count, MAX_COUNT), min(waited, MAX_WAITED_S))


def _number(text: str) -> int | None:
    text = text.strip()
    if not (text.isascii() and text.isdigit()):
        return None
    return int(text) if len(text) <= 9 else 10 ** 9  # capped by the caller
