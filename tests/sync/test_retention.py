"""Retention (server/sync/retention.py, docs/protocol.md "Retention"): receipts below a device's
outbox floor and old scope exits are pruned; a retried old push is then refused clearly
(``sync.change_expired``), never applied twice, and an old cursor restarts with a full download
instead of missing a removal."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa

from server.sync.retention import prune
from tests.conftest import VILLAGE_A1, VILLAGE_A2
from tests.sync.syncutil import change, new_household, pull_all, push

LATER = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)  # everything so far is "old"


def _count(db, sql: str) -> int:
    with db.connect() as conn:
        return int(conn.execute(sa.text(sql)).scalar_one())


def _with_seq(changes: list[dict], first: int) -> list[dict]:
    return [{**c, "seq": first + i} for i, c in enumerate(changes)]


def test_a_retried_old_push_after_pruning_is_refused_never_reapplied(client, db, make_user,
                                                                      login) -> None:
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    h = login("cadre", "tab-r")
    hid, create = new_household(VILLAGE_A1)
    first = _with_seq([create, change("member", uuid.uuid4(), {"household_id": hid,
                                                              "name": "李四"}, device="tab-r")], 1)
    assert [r["status"] for r in push(client, h, first, "tab-r")] == ["applied", "applied"]
    # before a later push nothing is pruned: the tablet might still be waiting for the answer
    assert prune(db, keep_days=0, now=LATER).receipts == 0
    assert [r["status"] for r in push(client, h, first, "tab-r")] == ["duplicate"] * 2

    second = _with_seq([change("household", hid, {"phone": "13800000001"}, base=1,
                               device="tab-r")], 3)
    assert push(client, h, second, "tab-r")[0]["status"] == "applied"
    # the push with seq 3 says seqs 1-2 have left the tablet's outbox: their receipts may go,
    # the newest push's stay
    kept_recent = prune(db, keep_days=30, now=LATER)
    assert kept_recent.receipts == 0  # younger than the retention period
    assert prune(db, keep_days=0, now=LATER).receipts == 2
    assert _count(db, "SELECT count(*) FROM sync_receipt") == 1

    log_before = _count(db, "SELECT count(*) FROM change_log")
    results = push(client, h, first, "tab-r")  # the old request arrives once more
    assert [r["status"] for r in results] == ["rejected", "rejected"]
    assert {r["error"]["code"] for r in results} == {"sync.change_expired"}
    assert "不能再次提交" in results[0]["error"]["message"]
    assert _count(db, "SELECT count(*) FROM change_log") == log_before
    assert _count(db, "SELECT count(*) FROM member") == 1
    assert _count(db, "SELECT version FROM household") == 2
    # the newest push is still answered from its receipt
    assert push(client, h, second, "tab-r")[0]["status"] == "duplicate"
    # and new work goes on
    third = _with_seq([change("household", hid, {"address": "新地址"}, base=2,
                              device="tab-r")], 4)
    assert push(client, h, third, "tab-r")[0]["status"] == "applied"


def test_floors_are_per_device(client, db, make_user, login) -> None:
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    a = login("cadre", "tab-a")
    b = login("cadre", "tab-b")
    _, ca = new_household(VILLAGE_A1)
    _, cb = new_household(VILLAGE_A1)
    push(client, a, _with_seq([ca], 1), "tab-a")
    push(client, b, _with_seq([cb], 1), "tab-b")
    _, ca2 = new_household(VILLAGE_A1)
    push(client, a, _with_seq([ca2], 2), "tab-a")  # only A moved on
    assert prune(db, keep_days=0, now=LATER).receipts == 1
    assert push(client, b, _with_seq([cb], 1), "tab-b")[0]["status"] == "duplicate"
    assert push(client, a, _with_seq([ca], 1), "tab-a")[0]["error"]["code"] == \
        "sync.change_expired"


def test_a_change_never_applied_is_not_refused(client, db, make_user, login) -> None:
    """Only a change whose receipt may have been pruned is refused: one below the outbox floor
    that was never applied (a logout exported it and cleared the outbox, then the tablet went on)
    is applied when it arrives, before or after pruning."""
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    h = login("cadre", "tab-x")
    _, c1 = new_household(VILLAGE_A1)
    _, c2 = new_household(VILLAGE_A1)  # exported at logout, never pushed by the tablet
    _, c3 = new_household(VILLAGE_A1)
    push(client, h, _with_seq([c1], 1), "tab-x")
    push(client, h, _with_seq([c3], 3), "tab-x")  # floor 3
    assert prune(db, keep_days=0, now=LATER).receipts == 1  # seq 1: receipts below 2 pruned
    assert push(client, h, _with_seq([c2], 2), "tab-x")[0]["status"] == "applied"
    assert push(client, h, _with_seq([c1], 1), "tab-x")[0]["error"]["code"] == \
        "sync.change_expired"
    assert _count(db, "SELECT count(*) FROM household") == 3


def test_an_old_cursor_restarts_after_scope_exits_are_pruned(client, db, make_user,
                                                             login) -> None:
    make_user("both", "village_cadre", [VILLAGE_A1, VILLAGE_A2])
    make_user("cadre_a1", "village_cadre", [VILLAGE_A1])
    hb = login("both", "tab-both")
    h1 = login("cadre_a1", "tab-a1")
    hid, create = new_household(VILLAGE_A1)
    stays, other = new_household(VILLAGE_A1)
    push(client, hb, [create, other], "tab-both")
    _, _, old_cursor = pull_all(client, h1)
    [res] = push(client, hb, [change("household", hid, {"village_code": VILLAGE_A2}, base=1,
                                     device="tab-both")], "tab-both")
    assert res["status"] == "applied"
    assert _count(db, "SELECT count(*) FROM scope_exit") == 1

    done = prune(db, keep_days=0, now=LATER)
    assert done.scope_exits == 1 and done.scope_exit_horizon > 0
    # the removal is gone, so the old cursor cannot be served incrementally: a full download,
    # which no longer holds the moved household
    page = client.get("/api/v1/sync/pull", headers=h1, params={"cursor": old_cursor}).json()
    assert page["reset"] is True
    records, _, new_cursor = pull_all(client, h1, old_cursor)
    assert {r["record_id"] for r in records} == {stays}
    # a cursor from after the pruning is incremental again
    page = client.get("/api/v1/sync/pull", headers=h1, params={"cursor": new_cursor}).json()
    assert page["reset"] is False and page["changes"] == []
    # pruning again with nothing to prune keeps the horizon
    assert prune(db, keep_days=0, now=LATER).scope_exit_horizon == done.scope_exit_horizon


def test_prune_sync_command(db, db_url, monkeypatch) -> None:
    from typer.testing import CliRunner

    from server.cli import app
    from server.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", db_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["prune-sync", "--keep-days", "7"])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "已清理同步回执 0 条、农户迁出记录 0 条（保留最近 7 天）" in result.output
