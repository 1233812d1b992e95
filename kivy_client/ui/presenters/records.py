"""The presenter of the household's child lists (家庭成员, 收入, 帮扶措施, 帮扶责任人, 轨迹事件):
add, edit and delete rows through the store."""

from __future__ import annotations

from typing import Any

from sync_protocol.assignments import assignments_to_close
from sync_protocol.errors import RuhuError

from .base import Presenter, SaveResult, errors_of, save_record


class RecordsPresenter(Presenter):
    def save(self, entity: str, household_id: str, record_id: str | None,
             fields: dict[str, Any]) -> SaveResult:
        fields = {k: v for k, v in fields.items() if k != "household_id"}

        def create(clean: dict[str, Any]) -> str:
            with self.store.transaction():
                new_id = self.store.create(entity, {**clean, "household_id": household_id})
                if entity == "helper_assignment":
                    self._end_previous_helpers(household_id, new_id, clean.get("start_date"))
                return new_id

        return save_record(self, entity, record_id, fields, create)

    def _end_previous_helpers(self, household_id: str, new_id: str, start: str | None) -> None:
        """A change of helper adds a row and closes the current one (``sync_protocol.
        assignments``)."""
        current = [{**r.fields, "id": r.id}
                   for r in self.store.children(household_id, "helper_assignment")]
        for record_id, end in assignments_to_close(current, new_id, start, self.today()).items():
            self.store.update("helper_assignment", record_id, {"end_date": end})

    def delete(self, entity: str, record_id: str) -> SaveResult:
        """Delete a wrongly entered row (a tombstone: the server and the clerk keep history)."""
        try:
            self.store.delete(entity, record_id)
        except RuhuError as exc:
            return SaveResult(record_id, errors_of(exc))
        return self.saved(record_id)
