"""Retention of sync bookkeeping: receipts and scope exits stop growing forever.

Both rules are safe by construction (docs/protocol.md, "Retention"):

* Never applied twice: pruning a device's receipts raises its ``receipts_pruned_below`` past
  them in the same statement, and a change below that seq without a receipt is refused with
  ``sync.change_expired`` (``records._apply_receipts``). At or above it every receipt of the
  device still exists, so "no receipt" still means "never applied".
* Nothing pending is refused: a receipt is pruned only when its ``seq`` is below its device's
  outbox floor (the lowest seq of the device's latest push from its own outbox). The tablet
  sends its outbox as a prefix in seq order and a change leaves the outbox only once its result
  is stored, so such a change is no longer pending on that tablet. (Exception: a logout that
  exported and cleared the outbox; that file must be imported within the retention period.)
* A scope exit is pruned when older than the retention period; the horizon (one above the
  largest pruned txid) is kept, and an incremental cursor whose round starts below it gets
  ``reset: true`` and downloads its villages again, so no removal is ever missed.
* The change log is never pruned: it is the households' history and the feed of incremental
  pulls (a round ``[lo, hi)`` reads every row with ``txid >= lo``). Pruning it would need the
  scope exits' rule: a horizon above the pruned txids, and a reset for cursors below it.

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
        # deleted receipts raise their device's ``receipts_pruned_below`` in the same
        # statement: a change below it without a receipt is refused from then on
        receipts = conn.execute(sa.text(
            "WITH gone AS (DELETE FROM sync_receipt r USING device d "
            "  WHERE r.user_id = d.user_id AND r.device_id = d.device_id "
            "  AND r.seq IS NOT NULL AND r.seq < d.outbox_floor_seq AND r.at < :cutoff "
            "  RETURNING r.user_id, r.device_id, r.seq), "
            "top AS (SELECT user_id, device_id, max(seq) + 1 AS below, count(*) AS n "
            "  FROM gone GROUP BY user_id, device_id), "
            "raised AS (UPDATE device d SET receipts_pruned_below = "
            "  greatest(d.receipts_pruned_below, t.below) FROM top t "
            "  WHERE d.user_id = t.user_id AND d.device_id = t.device_id) "
            "SELECT coalesce(sum(n), 0) FROM top"), {"cutoff": cutoff}).scalar_one()
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
