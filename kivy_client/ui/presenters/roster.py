"""The roster screen's presenter: rows for the RecycleView, the villages of the user's scope."""

from __future__ import annotations

from typing import Any

from sync_protocol.display import current_status
from sync_protocol.wuqing import status_label

from ...store import RosterFilter
from .base import Presenter, format_when


class RosterPresenter(Presenter):
    def rows(self, query: str = "", not_visited: bool = False, wuqing_incomplete: bool = False,
             has_conflict: bool = False,
             monitoring_category: str | None = None) -> list[dict[str, Any]]:
        """Rows for the roster's RecycleView (plain dicts of the row's properties)."""
        rows = self.store.roster(RosterFilter(
            query=query, not_visited_this_month=not_visited, wuqing_incomplete=wuqing_incomplete,
            has_conflict=has_conflict, monitoring_category=monitoring_category,
            today=self.today()))
        names = self.ctx.village_names() if len({r.village_code for r in rows}) > 1 else {}
        out = []
        for r in rows:
            status = current_status({
                "household_type": r.household_type, "monitoring_status": r.monitoring_status,
                "monitoring_category": r.monitoring_category, "poverty_status": r.poverty_status})
            visit = format_when(r.last_visit_at)[:10]
            bits = [r.household_number or "无户编号",
                    names.get(r.village_code, r.village_code) if names else "", r.group_name,
                    f"{r.member_count}人", f"上次走访 {visit}" if visit else "未走访",
                    status_label(r.wuqing_checked, r.wuqing_all_clear)]
            out.append({
                "household_id": r.id,
                "title": f"{r.head_name or '（未填户主）'}户",
                "subtitle": "  ·  ".join(b for b in bits if b),
                "status_text": "  ".join(s for s in status if s),
                "state_code": self.ctx.shown_state(r.sync_state.value),
                "state_text": self.ctx.badge_text(r.sync_state.value),
            })
        return out

    def is_empty(self) -> bool:
        """No household on this tablet at all (before the first sync)."""
        return not self.store.roster(RosterFilter(limit=1))

    def empty_hint(self, filtered: bool) -> str:
        """What the roster says when it shows no row."""
        if not filtered and self.is_empty():
            if self.ctx.syncing:
                return "本机还没有农户数据，正在从服务器下载本村农户名单…"
            return "本机还没有农户数据：请联网后点上方“立即同步”下载本村农户名单"
        return "没有符合条件的农户" if filtered else ""
