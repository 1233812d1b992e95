"""The tablet's outbox export: the file a logout writes when changes could not be uploaded.

One JSON document, written by the tablet and applied on the server (console upload or
``ruhu import-outbox FILE``) through the same path as the tablet's own push::

    {"format": "ruhu.outbox-export", "version": 1, "protocol": 1,
     "user_id": ..., "username": ..., "device_id": ..., "exported_at": ...,
     "count": <number of changes>, "sha256": <checksum of the changes>,
     "changes": [<wire changes, exactly as pushed>],
     "attachments": [{"sha256": ..., "mime": ..., "data": <base64>}]}

``count`` and ``sha256`` let the tablet verify the written file before it deletes anything, and
the server refuse a truncated or edited file. They are not a signature: who may import a file,
and whose scope its changes are checked against, is decided on the server (docs/security.md,
"Outbox exports").
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from . import PROTOCOL_VERSION
from .errors import ErrorCode, RuhuError
from .validation import DEVICE_ID_RE, SHA256_RE

FORMAT = "ruhu.outbox-export"
VERSION = 1


def canonical(value: Any) -> bytes:
    """The bytes the checksum is taken over (key order and spacing never matter)."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=str).encode("utf-8")


def checksum(changes: list[dict[str, Any]]) -> str:
    return hashlib.sha256(canonical(changes)).hexdigest()


@dataclass
class OutboxExport:
    user_id: str
    username: str
    device_id: str
    exported_at: str
    changes: list[dict[str, Any]]
    attachments: list[dict[str, Any]] = field(default_factory=list)  # sha256, mime, bytes

    @property
    def sha256(self) -> str:
        return checksum(self.changes)

    def document(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "version": VERSION, "protocol": PROTOCOL_VERSION,
            "user_id": self.user_id, "username": self.username, "device_id": self.device_id,
            "exported_at": self.exported_at, "count": len(self.changes), "sha256": self.sha256,
            "changes": self.changes,
            "attachments": [{"sha256": a["sha256"], "mime": a.get("mime"),
                             "data": base64.b64encode(a["data"]).decode("ascii")}
                            for a in self.attachments],
        }

    def dumps(self) -> bytes:
        return json.dumps(self.document(), ensure_ascii=False, indent=1,
                          default=str).encode("utf-8")


def _invalid(detail: str) -> RuhuError:
    return RuhuError(ErrorCode.outbox_export_invalid, status_code=422, extra={"detail": detail})


def parse(data: bytes) -> OutboxExport:
    """Read an export back: the shape, the count and the checksum must all hold."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise _invalid("json") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("version") != VERSION:
        raise _invalid("format")
    if doc.get("protocol") != PROTOCOL_VERSION:
        raise RuhuError(ErrorCode.protocol_version_unsupported, status_code=422)
    user_id, username, device_id = doc.get("user_id"), doc.get("username"), doc.get("device_id")
    if not (isinstance(user_id, str) and user_id and isinstance(username, str)):
        raise _invalid("user_id")
    if not (isinstance(device_id, str) and DEVICE_ID_RE.match(device_id)):
        raise _invalid("device_id")
    changes = doc.get("changes")
    if not isinstance(changes, list) or not all(isinstance(c, dict) for c in changes):
        raise _invalid("changes")
    if doc.get("count") != len(changes) or doc.get("sha256") != checksum(changes):
        raise RuhuError(ErrorCode.outbox_export_checksum, status_code=422)
    attachments = []
    for entry in doc.get("attachments") or []:
        if not isinstance(entry, dict) or not SHA256_RE.match(str(entry.get("sha256", ""))):
            raise _invalid("attachments")
        try:
            blob = base64.b64decode(str(entry.get("data", "")), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise _invalid("attachments") from exc
        if hashlib.sha256(blob).hexdigest() != entry["sha256"]:
            raise RuhuError(ErrorCode.outbox_export_checksum, status_code=422)
        attachments.append({"sha256": entry["sha256"], "mime": entry.get("mime"), "data": blob})
    return OutboxExport(user_id=user_id, username=username, device_id=device_id,
                        exported_at=str(doc.get("exported_at") or ""), changes=changes,
                        attachments=attachments)
