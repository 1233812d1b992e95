"""The household roster of the tablet's local store (part of ``Store``): search, filters, sync
states, issues and the roster index kept up to date inside each transaction.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

from sync_protocol import policy, wuqing
from sync_protocol.visits import counts as visit_counts

from .search import household_keys, search_clause
from .store_files import FilesMixin
from .store_reference import ReferenceMixin
from .store_types import _CHILD_LISTS, BY_RANK, Issue, RosterFilter, RosterRow, SyncState, _issue


class RosterMixin(ReferenceMixin, FilesMixin):
    """The roster and its index, sync states and issues."""

    def search(self, query: str, **filters: Any) -> list[RosterRow]:
        """Households matching ``query`` (plus any ``RosterFilter`` fields as keywords)."""
        return self.roster(RosterFilter(query=query, **filters))

    def roster(self, flt: RosterFilter | None = None) -> list[RosterRow]:
        """Households of the local database (the user's villages), filtered, in 拼音 order."""
        flt = flt or RosterFilter()
        where = ["r.entity = 'household'", "r.deleted = 0"]
        params: list[Any] = []
        if flt.query:
            clause, qp = search_clause(flt.query)
            where.append(clause)
            params += qp
        if flt.village_codes:
            where.append("(" + " OR ".join("r.village_code LIKE ?" for _ in flt.village_codes)
                         + ")")
            params += [code + "%" for code in flt.village_codes]
        if flt.not_visited_this_month:
            month = (flt.today or policy.china_today()).strftime("%Y-%m")
            where.append("(hi.last_visit_at IS NULL OR substr(hi.last_visit_at, 1, 7) < ?)")
            params.append(month)
        if flt.wuqing_incomplete:
            where.append("hi.wuqing_complete = 0")
        if flt.has_conflict:
            where.append("EXISTS (SELECT 1 FROM issues i WHERE i.household_id = r.id"
                         " AND i.kind = 'conflict' AND i.status = 'open')")
        if flt.monitoring_category:
            where.append("json_extract(r.fields, '$.monitoring_category') = ?")
            params.append(flt.monitoring_category)
        day = f"'{policy.china_today().isoformat()}'"  # a date we made, not user input
        sql = (
            "SELECT r.id, r.village_code,"
            " json_extract(r.fields, '$.head_name') AS head_name,"
            " json_extract(r.fields, '$.household_number') AS household_number,"
            " json_extract(r.fields, '$.group_name') AS group_name,"
            " json_extract(r.fields, '$.poverty_status') AS poverty_status,"
            " json_extract(r.fields, '$.monitoring_category') AS monitoring_category,"
            " json_extract(r.fields, '$.household_type') AS household_type,"
            " json_extract(r.fields, '$.monitoring_status') AS monitoring_status,"
            " hi.last_visit_at, hi.wuqing_complete, hi.wuqing_all_clear,"
            " (SELECT MAX(c.state_rank) FROM records c WHERE c.household_id = r.id) AS worst,"
            # the members who count today (sync_protocol.members.counts_on): 增减员 by date
            " (SELECT COUNT(*) FROM records m WHERE m.household_id = r.id"
            "   AND m.entity = 'member' AND m.deleted = 0"
            "   AND COALESCE(json_extract(m.fields, '$.joined_on'), '') <= " + day +
            "   AND COALESCE(json_extract(m.fields, '$.left_on'), '9999') > " + day +
            ") AS member_count,"
            " (SELECT COUNT(*) FROM issues i WHERE i.household_id = r.id"
            "   AND i.kind = 'conflict' AND i.status = 'open') AS open_conflicts"
            " FROM records r JOIN household_index hi ON hi.household_id = r.id"
            " WHERE " + " AND ".join(where)
            + " ORDER BY r.village_code, group_order(group_name), hi.sort_key, r.id"
        )
        if flt.limit:
            sql += f" LIMIT {int(flt.limit)}"
        return [
            RosterRow(
                id=row["id"], head_name=row["head_name"] or "",
                household_number=row["household_number"] or "",
                village_code=row["village_code"] or "", group_name=row["group_name"] or "",
                poverty_status=row["poverty_status"],
                monitoring_category=row["monitoring_category"],
                member_count=row["member_count"], last_visit_at=row["last_visit_at"],
                wuqing_checked=bool(row["wuqing_complete"]),
                wuqing_all_clear=bool(row["wuqing_all_clear"]),
                sync_state=BY_RANK.get(row["worst"] or 0, SyncState.synced),
                open_conflicts=row["open_conflicts"],
                household_type=row["household_type"],
                monitoring_status=row["monitoring_status"],
            )
            for row in self._q(sql, params)
        ]

    # --- sync states and issues -------------------------------------------------------------

    def record_state(self, entity: str, record_id: str) -> SyncState:
        row = self._row(entity, record_id)
        return SyncState(row["sync_state"]) if row is not None else SyncState.synced

    def household_state(self, household_id: str) -> SyncState:
        """The worst sync state over the household and all its records."""
        rows = self._q("SELECT MAX(state_rank) AS worst FROM records WHERE household_id = ?",
                       (household_id,))
        return BY_RANK.get(rows[0]["worst"] or 0, SyncState.synced)

    def issues(self, entity: str | None = None, record_id: str | None = None, *,
               open_only: bool = False) -> list[Issue]:
        where, params = ["1"], []
        if entity:
            where.append("entity = ?")
            params.append(entity)
        if record_id:
            where.append("record_id = ?")
            params.append(record_id)
        if open_only:
            where.append("status = 'open'")
        rows = self._q("SELECT * FROM issues WHERE " + " AND ".join(where)
                       + " ORDER BY created_at", params)
        return [_issue(r) for r in rows]

    def household_issues(self, household_id: str, *, open_only: bool = False) -> list[Issue]:
        rows = self._q("SELECT * FROM issues WHERE household_id = ?"
                       + (" AND status = 'open'" if open_only else "") + " ORDER BY created_at",
                       (household_id,))
        return [_issue(r) for r in rows]

    def conflict_count(self) -> int:
        return int(self._q("SELECT COUNT(*) AS n FROM issues WHERE kind = 'conflict'"
                           " AND status = 'open'")[0]["n"])

    def rejection_count(self) -> int:
        return int(self._q("SELECT COUNT(*) AS n FROM issues WHERE kind = 'rejection'"
                           " AND status = 'open'")[0]["n"])

    def status_summary(self) -> dict[str, Any]:
        """For the status bar: last sync, pending changes and attachments, conflicts, rejections."""
        return {
            "last_sync_at": self.get_meta("last_sync_at"),
            "pending": self.pending_count(),
            "pending_attachments": len(self.pending_attachments()),
            "conflicts": self.conflict_count(),
            "rejections": self.rejection_count(),
        }

    # --- the roster index -------------------------------------------------------------------

    def _flush_index(self) -> None:
        """Recompute the roster index (search keys, last visit, 五清 complete) of touched
        households, inside the transaction that touched them."""
        dirty, self._dirty = self._dirty, set()
        for household_id in dirty:
            self._index_household(household_id)

    def _index_household(self, household_id: str) -> None:
        c = self.conn
        rows = c.execute("SELECT entity, id, fields, deleted FROM records"
                         " WHERE household_id = ?", (household_id,)).fetchall()
        head = next((r for r in rows if r["entity"] == "household"), None)
        if head is None:
            c.execute("DELETE FROM household_index WHERE household_id = ?", (household_id,))
            return
        lists: dict[str, list[dict[str, Any]]] = {name: [] for name in _CHILD_LISTS.values()}
        for r in rows:
            if r["entity"] in _CHILD_LISTS and not r["deleted"]:
                lists[_CHILD_LISTS[r["entity"]]].append({**json.loads(r["fields"]), "id": r["id"]})
        hh = json.loads(head["fields"])
        members = lists["members"]
        keys = household_keys(
            hh.get("head_name"), hh.get("household_number"), hh.get("head_id_number"),
            [m.get("name") or "" for m in members], [m.get("id_number") or "" for m in members],
        )
        last_visit = _last_moment(v.get("visited_at") for v in lists["visits"]
                                  if visit_counts(v))
        bundle = wuqing.HouseholdBundle(household={**hh, "id": household_id},
                                        checklist=lists["checklist"])
        template = self._template(hh)
        c.execute(
            "INSERT OR REPLACE INTO household_index (household_id, search_text, initials, sort_key,"
            " id_numbers, last_visit_at, wuqing_complete, wuqing_all_clear, dirty)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)",
            (household_id, keys["search_text"], keys["initials"], keys["sort_key"],
             keys["id_numbers"], last_visit, int(wuqing.is_checked(bundle, template)),
             int(wuqing.is_all_clear(bundle, template))),
        )

    def reindex(self) -> None:
        """Rebuild the roster index of every household (after a schema upgrade)."""
        with self.transaction() as c:
            self._dirty = {r["id"] for r in c.execute(
                "SELECT id FROM records WHERE entity = 'household'")}


def _last_moment(values: Iterable[Any]) -> str | None:
    """The latest of ISO moments, in China time (so that its first 7 characters are the month
    of the visit in China, the month the roster filter compares)."""
    moments = []
    for value in values:
        try:
            moments.append(policy.china_now(dt.datetime.fromisoformat(
                str(value).replace("Z", "+00:00"))))
        except ValueError:
            continue
    return max(moments).isoformat() if moments else None
