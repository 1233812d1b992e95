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


def decode(text: str) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        data = json.loads(raw)
        if data.get("v") != 1:
            raise _invalid()
        pos = data.get("p")
        cursor = Cursor(
            user_id=str(data["u"]), scope_version=int(data["sv"]), lo=int(data["lo"]),
            hi=None if data.get("hi") is None else int(data["hi"]),
            pos=(int(pos[0]), int(pos[1]), uuid.UUID(pos[2])) if pos else None,
        )
    except RuhuError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise _invalid() from exc
    numbers = [cursor.lo, cursor.hi or 0, *(cursor.pos[:2] if cursor.pos else ())]
    if any(not 0 <= n < 2**63 for n in numbers):  # txids are bigints
        raise _invalid()
    if cursor.hi is not None and cursor.hi < cursor.lo:
        raise _invalid()
    return cursor
