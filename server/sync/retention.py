"""Retention of sync bookkeeping: receipts and scope exits stop growing forever.

Both rules are safe by construction (docs/protocol.md, "Retention"):

* A receipt is pruned only when its ``seq`` is below its device's outbox floor (the lowest seq
  of the device's latest push from its own outbox). The tablet sends its outbox as a prefix in
  seq order and a change leaves the outbox only once its result is stored, so a change below
  the floor is no longer pending anywhere on that tablet. Should it arrive again all the same
  (a request delayed in the network, an old outbox export), the push refuses it with
  ``sync.change_expired`` (``records._apply_receipts``): answered clearly, never re-applied.
* A scope exit is pruned when older than the retention period; the horizon (one above the
  largest pruned txid) is kept, and an incremental cursor whose round starts below it gets
  ``reset: true`` and downloads its villages again, so no removal is ever missed.

Run ``ruhu prune-sync`` nightly (docs/operations.md). Each table is pruned in one statement.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

DEFAULT_KEEP_DAYS = 30


@dataclass(frozen=True)
class Pruned:
    receipts: int
    scope_exits: int
    scope_exit_horizon: int


def prune(engine: Engine, keep_days: float = DEFAULT_KEEP_DAYS,
          now: dt.datetime | None = None) -> Pruned:
    """Delete receipts below their device's outbox floor and scope exits, both older than
    ``keep_days``; raise the scope-exit horizon past the pruned exits."""
    now = now or dt.datetime.now(dt.UTC)
    cutoff = now - dt.timedelta(days=keep_days)
    with engine.begin() as conn:
        receipts = conn.execute(sa.text(
            "DELETE FROM sync_receipt r USING device d "
            "WHERE r.user_id = d.user_id AND r.device_id = d.device_id "
            "AND r.seq IS NOT NULL AND r.seq < d.outbox_floor_seq AND r.at < :cutoff"),
            {"cutoff": cutoff}).rowcount
        exits, top = conn.execute(sa.text(
            "WITH gone AS (DELETE FROM scope_exit WHERE at < :cutoff RETURNING txid) "
            "SELECT count(*), max(txid) FROM gone"), {"cutoff": cutoff}).one()
        horizon = conn.execute(sa.text(
            "INSERT INTO sync_retention (id, scope_exit_horizon, pruned_at) "
            "VALUES (1, coalesce(CAST(:top AS bigint) + 1, 0), :now) "
            "ON CONFLICT (id) DO UPDATE SET scope_exit_horizon = greatest("
            "sync_retention.scope_exit_horizon, excluded.scope_exit_horizon), "
            "pruned_at = excluded.pruned_at RETURNING scope_exit_horizon"),
            {"top": top, "now": now}).scalar_one()
    return Pruned(int(receipts), int(exits), int(horizon))
