"""The 五清 screen's presenter: the county's template items with their hints beside the manual
verdicts, and saving all changed items at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sync_protocol.errors import RuhuError
from sync_protocol.wuqing import (
    SECRETARY_NOTE,
    hint_summary,
    judge_hint,
    may_judge,
    rectification_overdue,
)

from .base import Presenter, SaveResult, errors_of, format_when, mime_of


class WuqingPresenter(Presenter):
    def view(self, household_id: str) -> list[dict[str, Any]]:
        bundle = self.store.household_bundle(household_id)
        if bundle is None:
            return []
        policy = self.store.hint_policy(bundle.household.fields, self.today())
        template = self.store.checklist_template(policy.template_code)
        hints = bundle.hints(policy, self.store.user_names(), template)
        verdicts = bundle.verdicts(template.code)
        role = self.store.current_role
        out = []
        for item in template.items:
            verdict = verdicts.get(item.code, {})
            hint_text, hint_state = hint_summary(hints.get(item.code))
            out.append({
                "item_code": item.code,
                "title": item.title,
                "description": item.description,
                # the template's 村书记 item (sync_protocol.wuqing: the server's rule too)
                "judge_note": SECRETARY_NOTE if item.secretary_only else "",
                # the verdict buttons are disabled, with this hint, for a role that may not
                "may_judge": may_judge(role, template, item.code),
                "judge_hint": judge_hint(role, template, item.code),
                "hint_text": hint_text,
                "hint_state": hint_state,
                "verdict": verdict.get("verdict") or "unchecked",
                "note": verdict.get("note") or "",
                "attachment_ids": list(verdict.get("attachment_ids") or []),
                "checked_at": format_when(verdict.get("checked_at")),
                "check_level": verdict.get("check_level") or "",
                "rectify_by": str(verdict.get("rectify_by") or ""),
                "rectified_at": str(verdict.get("rectified_at") or ""),
                "rectify_note": verdict.get("rectify_note") or "",
                "rectification_overdue": rectification_overdue(verdict, self.today()),
            })
        return out

    def set_verdict(self, household_id: str, item_code: str, verdict: str, note: str,
                    photos: list[str], extra: dict[str, Any] | None = None) -> SaveResult:
        """Save one 五清 verdict; ``extra``: check level and rectification (整改) fields, empty
        text meaning "not set"."""
        result = self.save_all(household_id, [{"item_code": item_code, "verdict": verdict,
                                               "note": note, "photos": photos,
                                               "extra": extra or {}}])
        return result.get(item_code, SaveResult())

    def save_all(self, household_id: str,
                 items: list[dict[str, Any]]) -> dict[str, SaveResult]:
        """Save every changed item of the 五清 screen at once (one tap): all or nothing — when
        one item is refused nothing is saved and each refused item gets its message. Items:
        ``item_code``, ``verdict``, ``note``, ``photos`` (new files), ``extra``."""
        results: dict[str, SaveResult] = {}
        current = {r["item_code"]: r for r in self.view(household_id)}
        try:
            with self.store.transaction():
                for item in items:
                    code = item["item_code"]
                    try:
                        results[code] = SaveResult(self._store_item(
                            household_id, item, current.get(code, {})))
                    except RuhuError as exc:
                        results[code] = SaveResult(None, errors_of(exc))
                    except OSError as exc:
                        results[code] = SaveResult(None, {
                            "attachment_ids": f"照片无法读取：{exc.strerror or exc}"})
                if any(not r.ok for r in results.values()):
                    raise _Refused
        except _Refused:
            return {code: r if not r.ok else SaveResult(None) for code, r in results.items()}
        if results:
            self.ctx.changed()
        return results

    def _store_item(self, household_id: str, item: dict[str, Any],
                    current: dict[str, Any]) -> str:
        shas = [self.store.add_attachment(Path(p), mime_of(p)) for p in item.get("photos") or []]
        ids = list(dict.fromkeys([*current.get("attachment_ids", []), *shas]))
        extra = {k: (v.strip() if isinstance(v, str) else v) or None
                 for k, v in (item.get("extra") or {}).items()}
        return self.store.set_checklist_verdict(
            household_id, item["item_code"], item["verdict"],
            str(item.get("note") or "").strip() or None, ids if ids else None, extra=extra)


class _Refused(Exception):
    """One item was refused: roll the whole save back."""
