"""The merge rules of sync protocol v1 as pure functions (no database, no I/O).

Given the stored state of a record (or ``None``) and one change, ``merge`` says what to write:
the new values, the new version, the per-field versions and clocks, and the conflicts to keep for a
township clerk. The server runs it for every pushed change; tests run it directly.

Rules (docs/protocol.md explains the reasons):

* A field the client sends is applied when nobody changed it since the client's ``base_version``
  (``field_versions[f] <= base_version``), or when its last change came from the same device at an
  earlier clock (a device always knows its own writes, even before it learned their version).
* A field changed on both sides to the same value is agreed: no conflict, but it still counts as
  a write of that field (its field version moves), so every value a device sent is either current,
  in a conflict, or overwritten later by someone who had seen it.
* A field changed on both sides to different values is a conflict: the later ``hlc`` becomes the
  provisional value, the other value is kept in the conflict.
* Deleting is a tombstone; a delete racing an edit, or an edit of a tombstone, is a ``delete_edit``
  conflict and the record stays (or becomes again) alive — no field work is lost.
* Any change that writes a field, (un)deletes or records a conflict bumps the version by exactly
  one; a change that writes nothing (no fields, or deleting a tombstone) keeps the version.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

UPSERT = "upsert"
DELETE = "delete"
OPS = (UPSERT, DELETE)

Status = Literal["applied", "merged", "conflict"]


@dataclass(slots=True)
class Stored:
    """The server's current state of one record."""

    values: dict[str, Any]
    version: int
    deleted: bool = False
    field_versions: dict[str, int] = field(default_factory=dict)
    field_hlcs: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Incoming:
    """One change as the merge sees it (already validated and clamped).

    ``force`` marks a server-originated change (clerk resolution, console import) that overrides
    the current values without being a conflict.
    """

    op: str
    base_version: int | None
    fields: dict[str, Any]
    hlc: str
    force: bool = False


@dataclass(slots=True)
class FieldConflict:
    field: str
    server_value: Any
    client_value: Any
    server_hlc: str | None
    server_field_version: int
    client_wins: bool


@dataclass(slots=True)
class DeleteEdit:
    """A delete met an edit. ``client_deleted``: the client deleted and the server had edits (True),
    or the client edited a record the server holds as deleted (False)."""

    client_deleted: bool
    server_fields: dict[str, Any]
    server_hlc: str | None


@dataclass(slots=True)
class Outcome:
    status: Status
    version: int
    deleted: bool
    values: dict[str, Any]
    field_versions: dict[str, int]
    field_hlcs: dict[str, str]
    changed: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    conflicts: list[FieldConflict] = field(default_factory=list)
    delete_edit: DeleteEdit | None = None
    created: bool = False
    tombstone_changed: bool = False

    @property
    def written(self) -> bool:
        """Whether the record must be written (its version moved)."""
        return self.created or bool(self.changed) or self.tombstone_changed or self.has_conflict

    @property
    def has_conflict(self) -> bool:
        return bool(self.conflicts) or self.delete_edit is not None

    def state(self) -> Stored:
        """The record after the change. It shares this outcome's dicts, which ``merge`` made
        fresh for it: copying them again cost more than the rest of the merge."""
        return Stored(self.values, self.version, self.deleted, self.field_versions,
                      self.field_hlcs)


def hlc_device(hlc: str | None) -> str | None:
    """The device part of ``<ms>-<counter>-<device>``."""
    if not hlc:
        return None
    parts = hlc.split("-", 2)
    return parts[2] if len(parts) == 3 else None


def written_clock(hlc: str, previous: str | None, agreed: bool) -> str:
    """The clock a field keeps when a change writes it: the change's, or for an agreement (the
    value sent again) the later of the two, since both sides asserted that value."""
    return max(hlc, previous or "") if agreed else hlc


@dataclass(slots=True, frozen=True)
class FieldWrite:
    """One field one accepted change wrote (a change-log entry's field): the record's version
    after the change, the change's clock and whether it sent the stored value again."""

    version: int
    hlc: str | None
    field: str
    agreed: bool


def replay(field_versions: dict[str, int], field_hlcs: dict[str, str],
           writes: list[FieldWrite]) -> tuple[dict[str, int], dict[str, str]]:
    """The per-field versions and clocks after ``writes`` (any order), from maps that already
    hold every write up to each field's own version.

    ``merge`` moves a field's version and clock exactly when it writes the field, and the
    change log keeps every write. So the server stores the maps as of a record's creation and
    replays its change log over them when a merge needs them, instead of rewriting two
    30-40-key maps in every record update (docs/protocol.md, "Per-field versions")."""
    fvs = dict(field_versions)
    fhs = dict(field_hlcs)
    for w in sorted(writes, key=lambda w: w.version):
        if w.version <= fvs.get(w.field, 0):
            continue  # already in the maps
        fvs[w.field] = w.version
        if w.hlc is None:
            fhs.pop(w.field, None)
        else:
            fhs[w.field] = written_clock(w.hlc, fhs.get(w.field), w.agreed)
    return fvs, fhs


def _known(stored: Stored, name: str, base: int, change: Incoming) -> bool:
    """Did the author of ``change`` know the stored value of ``name`` when it made the change?"""
    if change.force or stored.field_versions.get(name, 0) <= base:
        return True
    last = stored.field_hlcs.get(name)
    return last is not None and hlc_device(last) == hlc_device(change.hlc) and last <= change.hlc


def create(change: Incoming) -> Outcome:
    """A record that did not exist: everything applies at version 1."""
    values = dict(change.fields)
    return Outcome(
        status="applied", version=1, deleted=change.op == DELETE, values=values,
        field_versions={k: 1 for k in values}, field_hlcs={k: change.hlc for k in values},
        changed={k: (None, v) for k, v in values.items()}, created=True,
    )


def merge(stored: Stored | None, change: Incoming) -> Outcome:
    """Apply ``change`` to ``stored`` under the rules of the module docstring."""
    if stored is None:
        return create(change)
    base = stored.version if change.force else (change.base_version or 0)
    new_version = stored.version + 1
    values = dict(stored.values)
    fvs = dict(stored.field_versions)
    fhs = dict(stored.field_hlcs)
    # a record still at the client's base version has no one else's changes (the usual case)
    others_changed = stored.version > base and (not stored.field_versions or any(
        v > base and not _known(stored, k, base, change) for k, v in stored.field_versions.items()
    ))

    if change.op == DELETE:
        if stored.deleted:
            return Outcome("applied", stored.version, True, values, fvs, fhs)
        edited = {
            k: values.get(k) for k, v in stored.field_versions.items()
            if v > base and not _known(stored, k, base, change)
        }
        if not edited:
            return Outcome("applied", new_version, True, values, fvs, fhs, tombstone_changed=True)
        last = max((stored.field_hlcs.get(k) or "" for k in edited), default="") or None
        return Outcome("conflict", new_version, False, values, fvs, fhs,
                       delete_edit=DeleteEdit(True, edited, last))

    changed: dict[str, tuple[Any, Any]] = {}
    conflicts: list[FieldConflict] = []
    for name, value in change.fields.items():
        old = values.get(name)
        same = old == value and name in values
        if same or _known(stored, name, base, change):
            win = True
        else:
            server_hlc = stored.field_hlcs.get(name)
            win = server_hlc is None or change.hlc > server_hlc
            conflicts.append(FieldConflict(name, old, value, server_hlc,
                                           stored.field_versions.get(name, 0), win))
        if win:
            values[name] = value
            fvs[name] = new_version
            fhs[name] = written_clock(change.hlc, stored.field_hlcs.get(name), same)
            changed[name] = (old, value)

    delete_edit = None
    if stored.deleted and not change.force:
        delete_edit = DeleteEdit(False, {"deleted": True}, max(stored.field_hlcs.values(),
                                                                default=None))
    status: Status
    if conflicts or delete_edit:
        status = "conflict"
    elif others_changed:
        status = "merged"
    else:
        status = "applied"
    # a device's edit resurrects a tombstone (delete_edit above); a server write never does
    resurrect = stored.deleted and not change.force
    out = Outcome(status, new_version, stored.deleted and not resurrect, values, fvs, fhs, changed,
                  conflicts, delete_edit, tombstone_changed=resurrect)
    if not out.written:
        out.version = stored.version
    return out
