"""The 监测程序 tab's presenter: the household's monitoring procedures, each judged offline by the
server's own state machine (``kivy_client.procedures``), and the village's moves."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sync_protocol.display import parse_names
from sync_protocol.errors import RuhuError

from ... import procedures
from .base import Presenter, SaveResult, errors_of

MOVES = {"verify": "verified", "review": "reviewed", "notice": "notice",
         "withdraw": "withdrawn", "resubmit": "proposed"}


class ProceduresPresenter(Presenter):
    MOVES = MOVES

    def _village(self, household_id: str) -> str | None:
        household = self.store.get("household", household_id)
        return household.fields.get("village_code") if household is not None else None

    def rows(self, household_id: str) -> list[dict[str, Any]]:
        """The household's procedures, newest first, each with its plain-words ``describe``."""
        policy = procedures.local_policy(self.store, self._village(household_id))
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
        return procedures.local_policy(self.store, self._village(household_id)).notice_days

    def act(self, household_id: str, procedure_id: str | None, action: str,
            fields: dict[str, Any]) -> SaveResult:
        """发起 (``entry``/``elimination``) or move a procedure; errors in plain Chinese."""
        fields = {k: v for k, v in fields.items() if v not in (None, "", [])}
        if action == "verify":
            fields = {"verifiers": parse_names(str(fields.get("verifiers") or "")),
                      "verified_at": self.now().astimezone(dt.UTC).isoformat(
                          timespec="seconds").replace("+00:00", "Z")}
        try:
            if procedure_id is None:
                return self.saved(procedures.propose(self.store, household_id, action, fields))
            procedures.move(self.store, procedure_id, MOVES[action], fields)
        except RuhuError as exc:
            return SaveResult(procedure_id, errors_of(exc))
        return self.saved(procedure_id)
