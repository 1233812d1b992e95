"""What every presenter shares: the app's context (store, session, clock) and save results.

Presenters are plain Python (no Kivy): a screen calls its presenter and gets back plain dicts,
lists and ``SaveResult``s, so everything a screen does can be exercised headless. They read and
write only through the ``Store`` modules and ``Session`` (no SQL here) and take every rule from
``sync_protocol`` (no domain rule here).
"""

from __future__ import annotations

import datetime as dt
import mimetypes
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from sync_protocol.display import fmt_time
from sync_protocol.errors import RuhuError
from sync_protocol.policy import china_today

from ...session import Session
from ...store import Store, StoreValidationError, SyncState

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


def errors_of(exc: RuhuError) -> dict[str | None, str]:
    """A refused edit as ``{field: Chinese message}`` (``None``: not about one field)."""
    if isinstance(exc, StoreValidationError) and exc.errors:
        out: dict[str | None, str] = {}
        for e in exc.errors:
            out.setdefault(e.get("field"), e.get("message", ""))
        return out
    return {exc.extra.get("field") if exc.extra else None: exc.message}


def format_when(value: str | dt.datetime | None) -> str:
    """A timestamp as every face shows it: China time, to the minute."""
    return fmt_time(value)


def mime_of(path: str | Path) -> str:
    guess, _ = mimetypes.guess_type(str(path))
    return guess or "application/octet-stream"


class Context:
    """The state the presenters share: the store, the signed-in session, the server address,
    the clock, whether a sync runs, and what to call after every local save."""

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

    def use_server(self, server_url: str) -> None:
        """Point the session at another server address (typed on the login screen)."""
        server_url = server_url.strip().rstrip("/")
        if server_url and server_url != self.server_url:
            self.server_url = server_url
            self.session = Session(self.store, server_url, transport=self.transport)
            self.store.set_meta("server_url", server_url)

    @property
    def signed_in(self) -> bool:
        return self.session.account is not None

    def now(self) -> dt.datetime:
        return self._clock()

    def today(self) -> dt.date:
        """China's today at the context's clock."""
        return china_today(self.now())

    # --- what the badges say ------------------------------------------------------------------

    def shown_state(self, state: str) -> str:
        """A change sent by a sync that did not finish is not being uploaded: it is waiting for
        the next sync (which re-sends it with the same id), so it shows as 待上传."""
        if state == SyncState.uploading and not self.syncing:
            return SyncState.pending.value
        return state

    def badge_text(self, state: str) -> str:
        return BADGE_TEXT[SyncState(self.shown_state(state))]

    # --- names ----------------------------------------------------------------------------------

    def household_title(self, household_id: str) -> str:
        record = self.store.get("household", household_id)
        return f"{record.fields.get('head_name') or '（未填户主）'}户" if record else ""

    def village_names(self) -> dict[str, str]:
        return {str(r.get("code")): str(r.get("name") or r.get("code"))
                for r in self.store.reference().get("regions") or [] if r.get("code")}

    def village_name(self, code: str | None) -> str:
        """村 name from the pulled reference regions (the code itself when unknown)."""
        if not code:
            return ""
        return self.village_names().get(code, code)


class Presenter:
    """The base of every screen's presenter: access to the shared ``Context``."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @property
    def store(self) -> Store:
        return self.ctx.store

    def now(self) -> dt.datetime:
        return self.ctx.now()

    def today(self) -> dt.date:
        return self.ctx.today()

    def saved(self, record_id: str | None, warnings: list[str] | None = None) -> SaveResult:
        self.ctx.changed()
        return SaveResult(record_id, {}, list(warnings or []))


def save_record(presenter: Presenter, entity: str, record_id: str | None,
                fields: dict[str, Any], create: Callable[[dict[str, Any]], str]) -> SaveResult:
    """Save a form's values: new records keep only what was filled in; on an existing record an
    input left empty on a field that never had a value is not a change."""
    store = presenter.store
    if record_id is None:
        fields = {k: v for k, v in fields.items() if v not in (None, "", [])}
    else:
        record = store.get(entity, record_id)
        current = record.fields if record is not None else {}
        fields = {k: v for k, v in fields.items()
                  if not (v in (None, "", []) and current.get(k) in (None, "", []))}
    check = store.check(entity, fields, creating=record_id is None)
    warnings = [w.message for w in check.warnings]
    try:
        if record_id is None:
            record_id = create(fields)
        else:
            store.update(entity, record_id, fields)
    except RuhuError as exc:
        return SaveResult(record_id, errors_of(exc), warnings)
    return presenter.saved(record_id, warnings)
