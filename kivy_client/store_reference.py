"""Reference data and county policy of the tablet's local store (part of ``Store``)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sync_protocol import policy
from sync_protocol.policy import CountyRules, HintPolicy
from sync_protocol.reference_changes import reference_changes
from sync_protocol.templates import (
    ChecklistTemplateDef,
    recordable_templates,
    stored_codes,
    template_from,
)

from .store_base import StoreBase
from .store_types import _dumps

# meta key: the reference data as the cadre last knew it, kept from the sync that changed it
# until they have seen the notice of what changed (across restarts of the app)
REFERENCE_KNOWN = "reference_known"


class ReferenceMixin(StoreBase):
    """Reference data of the last download and the county rules read from it."""

    def reference(self) -> dict[str, Any]:
        """Reference data as the server last sent it (regions, templates, policies, staff,
        labels): on the first download, then whenever a sync finds it changed."""
        if self._reference is None:
            self._reference = json.loads(self.get_meta("reference") or "{}")
        return self._reference

    def reference_tag(self) -> str:
        """The content tag of the stored reference data ("" when none, or one from a server that
        sent no tag): every pull says it, and the server sends the reference data again when its
        own differs (docs/protocol.md, Reference data)."""
        return str(self.reference().get("tag") or "")

    def reference_notice(self) -> list[str]:
        """What changed in the reference data since the cadre last knew it, one Chinese line per
        change (``reference_changes``: the 五清 template, the county policy); empty when nothing
        they should be told of is unseen (a change undone by a later sync is no news)."""
        raw = self.get_meta(REFERENCE_KNOWN)
        if raw is None:
            return []
        lines = reference_changes(json.loads(raw), self.reference())
        if not lines:
            self.set_meta(REFERENCE_KNOWN, None)
        return lines

    def reference_notice_seen(self, lines: list[str]) -> None:
        """The cadre has seen ``lines``: the notice is done, unless a sync brought more since it
        was shown (then the next notice tells all of it)."""
        if self.reference_notice() == lines:
            self.set_meta(REFERENCE_KNOWN, None)

    def _remember_known_reference(self, before: dict[str, Any], after: dict[str, Any]) -> None:
        """Called before the reference data is replaced: keep the copy the cadre knew when the
        new one changes something they should be told of (not on the first download; an older
        copy already kept stays, so the notice covers every change since they last saw one)."""
        if self.get_meta(REFERENCE_KNOWN) is None and reference_changes(before, after):
            self.set_meta(REFERENCE_KNOWN, _dumps(before))

    def county_rules(self, village_code: str | None) -> CountyRules:
        """The rules of the village's county from the reference data (defaults when the
        server sent none)."""
        return policy.rules_for_village(village_code, self.reference().get("county_policies"))

    def hint_policy(self, household: dict[str, Any],
                    today: dt.date | None = None) -> HintPolicy:
        """The hint policy of one household (``today``: China's today); its template code is the
        county's own template's when the reference data carries it."""
        return policy.hint_policy(self.county_rules(household.get("village_code")), household,
                                  today, stored_codes(self.reference().get("checklist_templates")))

    def checklist_template(self, code: str) -> ChecklistTemplateDef:
        """The template of that code as the server sent it (the county's titles), else the
        built-in one."""
        return template_from(code, self.reference().get("checklist_templates"))

    def recordable_templates(self, household: dict[str, Any]) -> dict[str, ChecklistTemplateDef]:
        """The templates a new 五清 item of this household may be recorded against: the server's
        rule (``templates.recordable_templates``) with what the reference data holds — the
        county's current template and its own active versions (the server also takes its retired
        ones and the built-in ones it used before: a subset, so a save the tablet allows the
        server never refuses for its template)."""
        county = str(household.get("village_code") or "")[:6]
        return recordable_templates(county, self.hint_policy(household).template_code,
                                    self.reference().get("checklist_templates"))

    def _template(self, household: dict[str, Any]) -> ChecklistTemplateDef:
        return self.checklist_template(self.hint_policy(household).template_code)
