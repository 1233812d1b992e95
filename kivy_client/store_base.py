"""Persistence of the tablet's local store: the SQLite connection (WAL), transactions, meta
values, the current user, and the record lookups every part of ``Store`` uses.

Thread safety: one connection guarded by a re-entrant lock, so the ``SyncWorker`` thread and
the UI thread can share a ``Store``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from sync_protocol.errors import ErrorCode, FieldError, RuhuError
from sync_protocol.hlc import HlcClock
from sync_protocol.validation import DEVICE_ID_RE

from . import local_schema
from .search import group_order
from .store_types import _dumps, _now


class StoreBase:
    """The connection and its transactions; the other parts of ``Store`` build on it."""

    if TYPE_CHECKING:
        def _flush_index(self) -> None:
            """Recompute the roster index of touched households (``RosterMixin``)."""

    def __init__(self, path: str | Path, device_id: str | None = None) -> None:
        self.path = str(path)
        self._lock = threading.RLock()
        self._depth = 0
        self._dirty: set[str] = set()
        self._stamp = _now()
        self._reference: dict[str, Any] | None = None
        # warnings of the last create/update (e.g. an ID region code not yet in use in the
        # birth year): saved anyway, shown to the user
        self.last_warnings: list[FieldError] = []
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                    timeout=30)
        self.conn.row_factory = sqlite3.Row
        self.conn.create_function("group_order", 1, group_order, deterministic=True)
        try:
            self._open(device_id)
        except BaseException:
            self.conn.close()
            raise

    def _open(self, device_id: str | None) -> None:
        if self.path != ":memory:":
            self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        with self._lock:
            local_schema.migrate(self.conn)
            with self.transaction():
                stored = self.get_meta("device_id")
                if device_id and stored and stored != device_id:
                    raise RuhuError(ErrorCode.sync_device_mismatch)
                if not stored:
                    device_id = device_id or f"tab-{uuid.uuid4().hex[:12]}"
                    if not DEVICE_ID_RE.match(device_id):
                        raise RuhuError(ErrorCode.auth_device_id_invalid)
                    self.set_meta("device_id", device_id)
                self.device_id: str = self.get_meta("device_id") or ""
                self._clock = HlcClock(self.device_id, self.get_meta("hlc"))
                # households whose roster index an upgrade left to compute
                self._dirty |= {r["household_id"] for r in self.conn.execute(
                    "SELECT household_id FROM household_index WHERE dirty = 1")}

    # --- plumbing ---------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (nested calls join the outer one)."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self.conn
                finally:
                    self._depth -= 1
                return
            self.conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self.conn
                self._flush_index()
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                self._dirty.clear()
                self._reference = None  # a cached copy may hold what was rolled back
                raise
            finally:
                self._depth = 0

    def _q(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self.conn.execute(sql, tuple(params)).fetchall()

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        """A read under the store's lock (for ``kivy_client.session`` and tests)."""
        return self._q(sql, params)

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        rows = self._q("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0]["value"] if rows else default

    def set_meta(self, key: str, value: str | None) -> None:
        with self.transaction() as c:
            if value is None:
                c.execute("DELETE FROM meta WHERE key = ?", (key,))
            else:
                c.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) "
                          "DO UPDATE SET value = excluded.value", (key, value))

    @property
    def schema_version(self) -> int:
        return local_schema.version(self.conn)

    # --- the current user (set by kivy_client.session) --------------------------------------

    def set_current_user(self, user_id: str | None, name: str | None = None,
                         scopes: list[str] | None = None, role: str | None = None) -> None:
        with self.transaction():
            self.set_meta("user_id", user_id)
            self.set_meta("user_name", name)
            self.set_meta("user_role", role)
            self.set_meta("user_scopes", _dumps(scopes) if scopes is not None else None)

    @property
    def current_user_id(self) -> str | None:
        return self.get_meta("user_id")

    @property
    def current_role(self) -> str | None:
        """The role of the user logged in on this tablet (as logged in, else from the offline
        accounts)."""
        user_id = self.current_user_id
        if not user_id:
            return None
        if role := self.get_meta("user_role"):
            return role
        rows = self._q("SELECT role FROM accounts WHERE user_id = ? LIMIT 1", (user_id,))
        return str(rows[0]["role"]) if rows else None

    @property
    def user_scopes(self) -> list[str]:
        raw = self.get_meta("user_scopes")
        return json.loads(raw) if raw else []

    # --- record lookups ---------------------------------------------------------------------

    def _row(self, entity: str, record_id: str) -> sqlite3.Row | None:
        rows = self._q("SELECT * FROM records WHERE entity = ? AND id = ?", (entity, record_id))
        return rows[0] if rows else None

    def _placement(self, entity: str, record_id: str,
                   fields: dict[str, Any]) -> tuple[str | None, str | None]:
        """(household_id, village_code) of a record, from its fields and its household."""
        if entity == "household":
            return record_id, fields.get("village_code")
        household_id = fields.get("household_id")
        if household_id is None:
            return None, None
        head = self._row("household", str(household_id))
        return str(household_id), (head["village_code"] if head is not None else None)

    def _touch(self, household_id: str | None) -> None:
        if household_id:
            self._dirty.add(household_id)
