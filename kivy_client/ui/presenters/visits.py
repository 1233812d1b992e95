"""The visit screen's presenter (走访记录): saving a visit, withdrawing it the same day, the
co-visitors remembered from the last visit, and photos (thumbnails; photos taken on other
tablets downloaded on demand and kept)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sync_protocol import visits
from sync_protocol.errors import RuhuError
from sync_protocol.policy import china_date

from .base import Presenter, SaveResult, errors_of, mime_of

LAST_CO_VISITOR = "last_co_visitor"


class VisitsPresenter(Presenter):
    def record(self, household_id: str, *, visited_at: dt.datetime,
               lat: float | None, lng: float | None, purpose: str, notes: str,
               co_visitor: str, photos: list[str], household_confirmed: bool,
               findings: list[str] | None = None, finding_note: str = "",
               proposes_entry: bool = False) -> SaveResult:
        helpers = [{**r.fields, "id": r.id}
                   for r in self.store.children(household_id, "helper_assignment")]
        fields: dict[str, Any] = {
            "visited_at": visited_at.isoformat(timespec="seconds"),
            "purpose": purpose.strip() or None,
            "notes": notes.strip() or None,
            "co_visitor": co_visitor.strip() or None,
            "household_confirmed": household_confirmed,
            "location_captured": lat is not None and lng is not None,
            # linked to the 帮扶责任人 pairing current on the day (sync_protocol.visits)
            "helper_assignment_id": visits.assignment_on(
                helpers, china_date(visited_at) or self.today()),
            "findings": list(findings) if findings else None,
            "finding_note": finding_note.strip() or None,
            "proposes_entry": True if proposes_entry else None,
        }
        if lat is not None and lng is not None:
            fields["lat"], fields["lng"] = lat, lng
        fields = {k: v for k, v in fields.items() if v is not None}
        try:
            pairs = [(Path(p), mime_of(p)) for p in photos]
            reused = self._photos_used_before([p for p, _m in pairs])
            record_id = self.store.record_visit(household_id, fields, pairs)
        except RuhuError as exc:
            return SaveResult(None, errors_of(exc))
        except OSError as exc:
            return SaveResult(None, {"attachment_ids": f"照片无法读取：{exc.strerror or exc}"})
        self.store.set_meta(LAST_CO_VISITOR, co_visitor.strip() or None)
        return self.saved(record_id, reused)

    def last_co_visitor(self) -> str:
        """同行人员 of this user's last visit: usually the same colleague goes along."""
        return self.store.get_meta(LAST_CO_VISITOR) or ""

    def can_withdraw(self, visit: dict[str, Any]) -> bool:
        """Its author, on the day of the visit (China time), and not withdrawn yet."""
        return not visit.get("withdrawn") and visits.may_edit(
            visit, self.store.current_user_id, self.now())

    def withdraw(self, visit_id: str) -> SaveResult:
        try:
            self.store.withdraw_visit(visit_id)
        except RuhuError as exc:
            return SaveResult(visit_id, errors_of(exc))
        return self.saved(visit_id)

    def _photos_used_before(self, paths: list[Path]) -> list[str]:
        """Warnings for photos already attached to an earlier visit (a known way to fake
        visits): saved anyway, but said out loud and visible to the township."""
        warnings = []
        for path in paths:
            households = self.store.households_with_photo(path)
            if households:
                title = self.ctx.household_title(households[0]) or "其他农户"
                warnings.append(f"照片“{path.name}”已用于{title}的另一次走访记录")
        return warnings

    # --- photos of saved visits ---------------------------------------------------------------

    def photo_file(self, sha256: str) -> str | None:
        """A local file of the photo for a thumbnail, or None when it is not on this tablet
        yet (taken on another tablet: ``fetch_photo`` downloads it)."""
        data = self.store.attachment_bytes(sha256) if self.store.has_attachment(sha256) else None
        if data is None:
            return None
        folder = Path(self.store.path).resolve().parent / "photo-cache"
        target = folder / f"{sha256}{_sniff(data)}"
        if not target.exists():
            folder.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        return str(target)

    def fetch_photo(self, sha256: str) -> str | None:
        """Download a photo taken on another tablet and keep it on this one; an error text or
        None. Blocking (network): called off the UI thread."""
        try:
            data, mime = self.ctx.session.download_attachment(sha256)
        except RuhuError as exc:
            return f"照片未能下载：{exc.message}"
        if not self.store.cache_attachment(sha256, data, mime.split(";")[0].strip()):
            return "照片未能下载：文件校验不一致"
        return None


def _sniff(data: bytes) -> str:
    if data[:3] == b"\xff\xd8\xff":
        return ".jpg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return ".png"
    return ".pdf" if data[:4] == b"%PDF" else ".bin"
