"""Apply a tablet's outbox export (``sync_protocol.outbox_export``) as its own push would have been.

The file carries the user id and device id that made the changes. The import is authorised by
whoever runs it (a county admin in the console, or the server operator with
``ruhu import-outbox``); the changes are applied as the ORIGINAL user on the ORIGINAL device,
through ``server.sync.push.push`` (the endpoint's own code): their scope, their attribution, and
the change ids make a second import all ``duplicate``. See docs/security.md, "Outbox exports".
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

from server.audit import audit
from server.scope import Principal
from server.sync import attachments
from server.sync import push as push_mod
from server.sync.sql import raw
from sync_protocol import PROTOCOL_VERSION, outbox_export
from sync_protocol.errors import ErrorCode, RuhuError
from sync_protocol.validation import in_scope
from sync_protocol.wire import MAX_CHANGES_PER_PUSH, MAX_PUSH_BYTES

STATUSES = ("applied", "merged", "conflict", "rejected", "duplicate")


@dataclass
class ImportReport:
    username: str
    user_name: str
    device_id: str
    exported_at: str
    results: list[dict[str, Any]] = field(default_factory=list)  # one per change, in order
    attachments_new: int = 0
    attachments_known: int = 0

    @property
    def counts(self) -> dict[str, int]:
        c = Counter(str(r.get("status")) for r in self.results)
        return {s: c.get(s, 0) for s in STATUSES}


def original_principal(session: Session, export: outbox_export.OutboxExport) -> Principal:
    """The user and device that made the changes, as they are now in the database."""
    with raw(session).cursor() as cur:
        cur.execute("SELECT u.id, u.username, u.name, u.role, u.scopes, u.scope_version, "
                    "d.device_id FROM app_user u LEFT JOIN device d "
                    "ON d.user_id = u.id AND d.device_id = %s WHERE u.id::text = %s",
                    [export.device_id, export.user_id])
        row = cur.fetchone()
    if row is None:
        raise RuhuError(ErrorCode.outbox_export_user_unknown, status_code=422)
    user_id, username, name, role, scopes, scope_version, device = row
    if device is None:
        raise RuhuError(ErrorCode.outbox_export_device_unknown, status_code=422)
    return Principal(user_id=user_id, username=username, name=name, role=role,
                     scopes=tuple(scopes or ()), device_id=device, scope_version=scope_version)


def may_import(admin: Principal | None, original: Principal) -> bool:
    """The server operator (CLI, ``admin`` None) may import any file; a county admin only the
    files of users whose whole scope lies inside their own."""
    if admin is None:
        return True
    return admin.role == "county_admin" and bool(original.scopes) and all(
        in_scope(scope, admin.scopes) for scope in original.scopes)


def _chunks(changes: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Batches a push accepts (count and size), in order."""
    out: list[list[dict[str, Any]]] = []
    batch: list[dict[str, Any]] = []
    size = 200
    for change in changes:
        n = len(json.dumps(change, ensure_ascii=False, default=str).encode()) + 1
        if batch and (len(batch) >= MAX_CHANGES_PER_PUSH or size + n > MAX_PUSH_BYTES * 0.9):
            out.append(batch)
            batch, size = [], 200
        batch.append(change)
        size += n
    if batch:
        out.append(batch)
    return out


def import_outbox(session: Session, admin: Principal | None, data: bytes, *,
                  attachment_limit: int, via: str) -> ImportReport:
    """Check the file, then apply it in the caller's transaction; audited."""
    export = outbox_export.parse(data)
    original = original_principal(session, export)
    if not may_import(admin, original):
        raise RuhuError(ErrorCode.outbox_export_out_of_scope, status_code=403)
    report = ImportReport(username=original.username, user_name=original.name,
                          device_id=original.device_id, exported_at=export.exported_at)
    for att in export.attachments:
        if attachments.store(session, original, att["sha256"], att["data"], attachment_limit):
            report.attachments_new += 1
        else:
            report.attachments_known += 1
    for batch in _chunks(export.changes):
        body = json.dumps({"protocol": PROTOCOL_VERSION, "device_id": original.device_id,
                           "changes": batch}, ensure_ascii=False, default=str).encode()
        report.results += push_mod.push(session, original, body, from_tablet=False)["results"]
    audit(session, admin.user_id if admin else None, "outbox_import", {
        "via": via, "user_id": str(original.user_id), "username": original.username,
        "device_id": original.device_id, "exported_at": export.exported_at,
        "sha256": export.sha256, "changes": len(export.changes), "counts": report.counts,
        "attachments": len(export.attachments)})
    return report
