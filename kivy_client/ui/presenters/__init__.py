"""One presenter per screen (plain Python, no Kivy), sharing one ``Context``.

``Presenters`` is what the app holds: ``presenters.login`` for the login screen,
``presenters.roster``, ``presenters.household`` (一户一档), ``presenters.records`` (its child
lists), ``presenters.visits``, ``presenters.wuqing``, ``presenters.procedures`` (监测程序),
``presenters.conflicts`` and ``presenters.sync`` (the status bar).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import httpx

from ...store import Store
from .base import Context, SaveResult, format_when
from .conflicts import ConflictsPresenter
from .household import (
    HouseholdPresenter,
    cross_check_lines,
    income_summary_lines,
    plan_vs_done_lines,
)
from .login import LoginPresenter
from .procedures import ProceduresPresenter
from .records import RecordsPresenter
from .roster import RosterPresenter
from .sync_status import SyncStatusPresenter
from .visits import VisitsPresenter
from .wuqing import WuqingPresenter

__all__ = ["Context", "Presenters", "SaveResult", "cross_check_lines", "format_when",
           "income_summary_lines", "plan_vs_done_lines"]


class Presenters:
    """The presenters of every screen over one store (what ``RuhuApp`` is given)."""

    def __init__(self, store: Store, server_url: str = "", *,
                 transport: httpx.BaseTransport | None = None,
                 clock: Callable[[], dt.datetime] | None = None,
                 sync_options: dict[str, Any] | None = None) -> None:
        self.ctx = Context(store, server_url, transport=transport, clock=clock,
                           sync_options=sync_options)
        self.login = LoginPresenter(self.ctx)
        self.sync = SyncStatusPresenter(self.ctx)
        self.roster = RosterPresenter(self.ctx)
        self.household = HouseholdPresenter(self.ctx)
        self.records = RecordsPresenter(self.ctx)
        self.visits = VisitsPresenter(self.ctx)
        self.wuqing = WuqingPresenter(self.ctx)
        self.procedures = ProceduresPresenter(self.ctx)
        self.conflicts = ConflictsPresenter(self.ctx)

    @property
    def store(self) -> Store:
        return self.ctx.store

    @property
    def session(self) -> Any:
        return self.ctx.session

    @property
    def signed_in(self) -> bool:
        return self.ctx.signed_in
