"""Attachments, the outbox export and the wipe of the tablet's local store (part of ``Store``)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from sync_protocol import outbox_export
from sync_protocol.errors import RuhuError

from .store_outbox import OutboxMixin
from .store_reference import REFERENCE_KNOWN
from .store_types import Attachment, _now


class FilesMixin(OutboxMixin):
    """Photos and scans queued for upload; the export and wipe at logout."""

    # --- attachments ------------------------------------------------------------------------

    def add_attachment(self, data: bytes | Path | str, mime: str) -> str:
        """Queue a photo/scan for upload; returns its sha256 (the id records reference)."""
        path: str | None = None
        if isinstance(data, (str, Path)):
            path = str(data)
            blob = Path(data).read_bytes()
        else:
            blob = data
        sha = hashlib.sha256(blob).hexdigest()
        with self.transaction() as c:
            c.execute(
                "INSERT INTO attachments (sha256, path, data, mime, size, status, created_at)"
                " VALUES (?, ?, ?, ?, ?, 'pending', ?) ON CONFLICT(sha256) DO NOTHING",
                (sha, path, None if path else blob, mime, len(blob), _now()),
            )
        return sha

    def pending_attachments(self) -> list[Attachment]:
        rows = self._q("SELECT sha256, mime, size, status, path, error FROM attachments"
                       " WHERE status != 'uploaded' ORDER BY created_at")
        return [Attachment(**dict(r)) for r in rows]

    def attachment_bytes(self, sha256: str) -> bytes | None:
        rows = self._q("SELECT data, path FROM attachments WHERE sha256 = ?", (sha256,))
        if not rows:
            return None
        if rows[0]["data"] is not None:
            return bytes(rows[0]["data"])
        try:
            return Path(rows[0]["path"]).read_bytes()
        except OSError:
            return None

    def has_attachment(self, sha256: str) -> bool:
        return bool(self._q("SELECT 1 FROM attachments WHERE sha256 = ?", (sha256,)))

    def cache_attachment(self, sha256: str, data: bytes, mime: str) -> bool:
        """Keep a photo downloaded from the server (taken on another tablet) so it is shown
        offline next time; marked uploaded (never sent back). False when ``data`` is not the
        file named by ``sha256``."""
        if hashlib.sha256(data).hexdigest() != sha256:
            return False
        with self.transaction() as c:
            c.execute(
                "INSERT INTO attachments (sha256, path, data, mime, size, status, created_at)"
                " VALUES (?, NULL, ?, ?, ?, 'uploaded', ?) ON CONFLICT(sha256) DO NOTHING",
                (sha256, data, mime, len(data), _now()))
        return True

    def households_with_photo(self, path: str | Path) -> list[str]:
        """Households whose (not deleted) visits already carry the photo at ``path`` (by its
        sha256): a photo reused for another visit is flagged."""
        sha = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        rows = self._q("SELECT DISTINCT household_id FROM records WHERE entity = 'visit'"
                       " AND deleted = 0 AND fields LIKE ?", (f"%{sha}%",))
        return [str(r["household_id"]) for r in rows]

    def mark_attachment(self, sha256: str, status: str, error: str | None = None) -> None:
        with self.transaction() as c:
            c.execute("UPDATE attachments SET status = ?, error = ? WHERE sha256 = ?",
                      (status, error, sha256))

    # --- logout / export --------------------------------------------------------------------

    def has_unsynced_work(self) -> bool:
        return self.pending_count() > 0 or bool(self.pending_attachments())

    def outbox_export(self, user_id: str | None = None, username: str = "",
                      ) -> outbox_export.OutboxExport:
        """Every unsynced change, as pushed, and the bytes of every attachment not yet uploaded,
        attributed to the user who made them (the tablet's data owner)."""
        with self._lock:
            changes = [c.wire() for c in self.outbox(limit=10**9, max_bytes=10**12)]
            attachments = []
            for att in self.pending_attachments():
                data = self.attachment_bytes(att.sha256)
                if data is not None:
                    attachments.append({"sha256": att.sha256, "mime": att.mime, "data": data})
            owner = user_id or self.get_meta("data_owner") or self.current_user_id or ""
        return outbox_export.OutboxExport(
            user_id=owner, username=username, device_id=self.device_id, exported_at=_now(),
            changes=changes, attachments=attachments)

    def export_outbox(self, path: str | Path, *, user_id: str | None = None,
                      username: str = "") -> Path:
        """Write the outbox export (``sync_protocol.outbox_export``) to ``path`` (via a temporary
        file and a rename, flushed to disk), for ``ruhu import-outbox`` or the console."""
        path = Path(path)
        data = self.outbox_export(user_id, username).dumps()
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        return path

    def verify_export(self, path: str | Path) -> bool:
        """Read the written file back: it parses, and its changes (count and checksum) and
        attachments are exactly the outbox's now. Only then may the local copy go."""
        try:
            got = outbox_export.parse(Path(path).read_bytes())
        except (OSError, RuhuError):
            return False
        want = self.outbox_export(got.user_id, got.username)
        return (got.device_id == self.device_id and len(got.changes) == len(want.changes)
                and got.sha256 == want.sha256
                and {a["sha256"] for a in got.attachments}
                == {a["sha256"] for a in want.attachments}
                and len(want.attachments) == len(self.pending_attachments()))

    def wipe(self) -> None:
        """Remove every record, change, issue and attachment (logout after export)."""
        self._reference = None
        with self.transaction() as c:
            for table in ("records", "outbox", "issues", "attachments", "household_index"):
                c.execute(f"DELETE FROM {table}")
            for key in ("cursor", "reference", REFERENCE_KNOWN, "user_id", "user_name",
                        "user_scopes", "last_sync_at", "data_owner"):
                c.execute("DELETE FROM meta WHERE key = ?", (key,))
