"""The household page's 修改记录: the latest 30 with a link to all of them; ``?history=all`` shows
the latest 2000 (``HISTORY_ALL``) and says so when the household has more."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from server.console.households import HISTORY_ALL, HISTORY_SHOWN
from tests.conftest import VILLAGE_A1
from tests.console.conftest import console_login

CUT = f"仅显示最近 {HISTORY_ALL} 条修改记录"
ALL = "查看全部修改记录"


def _add_history(db: Engine, household_id: object, first: int, last: int) -> None:
    """Change-log rows ``first``..``last`` of the household in one statement, each writing the
    address 新址NNNNN号 (later numbers are later rows)."""
    with db.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO change_log (entity, record_id, household_id, village_code, op,"
            " version, source, changes, at)"
            " SELECT 'household', :hid, :hid, :village, 'upsert', n, 'console',"
            " jsonb_build_object('address', jsonb_build_array(NULL,"
            "   '新址' || lpad(n::text, 5, '0') || '号')),"
            " now() - make_interval(secs => :last - n)"
            " FROM generate_series(CAST(:first AS int), CAST(:last AS int)) AS n"),
            {"hid": household_id, "village": VILLAGE_A1, "first": first, "last": last})


def test_all_history_says_when_older_entries_are_left_out(client, world, db):
    hid = world["a1"].id  # the world already holds one change of its phone
    console_login(client, "clerk_a")
    url = f"/console/households/{hid}"

    few = client.get(url).text
    assert ALL not in few and CUT not in few  # one entry: nothing more to show

    _add_history(db, hid, 1, HISTORY_ALL - 1)  # exactly HISTORY_ALL entries in all
    page = client.get(url).text
    assert ALL in page and CUT not in page
    assert page.count("新址") == HISTORY_SHOWN
    every = client.get(url, params={"history": "all"})
    assert every.status_code == 200, every.text
    assert every.text.count("新址") == HISTORY_ALL - 1  # and the phone's: all of them
    assert "新址00001号" in every.text
    assert CUT not in every.text and ALL not in every.text

    _add_history(db, hid, HISTORY_ALL, HISTORY_ALL + 1)  # two more: older ones are cut
    every = client.get(url, params={"history": "all"}).text
    assert CUT in every and "更早的修改记录未显示" in every
    assert every.count("新址") == HISTORY_ALL  # the latest HISTORY_ALL, newest first
    assert f"新址{HISTORY_ALL + 1:05d}号" in every and "新址00001号" not in every
    assert every.index(f"新址{HISTORY_ALL + 1:05d}号") < every.index("新址00002号")
    assert CUT not in client.get(url).text  # the first page only offers the link
