"""The status bar's presenter: counts, the background sync, what it is doing and how it ended.

While the sync client retries an unreachable server it says so
("无法连接服务器，正在重试（第2次）…") and can be stopped; a failed sync tells a wrong server
address apart from no signal; after a sync a cadre whose value lost a conflict is told what the
clerk decided, and a cadre whose county switched its 五清 template or changed its policy is told
what changed.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import httpx

from sync_protocol.errors import ErrorCode, RuhuError
from sync_protocol.explain import loss_notice, value_lost

from ... import netcheck
from ...sync import NeedsLogin, Progress, SyncClient, SyncError, SyncReport, SyncWorker
from .base import Presenter, format_when

Retrying = Callable[[int, float], None]
"""``retrying(attempt, wait_s)``: the server did not answer; retry number ``attempt`` follows."""

SEEN_NOTICES = "conflict_notices_seen"


class _RenewingSync(SyncClient):
    """A sync that first renews the access token when it is about to expire (no password)."""

    def __init__(self, renew: Callable[[], Any], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._renew = renew

    def sync(self, progress: Progress | None = None) -> SyncReport:
        self._renew()
        return super().sync(progress)


class SyncStatusPresenter(Presenter):
    def status(self) -> dict[str, Any]:
        s = self.store.status_summary()
        return {
            "last_sync_text": format_when(s.get("last_sync_at")) or "从未同步",
            "pending": int(s.get("pending", 0)) + int(s.get("pending_attachments", 0)),
            "conflicts": int(s.get("conflicts", 0)),
            "rejected": int(s.get("rejections", 0)),
        }

    # --- running a sync ---------------------------------------------------------------------

    def sync_worker(self, on_progress: Progress, on_done: Callable[..., None],
                    on_retry: Retrying | None = None) -> SyncWorker:
        """A background sync of the store with the signed-in user's token. Each retry of an
        unreachable server is reported to ``on_retry`` (from the worker thread); ``stop()``
        ends the sync at its next wait (nothing local is lost)."""
        self._stop = threading.Event()
        stop = self._stop
        attempts = [0]

        def wait(seconds: float) -> None:
            attempts[0] += 1
            if on_retry is not None:
                on_retry(attempts[0], seconds)
            if stop.wait(seconds):
                raise SyncError(ErrorCode.client_sync_stopped, status_code=0)

        def progress(phase: str, done: int, total: int) -> None:
            if stop.is_set():
                raise SyncError(ErrorCode.client_sync_stopped, status_code=0)
            attempts[0] = 0
            on_progress(phase, done, total)

        options = {"sleep": wait, **self.ctx.sync_options}
        session = self.ctx.session
        client = _RenewingSync(session.renew_if_due, self.store, self.ctx.server_url,
                               transport=self.ctx.transport, token=lambda: session.token,
                               **options)
        return SyncWorker(client, progress, on_done)

    def stop(self) -> None:
        """Stop the running sync at its next wait (the 停止 button beside the retry hint)."""
        stop = getattr(self, "_stop", None)
        if stop is not None:
            stop.set()

    @staticmethod
    def retry_text(attempt: int) -> str:
        return f"无法连接服务器，正在重试（第{attempt}次）…"

    def sync_failed(self, error: Exception) -> str:
        """What the status bar says after a failed sync (nothing local is lost by one)."""
        if isinstance(error, NeedsLogin):
            self.ctx.session.invalidate_token()
            return "登录已过期，请联网后退出并重新登录（本机修改不会丢失）"
        if isinstance(error, RuhuError) and error.code == ErrorCode.client_sync_stopped:
            return error.message
        cause = error.__cause__
        if isinstance(error, RuhuError) and error.code == ErrorCode.client_network_unavailable \
                and isinstance(cause, httpx.TransportError):
            code = netcheck.classify(cause)
            if code != ErrorCode.client_network_unavailable:
                return f"同步未完成：{RuhuError(code).message}"
        message = getattr(error, "message", "") or str(error)
        return f"同步未完成：{message}"

    # --- conflicts decided against this user ---------------------------------------------------

    def lost_notices(self) -> list[str]:
        """Notices, once each, of conflicts this tablet knew undecided and the clerk then
        resolved without taking the value this user (or tablet) entered: which field, the value
        that stands, who decided, their note. Called after each sync."""
        seen = set(json.loads(self.store.get_meta(SEEN_NOTICES) or "[]"))
        user_id, device = self.store.current_user_id, self.store.device_id
        out, new = [], []
        for issue in self.store.issues():
            conflict = issue.payload.get("conflict") or {}
            # a conflict first seen already decided (e.g. the first download on a new tablet)
            # is history, kept in 轨迹, not news
            if issue.kind != "conflict" or issue.id in seen or \
                    not issue.payload.get("known_open") or \
                    not value_lost(conflict, user_id, device):
                continue
            new.append(issue.id)
            out.append(loss_notice(conflict, self.ctx.household_title(issue.household_id or "")))
        if new:
            self.store.set_meta(SEEN_NOTICES, json.dumps(sorted(seen | set(new))))
        return out

    # --- reference data changed by the county ---------------------------------------------------

    def reference_notice(self) -> list[str]:
        """What the county changed that the cadre has not seen yet (the 五清 template, the
        county policy: ``Store.reference_notice``); asked after each sync and after unlocking,
        so a notice not yet seen survives a restart of the app."""
        return self.store.reference_notice()

    def reference_notice_seen(self, lines: list[str]) -> None:
        self.store.reference_notice_seen(lines)
