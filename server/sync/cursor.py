"""The pull cursor: opaque to clients, base64url of a small JSON object.

``lo``/``hi`` bound the transaction ids of the current round (``hi`` is the xmin of the snapshot
that opened the round: every transaction below it had finished), ``pos`` is the keyset position
``(txid, entity index, id)`` inside the round. ``u`` and ``sv`` bind the cursor to the user and the
version of their scopes, so a scope change is noticed (reset) and a cursor is useless to others.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass

from sync_protocol.errors import ErrorCode, RuhuError


@dataclass
class Cursor:
    user_id: str
    scope_version: int
    lo: int = 0
    hi: int | None = None
    pos: tuple[int, int, uuid.UUID] | None = None

    @property
    def initial(self) -> bool:
        """The first round: the device holds nothing yet, so tombstones are not sent."""
        return self.lo == 0

    def encode(self) -> str:
        data = {"v": 1, "u": self.user_id, "sv": self.scope_version, "lo": self.lo, "hi": self.hi,
                "p": [self.pos[0], self.pos[1], str(self.pos[2])] if self.pos else None}
        raw = json.dumps(data, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _invalid() -> RuhuError:
    return RuhuError(ErrorCode.request_cursor_invalid, status_code=400)


# an encoded cursor is about 200 characters; anything much longer was not made here
MAX_CURSOR_CHARS = 512
_KEYS = frozenset({"v", "u", "sv", "lo", "hi", "p"})


def _int(value: object) -> int:
    """A JSON integer within bigint range, nothing else (no bool, float or digit string)."""
    if type(value) is not int or not 0 <= value < 2**63:  # txids are bigints
        raise _invalid()
    return value


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
    if not isinstance(data, dict) or set(data) != _KEYS or data["v"] != 1:
        raise _invalid()
    user, pos = data["u"], data["p"]
    try:
        uuid.UUID(user)
        if pos is not None:
            if not isinstance(pos, list) or len(pos) != 3 or not isinstance(pos[2], str):
                raise _invalid()
            position: tuple[int, int, uuid.UUID] | None = (_int(pos[0]), _int(pos[1]),
                                                            uuid.UUID(pos[2]))
        else:
            position = None
    except (ValueError, TypeError, AttributeError) as exc:
        raise _invalid() from exc
    cursor = Cursor(user_id=user, scope_version=_int(data["sv"]), lo=_int(data["lo"]),
                    hi=None if data["hi"] is None else _int(data["hi"]), pos=position)
    if cursor.hi is not None and cursor.hi < cursor.lo:
        raise _invalid()
    return cursor
