"""Failed-login throttling, shared by the console login and the token endpoint.

Three counters (rows of ``login_throttle``, so every worker process sees the same state):

- ``pair``: one account from one client address. After ``login_max_failures`` failures the
  pair is locked for ``login_lockout_seconds``, doubling with each further failure up to
  ``login_lockout_max_seconds``. This is what a user who mistypes meets.
- ``address``: one client address, whatever the usernames (password spraying), with the
  higher ``login_address_max_failures`` and the same growing lock-out. A locked address cannot
  log in at all, correct password or not.
- ``account``: one account from all addresses (a guesser spread over many addresses), with the
  higher ``login_account_max_failures``. A failure counts here only while its address is still
  under the address limit, so one address alone can never lock an account for everyone: the
  address is stopped first (docs/security.md).

An attempt is counted *before* the password is checked (and uncounted on success), so
concurrent guesses cannot slip past the limit while argon2 runs; a refused attempt costs one
indexed read and no argon2. The counters are committed on their own connection at once: the
request's transaction rolls back when the login fails.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from server.db.tables import AuditLog
from server.settings import Settings
from sync_protocol.errors import LOCKED_OUT_SECONDS, LOCKED_OUT_UNTIL, ErrorCode, RuhuError

CHINA_TIME = dt.timezone(dt.timedelta(hours=8))

# one counter: count this failure (or start over after a quiet spell) and lock when over the
# limit; does nothing, and returns no row, while the counter is locked
_COUNT_SQL = """
INSERT INTO login_throttle AS t (key, kind, failures, last_failure_at, locked_until)
VALUES (:key, :kind, 1, now(), {lock_new})
ON CONFLICT (key) DO UPDATE SET
  failures = {failures},
  last_failure_at = now(),
  locked_until = {lock_existing}
WHERE t.locked_until IS NULL OR t.locked_until <= now()
RETURNING failures, locked_until
"""
_FAILURES = ("CASE WHEN t.last_failure_at < now() - make_interval(secs => :memory) "
             "THEN 1 ELSE t.failures + 1 END")


def _lock_at(failures: str) -> str:
    return (f"CASE WHEN {failures} >= :limit THEN now() + make_interval(secs => "
            f"least(:max_lock, :lock * power(2, least({failures} - :limit, 30)))) END")


COUNT_SQL = sa.text(_COUNT_SQL.format(lock_new=_lock_at("1"), failures=_FAILURES,
                                      lock_existing=_lock_at(_FAILURES)))
LOCKED_SQL = sa.text("SELECT max(locked_until) FROM login_throttle "
                     "WHERE key = ANY(:keys) AND locked_until > now()")
# a success takes its own count back from the address, and the lock that count set, if any
UNCOUNT_ADDRESS_SQL = sa.text(
    "UPDATE login_throttle SET failures = greatest(failures - 1, 0), locked_until = "
    "CASE WHEN locked_until = :own_lock THEN NULL ELSE locked_until END WHERE key = :key")
RESET_SQL = sa.text("DELETE FROM login_throttle WHERE key = ANY(:keys)")
# counters nobody failed on for a while and that are not locked are of no use any more
FORGET_SQL = sa.text(
    "DELETE FROM login_throttle WHERE last_failure_at < now() - make_interval(secs => :memory) "
    "AND (locked_until IS NULL OR locked_until <= now())")


def _key(kind: str, *parts: str) -> str:
    return hashlib.sha256("\x00".join((kind, *parts)).encode()).hexdigest()


def locked_out(until: dt.datetime, now: dt.datetime) -> RuhuError:
    """429 ``auth.locked_out`` with Retry-After and a message saying when to try again."""
    seconds = max(1, math.ceil((until - now).total_seconds()))
    if seconds <= 90:
        text = LOCKED_OUT_SECONDS.format(seconds=seconds)
    else:
        local = until.astimezone(CHINA_TIME)
        if local.second or local.microsecond:  # round up: never "try at 14:05" before 14:05:30
            local = local.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
        same_day = local.date() == now.astimezone(CHINA_TIME).date()
        text = LOCKED_OUT_UNTIL.format(
            when=f"{local:%H:%M}" if same_day else f"{local.month}月{local.day}日 {local:%H:%M}")
    return RuhuError(ErrorCode.auth_locked_out, text, status_code=429,
                     extra={"retry_after": seconds})


@dataclass
class LoginAttempt:
    """One counted login attempt; call ``succeeded`` or ``failed`` once the password is known."""

    engine: Engine
    settings: Settings
    address: str
    pair_key: str
    address_key: str
    account_key: str
    address_lock: dt.datetime | None = None  # the lock this attempt's own count set, if any

    @classmethod
    def begin(cls, engine: Engine, settings: Settings, username: str,
              address: str) -> LoginAttempt:
        """Count the attempt, or raise ``auth.locked_out`` (before any password is checked)."""
        attempt = cls(engine, settings, address, _key("pair", username, address),
                      _key("address", address), _key("account", username))
        keys = [attempt.pair_key, attempt.address_key, attempt.account_key]
        with engine.begin() as conn:
            until = conn.execute(LOCKED_SQL, {"keys": keys}).scalar()
            if until is not None:
                raise locked_out(until, _now(conn))
            under_address_limit = False
            # a counter locked since the read above (concurrent guesses) refuses the attempt,
            # and leaving the block by the exception rolls back what this attempt counted
            counted = attempt._count(conn, attempt.address_key, "address",
                                     settings.login_address_max_failures)
            if counted is not None:
                under_address_limit = counted[0] <= settings.login_address_max_failures
                attempt.address_lock = counted[1]
                counted = attempt._count(conn, attempt.pair_key, "pair",
                                         settings.login_max_failures)
            if counted is not None and under_address_limit:
                counted = attempt._count(conn, attempt.account_key, "account",
                                         settings.login_account_max_failures)
            if counted is None:
                now = _now(conn)
                until = conn.execute(LOCKED_SQL, {"keys": keys}).scalar()
                raise locked_out(until or now, now)
        return attempt

    def _count(self, conn: Connection, key: str, kind: str,
               limit: int) -> tuple[int, dt.datetime | None] | None:
        """(failures, locked_until) after counting, or None when the counter is locked."""
        s = self.settings
        row = conn.execute(COUNT_SQL, {
            "key": key, "kind": kind, "limit": limit, "lock": s.login_lockout_seconds,
            "max_lock": s.login_lockout_max_seconds, "memory": s.login_failure_memory_seconds,
        }).first()
        return None if row is None else (row[0], row[1])

    def succeeded(self) -> None:
        """The password was right: reset the account's counters, take the attempt back from the
        address's (not reset: a valid account of one's own must not buy more guesses)."""
        with self.engine.begin() as conn:
            conn.execute(RESET_SQL, {"keys": [self.pair_key, self.account_key]})
            conn.execute(UNCOUNT_ADDRESS_SQL, {"key": self.address_key,
                                               "own_lock": self.address_lock})
            conn.execute(FORGET_SQL, {"memory": self.settings.login_failure_memory_seconds})

    def failed(self, user_id: uuid.UUID | None, detail: dict[str, Any]) -> None:
        """The password was wrong (already counted): audit it when the account exists."""
        if user_id is None:
            return
        with self.engine.begin() as conn:
            conn.execute(sa.insert(AuditLog.__table__).values(  # type: ignore[attr-defined]
                user_id=user_id, action="login_failed",
                detail={**detail, "address": self.address}, at=_now(conn)))


def _now(conn: Connection) -> dt.datetime:
    now: dt.datetime = conn.execute(sa.text("SELECT now()")).scalar_one()
    return now
