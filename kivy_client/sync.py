"""The tablet's sync client (httpx, no Kivy): attachments, then push, then pull.

Safe to interrupt anywhere: outbox rows leave the store only when their result is stored, a
retried request is byte-for-byte the same (same ``change_id``s), and the pull cursor advances in
the transaction that stores its page. Pass an ``httpx.Client`` (e.g. FastAPI's ``TestClient``)
or a ``transport`` and a ``base_url``.

Client-side choices where the protocol is silent:

- Edits of a record join its queued change while that change is unsent, so a push holds at most
  one change per record; once sent (even if the answer was lost) a change is never modified —
  later edits become new changes whose ``base_version`` follows the first one's result.
- ``rejected``: the change leaves the outbox and is kept, with the refused values and the
  server's reason, as an issue on the record; the next edit of that record supersedes it.
- An attachment the server refuses (type, size, hash) is marked and retried on the next sync;
  it never blocks the push of records.
- A server that cannot read a gzip body (400/415 on the envelope, so nothing was applied) gets
  the same body uncompressed.
- Responses: ``Accept-Encoding: zstd, gzip`` when the ``zstandard`` package is importable (httpx
  then decodes zstd), else ``gzip`` (docs/protocol.md, Transport).
- Every pull names the tag of the reference data the store holds (``reference_tag``); a server
  whose data differs sends it on the round's first page and the store replaces its copy in that
  page's transaction (a failed sync keeps the old one). A server that ignores the parameter sends
  it with the first download only, as before.
- ``request.cursor_invalid`` restarts the download from scratch; ``reset: true`` drops every
  record without pending work first. Pending work is never dropped by either.
- A busy server (503, or 429 other than a login lock-out, with ``Retry-After``) is waited out:
  the client sleeps what it says (at most ``max_retry_after`` seconds, plus up to 50 % jitter so
  a township's tablets do not come back at the same instant) and sends the same request again.
  These waits do not use up ``max_retries``; after ``max_busy_wait`` seconds of them in one
  request the sync stops with ``sync.busy`` (nothing is lost; the next sync resumes). Each such
  retry says ``X-Ruhu-Retry: <times turned away>; waited=<seconds since the first attempt>``
  (``sync_protocol.retry``), so the server serves it before requests sent after it; the next
  request starts without it.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from sync_protocol import PROTOCOL_VERSION
from sync_protocol.columns import FORM_COLUMNS, in_rows
from sync_protocol.errors import MESSAGES, ErrorCode, RuhuError
from sync_protocol.retry import RETRY_HEADER, format_retry
from sync_protocol.wire import (
    APP_VERSION_HEADER,
    DEFAULT_PULL_LIMIT,
    MAX_CHANGES_PER_PUSH,
    MAX_PULL_LIMIT,
    PROTOCOL_HEADER,
    REFERENCE_TAG_PARAM,
    TABLET_FIRST_PULL_LIMIT,
    PullResponse,
    PushResponse,
)

from . import APP_VERSION
from .store import Store

try:  # httpx decodes zstd responses only with this package; a build without it asks for gzip
    import zstandard  # noqa: F401

    ACCEPT_ENCODING = "zstd, gzip"
except ImportError:  # pragma: no cover - depends on the build
    ACCEPT_ENCODING = "gzip"

Progress = Callable[[str, int, int], None]
"""``progress(phase, done, total)``: phase attachments / push / pull / done; total 0 = unknown."""

PHASE_LABELS = {
    "attachments": "正在上传照片和附件",
    "push": "正在上传修改",
    "pull": "正在下载数据",
    "done": "同步完成",
}


class SyncError(RuhuError):
    """A sync that could not finish; ``message`` is for the user. Nothing local is lost."""


class NeedsLogin(SyncError):
    """401: the token is missing, expired or revoked; log in online again."""


class UpgradeRequired(SyncError):
    """426: this app version is too old for the server."""

    @property
    def min_app_version(self) -> str | None:
        return self.extra.get("min_app_version")


@dataclass
class SyncReport:
    attachments_uploaded: int = 0
    attachments_failed: int = 0
    pushed: dict[str, int] = field(default_factory=dict)
    pulled: int = 0
    pages: int = 0
    reset: bool = False

    @property
    def conflicts(self) -> int:
        return self.pushed.get("conflict", 0)

    @property
    def rejected(self) -> int:
        return self.pushed.get("rejected", 0)


class SyncClient:
    """Runs one sync of a ``Store`` against the server."""

    def __init__(
        self,
        store: Store,
        base_url: str | None = None,
        *,
        client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        token: str | Callable[[], str | None] | None = None,
        app_version: str = APP_VERSION,
        max_retries: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        pull_limit: int = DEFAULT_PULL_LIMIT,
        first_pull_limit: int | None = None,
        timeout: float = 60.0,
        gzip_push: bool = True,
        push_batch: int = MAX_CHANGES_PER_PUSH,
        max_retry_after: float = 60.0,
        max_busy_wait: float = 600.0,
    ) -> None:
        self.store = store
        if client is None:
            client = httpx.Client(base_url=base_url or "", transport=transport, timeout=timeout)
        self.http = client
        self._token = token
        self.app_version = app_version
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.sleep = sleep
        self.pull_limit = pull_limit
        # the first download in big pages (fewer bytes); a caller that sets only ``pull_limit``
        # gets it for every pull
        self.first_pull_limit = first_pull_limit if first_pull_limit is not None else (
            TABLET_FIRST_PULL_LIMIT if pull_limit == DEFAULT_PULL_LIMIT else pull_limit)
        self.gzip_push = gzip_push
        self.push_batch = min(push_batch, MAX_CHANGES_PER_PUSH)
        self.max_retry_after = max_retry_after
        self.max_busy_wait = max_busy_wait
        self._jitter = random.Random()
        self.accept_encoding = ACCEPT_ENCODING
        self._small_pages = False  # a first download's big pages failed on this link

    # --- the whole sync ---------------------------------------------------------------------

    def sync(self, progress: Progress | None = None) -> SyncReport:
        """Attachments, push, pull — each step resumable. Raises ``SyncError`` on failure."""
        report = SyncReport()
        notify = progress or (lambda phase, done, total: None)
        self.upload_attachments(report, notify)
        self.push(report, notify)
        self.pull(report, notify)
        self.store.set_meta("last_sync_at", dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
        notify("done", 1, 1)
        return report

    def upload_attachments(self, report: SyncReport | None = None,
                           notify: Progress | None = None) -> SyncReport:
        report = report or SyncReport()
        notify = notify or (lambda *a: None)
        pending = self.store.pending_attachments()
        notify("attachments", 0, len(pending))
        for done, att in enumerate(pending, start=1):
            path = f"/api/v1/attachments/{att.sha256}"
            head = self._request("HEAD", path, allow={404, 405})
            if head.status_code >= 400:
                data = self.store.attachment_bytes(att.sha256)
                if data is None:
                    self.store.mark_attachment(att.sha256, "error", "本机找不到该附件文件")
                    report.attachments_failed += 1
                    continue
                resp = self._request("PUT", path, content=data,
                                     headers={"Content-Type": att.mime},
                                     allow={400, 403, 404, 405, 409, 413, 415, 422})
                if resp.status_code >= 400:
                    # a bad file must not wedge the queue: keep it, mark it, go on
                    self.store.mark_attachment(att.sha256, "error", _error_message(resp))
                    report.attachments_failed += 1
                    notify("attachments", done, len(pending))
                    continue
            self.store.mark_attachment(att.sha256, "uploaded")
            report.attachments_uploaded += 1
            notify("attachments", done, len(pending))
        return report

    def push(self, report: SyncReport | None = None,
             notify: Progress | None = None) -> SyncReport:
        """Push the outbox in batches until it is empty (or the server stops taking changes)."""
        report = report or SyncReport()
        notify = notify or (lambda *a: None)
        total = self.store.pending_count()
        done = 0
        notify("push", 0, total)
        while True:
            batch = self.store.outbox(limit=self.push_batch)
            if not batch:
                break
            self.store.mark_sent(c.change_id for c in batch)
            body = json.dumps({"protocol": PROTOCOL_VERSION, "device_id": self.store.device_id,
                               "changes": [c.wire() for c in batch]},
                              ensure_ascii=False, separators=(",", ":")).encode()
            resp = self._post_push(body)
            response = PushResponse.model_validate(resp.json())
            counts = self.store.apply_push_results(response.results)
            self.store.observe_server_time(response.server_time)
            for status, n in counts.items():
                report.pushed[status] = report.pushed.get(status, 0) + n
            stored = sum(counts.values())
            done += stored
            notify("push", done, max(total, done))
            if stored == 0:
                raise SyncError(ErrorCode.request_malformed,
                                "服务器没有返回上传结果，请稍后重试（修改仍保存在本机）")
        return report

    def pull(self, report: SyncReport | None = None,
             notify: Progress | None = None) -> SyncReport:
        """Pull pages from the stored cursor until ``has_more`` is false."""
        report = report or SyncReport()
        notify = notify or (lambda *a: None)
        notify("pull", 0, 0)
        restarted = False
        while True:
            first = self.store.get_meta("last_sync_at") is None  # no sync has finished yet
            limit = self.first_pull_limit if first else self.pull_limit
            if self._small_pages:
                limit = min(limit, MAX_PULL_LIMIT)
            # the tag of the reference data held: a changed one comes on a round's first page
            params: dict[str, Any] = {"limit": limit, "form": FORM_COLUMNS,
                                      REFERENCE_TAG_PARAM: self.store.reference_tag()}
            cursor = self.store.cursor
            if cursor:
                params["cursor"] = cursor
            big = limit > MAX_PULL_LIMIT
            try:
                resp = self._request("GET", "/api/v1/sync/pull", params=params, allow={400},
                                     retries=1 if big else None)
            except SyncError as exc:
                if big and exc.code == ErrorCode.client_network_unavailable:
                    # a weak link that drops a page of 20,000 twice goes on in pages of 2,000:
                    # more bytes in all, but a page it can finish
                    self._small_pages = True
                    continue
                raise
            if resp.status_code == 400:
                if _error_code(resp) == str(ErrorCode.request_cursor_invalid) and not restarted:
                    # the server no longer knows our position: download again from the start
                    restarted = True
                    self.store.apply_pull_page({"changes": [], "next_cursor": "",
                                                "has_more": True, "reset": True})
                    continue
                raise _sync_error(resp)
            page = _pull_page(resp)
            report.pulled += self.store.apply_pull_page(page)
            report.pages += 1
            report.reset = report.reset or page.reset
            notify("pull", report.pulled, 0)
            if not page.has_more:
                break
            if page.next_cursor == cursor and not page.changes:
                break  # no progress possible; stop rather than spin
        return report

    def _post_push(self, body: bytes) -> httpx.Response:
        """POST a push body, gzip-compressed; a server that cannot read gzip (it refuses the
        whole envelope with 400/415, so nothing was applied) gets the same body uncompressed."""
        plain = {"Content-Type": "application/json"}
        if self.gzip_push:
            resp = self._request("POST", "/api/v1/sync/push", content=gzip.compress(body),
                                 headers={**plain, "Content-Encoding": "gzip"},
                                 allow={400, 415})
            if resp.status_code < 400:
                return resp
            if _error_code(resp) not in (str(ErrorCode.request_malformed),
                                         str(ErrorCode.request_gzip_invalid), None):
                raise _sync_error(resp)
            self.gzip_push = False
        return self._request("POST", "/api/v1/sync/push", content=body, headers=plain)

    # --- HTTP ---------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        headers = {PROTOCOL_HEADER: str(PROTOCOL_VERSION), APP_VERSION_HEADER: self.app_version,
                   "Accept-Encoding": self.accept_encoding}
        token = self._token() if callable(self._token) else self._token
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _request(self, method: str, path: str, *,
                 allow: set[int] | frozenset[int] = frozenset(),
                 headers: dict[str, str] | None = None, retries: int | None = None,
                 **kwargs: Any) -> httpx.Response:
        """Send with retries: network errors and 5xx are retried unchanged with backoff (at most
        ``retries`` times, else ``max_retries``); a busy server's ``Retry-After`` is waited out
        (capped, with jitter)."""
        max_retries = self.max_retries if retries is None else retries
        attempt = 0
        busy_waited = 0.0
        turned_away = 0  # busy answers to this very request: said in X-Ruhu-Retry
        first_sent = time.monotonic()
        while True:
            retry: dict[str, str] = {}
            if turned_away:
                # seconds since the first attempt; at least the waits (a test's sleep is instant)
                waited = max(busy_waited, time.monotonic() - first_sent)
                retry = {RETRY_HEADER: format_retry(turned_away, waited)}
            try:
                resp = self.http.request(method, path, headers={**self._headers(), **retry,
                                                                **(headers or {})}, **kwargs)
            except httpx.TransportError as exc:
                if attempt >= max_retries:
                    raise SyncError(ErrorCode.client_network_unavailable, status_code=0,
                                    extra={"detail": str(exc)}) from exc
            else:
                if resp.status_code < 400 or resp.status_code in allow:
                    return resp
                wait = _retry_after(resp)
                if wait is not None:
                    if busy_waited >= self.max_busy_wait:
                        raise _sync_error(resp)
                    wait = min(wait, self.max_retry_after) * (1 + 0.5 * self._jitter.random())
                    self.sleep(wait)
                    busy_waited += wait
                    turned_away += 1
                    continue
                if resp.status_code < 500 or attempt >= max_retries:
                    raise _sync_error(resp)
            self.sleep(min(self.max_backoff, self.backoff * (2 ** attempt)))
            attempt += 1


def _body(resp: httpx.Response) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError:
        return {}
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, dict) else {}


def _retry_after(resp: httpx.Response) -> float | None:
    """Seconds a busy server asks us to wait (503, or a 429 that is not a login lock-out, with a
    ``Retry-After`` in seconds); None otherwise."""
    if resp.status_code not in (429, 503):
        return None
    value = resp.headers.get("retry-after", "").strip()
    if not value.isdigit():
        return None  # absent, or an HTTP date (our server never sends one): plain backoff
    if resp.status_code == 429 and _error_code(resp) == str(ErrorCode.auth_locked_out):
        return None
    return float(value)


def _error_code(resp: httpx.Response) -> str | None:
    return _body(resp).get("code")


def _error_message(resp: httpx.Response) -> str:
    return str(_body(resp).get("message") or f"服务器返回错误（{resp.status_code}）")


def _pull_page(resp: httpx.Response) -> PullResponse:
    """A pull page in either form: ``columns`` (asked for) or ``changes`` (a server that does not
    know the column form answers in rows)."""
    try:
        body = resp.json()
        return PullResponse.model_validate(in_rows(body) if isinstance(body, dict) else body)
    except (ValueError, KeyError, TypeError) as exc:  # pydantic's errors are ValueErrors
        raise SyncError(ErrorCode.request_malformed,
                        "服务器返回的数据无法识别，请稍后重试（本机数据未受影响）") from exc


def _sync_error(resp: httpx.Response) -> SyncError:
    body = _body(resp)
    try:
        code = ErrorCode(str(body.get("code")))
    except ValueError:
        code = ErrorCode.server_unavailable if resp.status_code >= 500 else \
            ErrorCode.request_malformed
    message = str(body.get("message") or MESSAGES[code])
    extra = {k: v for k, v in body.items() if k not in ("code", "message")}
    if resp.status_code == 401:
        return NeedsLogin(code, message, 401, extra)
    if resp.status_code == 426:
        return UpgradeRequired(code, message, 426, extra)
    return SyncError(code, message, resp.status_code, extra)


class SyncWorker:
    """Runs ``SyncClient.sync`` off the UI thread; one sync at a time.

    ``on_progress(phase, done, total)`` and ``on_done(report, error)`` are called from the worker
    thread — a Kivy screen wraps them with ``Clock.schedule_once``.
    """

    def __init__(self, client: SyncClient,
                 on_progress: Progress | None = None,
                 on_done: Callable[[SyncReport | None, Exception | None], None] | None = None
                 ) -> None:
        self.client = client
        self.on_progress = on_progress
        self.on_done = on_done
        self._thread: threading.Thread | None = None
        self.report: SyncReport | None = None
        self.error: Exception | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> bool:
        """Start a sync; False when one is already running."""
        if self.running:
            return False
        self.report, self.error = None, None
        self._thread = threading.Thread(target=self._run, name="ruhu-sync", daemon=True)
        self._thread.start()
        return True

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            self.report = self.client.sync(self.on_progress)
        except Exception as exc:  # reported to the UI, never raised in a worker thread
            if not isinstance(exc, RuhuError):
                exc = SyncError(ErrorCode.internal_error, f"同步失败：{exc}", 0)
            self.error = exc
        if self.on_done is not None:
            self.on_done(self.report, self.error)
