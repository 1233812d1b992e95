"""The plain-Python side of the screens: reads and edits through the store, no Kivy here.

Screens call these methods and get back plain dicts, lists and ``SaveResult``s, so everything a
screen does can be exercised headless; Kivy only lays the results out.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import mimetypes
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from kivy_client import procedures
from sync_protocol import visits
from sync_protocol.crosscheck import cross_checks
from sync_protocol.display import current_status, fmt_time, hlc_time
from sync_protocol.entities import ENTITIES, FIELD_LABELS
from sync_protocol.enums import LABELS, Role
from sync_protocol.errors import ErrorCode, RuhuError
from sync_protocol.income import Members, income_table
from sync_protocol.policy import china_date, china_today, visit_interval_days
from sync_protocol.wuqing import HouseholdBundle, rectification_overdue, status_label

from ..session import LogoutResult, Session
from ..store import SYNC_STATE_LABELS, RosterFilter, Store, StoreValidationError, SyncState
from ..sync import NeedsLogin, Progress, SyncClient, SyncWorker

BADGE_TEXT = {
    SyncState.synced: "已同步",
    SyncState.uploading: "上传中",
    SyncState.pending: "待上传",
    SyncState.conflict: "有冲突",
    SyncState.rejected: "被退回",
}


@dataclass
class SaveResult:
    record_id: str | None = None
    errors: dict[str | None, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _errors(exc: RuhuError) -> dict[str | None, str]:
    if isinstance(exc, StoreValidationError) and exc.errors:
        out: dict[str | None, str] = {}
        for e in exc.errors:
            out.setdefault(e.get("field"), e.get("message", ""))
        return out
    return {exc.extra.get("field") if exc.extra else None: exc.message}


def format_when(value: str | dt.datetime | None) -> str:
    """A timestamp as every face shows it: China time, to the minute."""
    return fmt_time(value)


class Controller:
    """What the screens need from the store (and, through ``session``/``sync``, the server)."""

    def __init__(self, store: Store, server_url: str = "", *,
                 transport: httpx.BaseTransport | None = None,
                 clock: Callable[[], dt.datetime] | None = None,
                 sync_options: dict[str, Any] | None = None) -> None:
        self.store = store
        self.server_url = server_url or store.get_meta("server_url") or ""
        self.transport = transport
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.sync_options = dict(sync_options or {})  # e.g. max_retries, backoff (SyncClient)
        self.session = Session(store, self.server_url, transport=transport)
        self.syncing = False  # set by the app while a sync runs
        self.changed: Callable[[], None] = lambda: None  # called after every local save

    # --- what the badges say ------------------------------------------------------------------

    def shown_state(self, state: str) -> str:
        """A change sent by a sync that did not finish is not being uploaded: it is waiting for
        the next sync (which re-sends it with the same id), so it shows as 待上传."""
        if state == SyncState.uploading and not self.syncing:
            return SyncState.pending.value
        return state

    def badge_text(self, state: str) -> str:
        return BADGE_TEXT[SyncState(self.shown_state(state))]

    # --- signing in and out -----------------------------------------------------------------------

    def known_usernames(self) -> list[str]:
        return [a.username for a in self.session.known_users()]

    def login(self, server_url: str, username: str, password: str) -> str | None:
        """Online login (falls back to offline unlock without a signal); an error text or None.

        Blocking (network): the login screen calls it off the UI thread.
        """
        if not username or not password:
            return "请输入用户名和密码"
        server_url = server_url.strip().rstrip("/")
        if server_url and server_url != self.server_url:
            self.server_url = server_url
            self.session = Session(self.store, server_url, transport=self.transport)
            self.store.set_meta("server_url", server_url)
        try:
            self.session.login(username, password)
        except RuhuError as exc:
            return exc.message
        return None

    @property
    def offline_notice(self) -> str:
        """What the status bar says after signing in without reaching the server."""
        if self.signed_in and not self.session.online:
            return ("离线模式：未连接服务器，已用本机保存的密码登录；"
                    "修改保存在本机，联网后请点“立即同步”")
        return ""

    def unlock(self, username: str, secret: str) -> str | None:
        """Offline unlock with the password, or the device PIN; an error text or None."""
        if not username or not secret:
            return "请输入用户名和密码（或PIN码）"
        try:
            self.session.unlock(username, password=secret)
            return None
        except RuhuError as exc:
            first = exc
        if secret.isdigit():
            try:
                self.session.unlock(username, pin=secret)
                return None
            except RuhuError:
                pass
        return first.message

    @property
    def signed_in(self) -> bool:
        return self.session.account is not None

    def user_text(self) -> str:
        account = self.session.account
        if account is None:
            return "未登录"
        return f"{account.name}（{LABELS[Role].get(account.role, account.role)}）"

    def set_pin(self, pin: str, again: str) -> str | None:
        """Set the device PIN (4-8 digits) for offline unlock; an error text or None."""
        if pin != again:
            return "两次输入的PIN码不一致"
        try:
            self.session.set_pin(pin)
        except RuhuError as exc:
            return exc.message
        return None

    @property
    def has_pin(self) -> bool:
        return bool(self.session.account and self.session.account.has_pin)

    def logout(self, force: bool = False, mode: str | None = None) -> LogoutResult:
        return self.session.logout(force=force, mode=mode)

    def sync_worker(self, on_progress: Progress, on_done: Callable[..., None]) -> SyncWorker:
        """A background sync of the store with the signed-in user's token."""
        client = SyncClient(self.store, self.server_url, transport=self.transport,
                            token=lambda: self.session.token, **self.sync_options)
        return SyncWorker(client, on_progress, on_done)

    def sync_failed(self, error: Exception) -> str:
        """What the status bar says after a failed sync (nothing local is lost by one)."""
        if isinstance(error, NeedsLogin):
            self.session.invalidate_token()
            return "登录已过期，请联网后退出并重新登录（本机修改不会丢失）"
        message = getattr(error, "message", "") or str(error)
        return f"同步未完成：{message}"

    # --- time -----------------------------------------------------------------------------------

    def now(self) -> dt.datetime:
        return self._clock()

    def today(self) -> dt.date:
        """China's today at the controller's clock."""
        return china_today(self.now())

    # --- status bar -----------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        s = self.store.status_summary()
        return {
            "last_sync_text": format_when(s.get("last_sync_at")) or "从未同步",
            "pending": int(s.get("pending", 0)) + int(s.get("pending_attachments", 0)),
            "conflicts": int(s.get("conflicts", 0)),
            "rejected": int(s.get("rejections", 0)),
        }

    # --- roster -----------------------------------------------------------------------------------

    def roster(self, query: str = "", not_visited: bool = False, wuqing_incomplete: bool = False,
               has_conflict: bool = False,
               monitoring_category: str | None = None) -> list[dict[str, Any]]:
        """Rows for the roster's RecycleView (plain dicts of the row's properties)."""
        rows = self.store.roster(RosterFilter(
            query=query, not_visited_this_month=not_visited, wuqing_incomplete=wuqing_incomplete,
            has_conflict=has_conflict, monitoring_category=monitoring_category,
            today=self.today()))
        names = self._village_names() if len({r.village_code for r in rows}) > 1 else {}
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
                "state_code": self.shown_state(r.sync_state.value),
                "state_text": self.badge_text(r.sync_state.value),
            })
        return out

    def default_village(self) -> str:
        villages = [s for s in self.store.user_scopes if len(s) == 12]
        if villages:
            return villages[0]
        rows = self.store.roster(RosterFilter(limit=1))
        return rows[0].village_code if rows else ""

    # --- household file ---------------------------------------------------------------------------

    def household_view(self, household_id: str) -> dict[str, Any]:
        bundle = self.store.household_bundle(household_id)
        if bundle is None:
            raise RuhuError(ErrorCode.record_not_found, status_code=404)

        def rows(records: list[Any]) -> list[dict[str, Any]]:
            return [{**r.fields, "id": r.id, "sync_state": r.sync_state.value} for r in records]

        return {
            "household": dict(bundle.household.fields),
            "members": rows(bundle.members),
            "incomes": rows(bundle.incomes),
            "measures": rows(bundle.measures),
            "helpers": rows(bundle.helpers),
            "visits": rows(bundle.visits),
            "status_events": rows(bundle.status_events),
            "checklist": rows(bundle.checklist),
            "state": bundle.sync_state.value,
            "issues": [i for i in bundle.issues if i.status == "open"],
            "history": self.history(
                {household_id} | {r.id for name in ("members", "incomes", "measures", "helpers",
                                                    "visits", "status_events", "checklist")
                                   for r in getattr(bundle, name)}),
        }

    def history(self, ids: set[str]) -> list[str]:
        """Local edits of these records still waiting for upload, newest first, in words."""
        lines = []
        for change in reversed(self.store.outbox(limit=10**6, max_bytes=10**12)):
            if change.record_id not in ids:
                continue
            label = ENTITIES[change.entity].label if change.entity in ENTITIES else change.entity
            names = "、".join(FIELD_LABELS.get(f, f) for f in change.fields
                             if f not in ("household_id",))
            verb = "删除" if change.op == "delete" else ("新建" if change.base_version is None
                                                         else "修改")
            when = hlc_time(change.hlc)
            lines.append(f"{when}  本机{verb}{label}：{names or '—'}（待上传）")
        return lines

    def _save(self, entity: str, record_id: str | None, fields: dict[str, Any],
              create: Callable[[dict[str, Any]], str]) -> SaveResult:
        if record_id is None:
            fields = {k: v for k, v in fields.items() if v not in (None, "", [])}
        else:  # an input left empty on a field that never had a value is not a change
            record = self.store.get(entity, record_id)
            current = record.fields if record is not None else {}
            fields = {k: v for k, v in fields.items()
                      if not (v in (None, "", []) and current.get(k) in (None, "", []))}
        check = self.store.check(entity, fields, creating=record_id is None)
        warnings = [w.message for w in check.warnings]
        try:
            if record_id is None:
                record_id = create(fields)
            else:
                self.store.update(entity, record_id, fields)
        except RuhuError as exc:
            return SaveResult(record_id, _errors(exc), warnings)
        self.changed()
        return SaveResult(record_id, {}, warnings)

    # --- monitoring procedures (judged offline by the server's own state machine) -------------

    MOVES = {"verify": "verified", "review": "reviewed", "notice": "notice",
             "withdraw": "withdrawn", "resubmit": "proposed"}

    def procedures(self, household_id: str) -> list[dict[str, Any]]:
        """The household's procedures, newest first, each with its plain-words ``describe``."""
        household = self.store.get("household", household_id)
        village = household.fields.get("village_code") if household is not None else None
        policy = procedures.local_policy(self.store, village)
        staff = {str(s.get("id")): str(s.get("name")) for s in
                 self.store.reference().get("staff") or [] if isinstance(s, dict)}
        visits = {r.id: str(r.fields.get("visited_at") or "")
                  for r in self.store.children(household_id, "visit")}
        out = []
        for rec in sorted(procedures.procedures_of(self.store, household_id),
                          key=lambda r: r.id, reverse=True):
            out.append({**rec.fields, "id": rec.id, "sync_state": rec.sync_state.value,
                        "describe": procedures.describe(rec, staff, policy, self.today(),
                                                        visits)})
        return out

    def notice_days(self, household_id: str) -> int:
        household = self.store.get("household", household_id)
        village = household.fields.get("village_code") if household is not None else None
        return procedures.local_policy(self.store, village).notice_days

    def procedure_action(self, household_id: str, procedure_id: str | None, action: str,
                         fields: dict[str, Any]) -> SaveResult:
        """发起 (``entry``/``elimination``) or move a procedure; errors in plain Chinese."""
        fields = {k: v for k, v in fields.items() if v not in (None, "", [])}
        if action == "verify":
            names = str(fields.get("verifiers") or "")
            for sep in ("、", "，", ";", "；", " "):
                names = names.replace(sep, ",")
            fields = {"verifiers": [n for n in names.split(",") if n.strip()],
                      "verified_at": self.now().astimezone(dt.UTC).isoformat(
                          timespec="seconds").replace("+00:00", "Z")}
        try:
            if procedure_id is None:
                new_id = procedures.propose(self.store, household_id, action, fields)
                return SaveResult(new_id)
            procedures.move(self.store, procedure_id, self.MOVES[action], fields)
        except RuhuError as exc:
            return SaveResult(procedure_id, _errors(exc))
        return SaveResult(procedure_id)

    def save_household(self, household_id: str | None, fields: dict[str, Any]) -> SaveResult:
        return self._save("household", household_id, fields, self.store.create_household)

    def save_child(self, entity: str, household_id: str, record_id: str | None,
                   fields: dict[str, Any]) -> SaveResult:
        fields = {k: v for k, v in fields.items() if k != "household_id"}

        def create(clean: dict[str, Any]) -> str:
            with self.store.transaction():
                new_id = self.store.create(entity, {**clean, "household_id": household_id})
                if entity == "helper_assignment":
                    self._end_previous_helpers(household_id, new_id, clean.get("start_date"))
                return new_id

        return self._save(entity, record_id, fields, create)

    def _end_previous_helpers(self, household_id: str, new_id: str, start: str | None) -> None:
        """A change of helper adds a row and closes the current one; history is never
        overwritten (domain.md)."""
        first_day = dt.date.fromisoformat(start) if start else self.today()
        last_day = (first_day - dt.timedelta(days=1)).isoformat()
        for rec in self.store.children(household_id, "helper_assignment"):
            f = rec.fields
            if rec.id != new_id and not f.get("end_date") and (f.get("start_date") or "") < \
                    first_day.isoformat():
                self.store.update("helper_assignment", rec.id, {"end_date": last_day})

    def delete_child(self, entity: str, record_id: str) -> SaveResult:
        """Delete a wrongly entered row (a tombstone: the server and the clerk keep history)."""
        try:
            self.store.delete(entity, record_id)
        except RuhuError as exc:
            return SaveResult(record_id, _errors(exc))
        self.changed()
        return SaveResult(record_id)

    # --- visits -----------------------------------------------------------------------------------

    def record_visit(self, household_id: str, *, visited_at: dt.datetime,
                     lat: float | None, lng: float | None, purpose: str, notes: str,
                     co_visitor: str, photos: list[str], household_confirmed: bool,
                     findings: list[str] | None = None, finding_note: str = "",
                     proposes_entry: bool = False) -> SaveResult:
        bundle = self.store.household_bundle(household_id)
        helpers = [{**r.fields, "id": r.id} for r in bundle.helpers] if bundle else []
        fields: dict[str, Any] = {
            "visited_at": visited_at.isoformat(timespec="seconds"),
            "purpose": purpose.strip() or None,
            "notes": notes.strip() or None,
            "co_visitor": co_visitor.strip() or None,
            "household_confirmed": household_confirmed,
            "location_captured": lat is not None and lng is not None,
            # linked to the 帮扶责任人 pairing current on the day (sync_protocol.visits)
            "helper_assignment_id": visits.assignment_on(
                helpers, china_date(visited_at) or china_today()),
            "findings": list(findings) if findings else None,
            "finding_note": finding_note.strip() or None,
            "proposes_entry": True if proposes_entry else None,
        }
        if lat is not None and lng is not None:
            fields["lat"], fields["lng"] = lat, lng
        fields = {k: v for k, v in fields.items() if v is not None}
        try:
            pairs = [(Path(p), _mime(p)) for p in photos]
            reused = self._photos_used_before(pairs)
            record_id = self.store.record_visit(household_id, fields, pairs)
        except RuhuError as exc:
            return SaveResult(None, _errors(exc))
        except OSError as exc:
            return SaveResult(None, {"attachment_ids": f"照片无法读取：{exc.strerror or exc}"})
        self.changed()
        return SaveResult(record_id, {}, reused)

    def can_withdraw_visit(self, visit: dict[str, Any]) -> bool:
        """Its author, on the day of the visit (China time), and not withdrawn yet."""
        return not visit.get("withdrawn") and visits.may_edit(
            visit, self.store.current_user_id, self.now())

    def withdraw_visit(self, visit_id: str) -> SaveResult:
        try:
            self.store.withdraw_visit(visit_id)
        except RuhuError as exc:
            return SaveResult(visit_id, _errors(exc))
        self.changed()
        return SaveResult(visit_id)

    def _photos_used_before(self, pairs: list[tuple[Path, str]]) -> list[str]:
        """Warnings for photos already attached to an earlier visit (a known way to fake
        visits): saved anyway, but said out loud and visible to the township."""
        warnings = []
        for path, _mime_type in pairs:
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
            rows = self.store.query("SELECT household_id FROM records WHERE entity = 'visit'"
                                    " AND deleted = 0 AND fields LIKE ?", (f"%{sha}%",))
            if rows:
                title = self.household_title(rows[0]["household_id"]) or "其他农户"
                warnings.append(f"照片“{path.name}”已用于{title}的另一次走访记录")
        return warnings

    # --- 五清 -----------------------------------------------------------------------------------

    def wuqing_view(self, household_id: str) -> list[dict[str, Any]]:
        bundle = self.store.household_bundle(household_id)
        if bundle is None:
            return []
        policy = self.store.hint_policy(bundle.household.fields, self.today())
        template = self.store.checklist_template(policy.template_code)
        hints = bundle.hints(policy, self.store.user_names())
        verdicts = bundle.verdicts(template.code)
        out = []
        for item in template.items:
            hint = hints.get(item.code)
            verdict = verdicts.get(item.code, {})
            if hint is None or hint.ok is None:
                hint_text, hint_state = "此项需人工核查确认", "manual"
            elif hint.ok:
                hint_text, hint_state = "系统核对的内容未发现问题", "ok"
            else:
                hint_text, hint_state = "系统提示：" + "；".join(hint.messages), "bad"
            if hint is not None and hint.cannot_check:
                hint_text += "（" + "；".join(hint.cannot_check) + "）"
            out.append({
                "item_code": item.code,
                "title": item.title,
                "description": item.description,
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

    def visit_interval_days(self, household: dict[str, Any] | None = None) -> int:
        """The county's required visit interval (shorter for monitored households)."""
        village = str((household or {}).get("village_code") or self.default_village())
        return visit_interval_days(self.store.county_rules(village), household or {})

    def income_lines(self, village_code: str | None) -> dict[int, float]:
        """Year → 防止返贫监测 income line (yuan per head) of the village's province."""
        province = str(village_code or "")[:2]
        out: dict[int, float] = {}
        for line in self.store.reference().get("income_lines") or []:
            amount = line.get("monitoring_amount") or line.get("amount")
            if str(line.get("province")) == province and isinstance(amount, int | float):
                out[int(line.get("year") or 0)] = float(amount)
        return out

    def village_name(self, code: str | None) -> str:
        """村 name from the pulled reference regions (the code itself when unknown)."""
        if not code:
            return ""
        return self._village_names().get(code, code)

    def _village_names(self) -> dict[str, str]:
        return {str(r.get("code")): str(r.get("name") or r.get("code"))
                for r in self.store.reference().get("regions") or [] if r.get("code")}

    def set_verdict(self, household_id: str, item_code: str, verdict: str, note: str,
                    photos: list[str], extra: dict[str, Any] | None = None) -> SaveResult:
        """Save one 五清 verdict; ``extra``: check level and rectification (整改) fields, empty
        text meaning "not set"."""
        try:
            with self.store.transaction():
                shas = [self.store.add_attachment(Path(p), _mime(p)) for p in photos]
                current = {r["item_code"]: r for r in self.wuqing_view(household_id)}
                ids = list(dict.fromkeys([*current.get(item_code, {}).get("attachment_ids", []),
                                          *shas]))
                record_id = self.store.set_checklist_verdict(
                    household_id, item_code, verdict, note.strip() or None,
                    ids if ids else None,
                    extra={k: (v.strip() if isinstance(v, str) else v) or None
                           for k, v in (extra or {}).items()})
        except RuhuError as exc:
            return SaveResult(None, _errors(exc))
        except OSError as exc:
            return SaveResult(None, {"attachment_ids": f"照片无法读取：{exc.strerror or exc}"})
        self.changed()
        return SaveResult(record_id)

    # --- conflicts and rejections ---------------------------------------------------------------

    def issues_view(self, household_id: str) -> list[dict[str, Any]]:
        out = []
        for issue in self.store.household_issues(household_id):
            entity = ENTITIES[issue.entity].label if issue.entity in ENTITIES else issue.entity
            if issue.kind == "rejection":
                kind, tone = "被退回", "bad"
                if issue.status != "open":
                    kind, tone = "退回（已重新修改）", "muted"
            elif issue.status == "open":
                kind, tone = "冲突：待乡镇乡村振兴（防返贫）专干处理", "warn"
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

    def household_title(self, household_id: str) -> str:
        record = self.store.get("household", household_id)
        return f"{record.fields.get('head_name') or '（未填户主）'}户" if record else ""

    def state_label(self, state: str) -> str:
        return SYNC_STATE_LABELS.get(SyncState(state), state)


def cross_check_lines(view: dict[str, Any], lines: dict[int, float] | None = None) -> list[str]:
    """The household file's contradictions (``sync_protocol.crosscheck``) as hint lines for the
    members tab: shown, never blocking a save."""
    bundle = HouseholdBundle(household=view.get("household") or {}, members=view["members"],
                             incomes=view["incomes"], measures=view["measures"],
                             helpers=view["helpers"], visits=view["visits"])
    return ["核对提示：" + c.message for c in cross_checks(bundle, china_today(), lines)]


def income_summary_lines(incomes: list[dict[str, Any]], members: Members,
                         lines: dict[int, float] | None = None) -> list[str]:
    """家庭纯收入 and 人均纯收入 per year (``sync_protocol.income.income_table``: each year's
    members), newest year first, with a warning where the per-head income is below that year's
    monitoring line (the current year against the line pro-rated to the share gone by)."""
    out = []
    for row in income_table(incomes, members, china_today(), lines):
        year, head, people = row["year"], row["per_capita"], row["people"]
        text = f"，人均 {head:,.0f} 元（{people}人）" if head is not None else ""
        if row["below_line"]:
            text += (f"，低于按进度折算的监测线 {row['line']:,.0f} 元（当年未满）"
                     if row["line_prorated"] else f"，低于{year}年监测线 {row['line']:,.0f} 元")
        out.append(f"{year}年 家庭纯收入 {row['net']:,.0f} 元{text}")
    return out


def _mime(path: str | Path) -> str:
    guess, _ = mimetypes.guess_type(str(path))
    return guess or "application/octet-stream"

