"""The conflicts screen's presenter: a household's conflicts and rejections in plain words."""

from __future__ import annotations

from typing import Any

from sync_protocol.entities import ENTITIES, FIELD_LABELS
from sync_protocol.explain import CLERK

from .base import Presenter, format_when


class ConflictsPresenter(Presenter):
    def issues(self, household_id: str) -> list[dict[str, Any]]:
        out = []
        for issue in self.store.household_issues(household_id):
            entity = ENTITIES[issue.entity].label if issue.entity in ENTITIES else issue.entity
            if issue.kind == "rejection":
                kind, tone = "被退回", "bad"
                if issue.status != "open":
                    kind, tone = "退回（已重新修改）", "muted"
            elif issue.status == "open":
                kind, tone = f"冲突：待{CLERK}处理", "warn"
            else:
                kind, tone = "冲突（已处理）", "ok"
            out.append({
                "title": f"{kind} · {entity}"
                         + (f" ·「{FIELD_LABELS.get(issue.field, issue.field)}」"
                            if issue.field else ""),
                "message": issue.message,
                "when": format_when(issue.created_at),
                "tone": tone,
                "entity": issue.entity,
                "record_id": issue.record_id,
                "field": issue.field,
                "kind": issue.kind,
                "open": issue.status == "open",
            })
        return out

    def title(self, household_id: str) -> str:
        return self.ctx.household_title(household_id)
