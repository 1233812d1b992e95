"""The pull cursor: opaque to clients, base64url of a small JSON object.

``lo``/``hi`` bound the transaction ids of the current round (``hi`` is the xmin of the snapshot
that opened the round: every transaction below it had finished), ``pos`` is the keyset position
inside the round (``pull``'s streams):

* an incremental round (``lo > 0``): ``(txid, stream, key)`` over the change log (key: its id),
  the conflicts and the scope exits (key: a UUID);
* an initial round (``lo == 0``): ``(village code, HOUSEHOLDS, household id)`` while it pages
  households, then ``(txid, CONFLICTS, conflict id)`` over the open conflicts.

``u`` and ``sv`` bind the cursor to the user and the version of their scopes, so a scope change is
noticed (reset) and a cursor is useless to others. Version 1 cursors (the record tables' keyset,
before migration 0015) are still read: their ``lo``/``hi`` mean the same, their position is
dropped (an incremental round restarts: harmless re-sends; an initial download starts over).
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from dataclasses import dataclass

from sync_protocol.errors import ErrorCode, RuhuError

LOG, CONFLICTS, EXITS, HOUSEHOLDS = 0, 1, 2, 3  # the keyset streams (``pull``)
VERSION = 2


@dataclass
class Cursor:
    user_id: str
    scope_version: int
    lo: int = 0
    hi: int | None = None
    pos: tuple[int, int, str] | None = None

    @property
    def initial(self) -> bool:
        """The first round: the device holds nothing yet, so tombstones are not sent."""
        return self.lo == 0

    def encode(self) -> str:
        data = {"v": VERSION, "u": self.user_id, "sv": self.scope_version, "lo": self.lo,
                "hi": self.hi, "p": list(self.pos) if self.pos else None}
        raw = json.dumps(data, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _invalid() -> RuhuError:
    return RuhuError(ErrorCode.request_cursor_invalid, status_code=400)


# an encoded cursor is about 200 characters; anything much longer was not made here
MAX_CURSOR_CHARS = 512
_KEYS = frozenset({"v", "u", "sv", "lo", "hi", "p"})
_DIGITS = re.compile(r"[0-9]{1,19}")


def _int(value: object) -> int:
    """A JSON integer within bigint range, nothing else (no bool, float or digit string)."""
    if type(value) is not int or not 0 <= value < 2**63:  # txids are bigints
        raise _invalid()
    return value


def _position(pos: object, initial: bool) -> tuple[int, int, str]:
    """A version 2 position: the stream decides what its key is."""
    if not isinstance(pos, list) or len(pos) != 3 or not isinstance(pos[2], str):
        raise _invalid()
    first, stream, key = _int(pos[0]), _int(pos[1]), pos[2]
    streams = (HOUSEHOLDS, CONFLICTS) if initial else (LOG, CONFLICTS, EXITS)
    if stream not in streams:
        raise _invalid()
    if stream == LOG:
        if not _DIGITS.fullmatch(key) or int(key) >= 2**63:
            raise _invalid()
        return first, stream, str(int(key))
    return first, stream, str(uuid.UUID(key))


def decode(text: str) -> Cursor:
    """The cursor ``encode`` made, or 400 ``request.cursor_invalid``: only its own shape is
    accepted (exact keys and types), and it is size-capped before parsing, so no nesting depth,
    size or type trick reaches the pull."""
    if not isinstance(text, str) or len(text) > MAX_CURSOR_CHARS:
        raise _invalid()
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        data = json.loads(raw)
    except (ValueError, TypeError, RecursionError) as exc:
        raise _invalid() from exc
    if not isinstance(data, dict) or set(data) != _KEYS or data["v"] not in (1, VERSION) \
            or type(data["v"]) is not int:
        raise _invalid()
    user, pos = data["u"], data["p"]
    lo = _int(data["lo"])
    hi = None if data["hi"] is None else _int(data["hi"])
    try:
        uuid.UUID(user)
        position: tuple[int, int, str] | None = None
        if pos is not None:
            if data["v"] == 1:  # (txid, entity index, UUID) of the record tables: dropped
                if not isinstance(pos, list) or len(pos) != 3 or not isinstance(pos[2], str):
                    raise _invalid()
                _int(pos[0]), _int(pos[1]), uuid.UUID(pos[2])
            else:
                position = _position(pos, lo == 0)
    except (ValueError, TypeError, AttributeError) as exc:
        raise _invalid() from exc
    if data["v"] == 1 and pos is not None and lo == 0:
        hi = None  # the middle of a version 1 initial download: it starts over
    cursor = Cursor(user_id=user, scope_version=_int(data["sv"]), lo=lo, hi=hi, pos=position)
    if cursor.hi is not None and cursor.hi < cursor.lo:
        raise _invalid()
    return cursor
