"""A pull holds one database connection (docs/protocol.md, Pull): the user is looked up as the
first statement of the page's REPEATABLE READ transaction instead of on a second connection (the
request's own session) held idle in a transaction while the page is built. The never-skip
guarantee itself is tests/sync/test_concurrency.py, test_standby.py and test_pgbouncer.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, text

from tests.conftest import VILLAGE_A1
from tests.sync.syncutil import new_household, push


class Checkouts:
    """Connections taken from the app's pool: how many, and the most at once."""

    def __init__(self) -> None:
        self.taken = self.now = self.most = 0

    def reset(self) -> None:
        self.taken = self.most = 0

    def out(self, *_a: Any) -> None:
        self.taken += 1
        self.now += 1
        self.most = max(self.most, self.now)

    def back(self, *_a: Any) -> None:
        self.now -= 1


@pytest.fixture
def checkouts(db: Any) -> Iterator[Checkouts]:
    seen = Checkouts()
    event.listen(db, "checkout", seen.out)
    event.listen(db, "checkin", seen.back)
    yield seen
    event.remove(db, "checkout", seen.out)
    event.remove(db, "checkin", seen.back)


def test_every_kind_of_pull_takes_one_connection(client, make_user, login, db, checkouts):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    headers = login("cadre")
    push(client, headers, [new_household()[1] for _ in range(6)])
    url = "/api/v1/sync/pull"

    def pull(**params: Any) -> dict[str, Any]:
        checkouts.reset()
        resp = client.get(url, headers=headers, params=params)
        assert resp.status_code == 200, resp.text
        assert (checkouts.taken, checkouts.most) == (1, 1), (params, vars(checkouts))
        return dict(resp.json())

    first = pull(limit=2)  # initial download, first page: reference data too
    assert first["reference"] and first["has_more"]
    page = first
    while page["has_more"]:
        page = pull(limit=2, cursor=page["next_cursor"])
    push(client, headers, [new_household()[1]])
    incremental = pull(cursor=page["next_cursor"])
    assert len(incremental["changes"]) == 1


def test_refusals_take_at_most_one_connection(client, make_user, login, db, checkouts):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    headers = login("cadre")
    url = "/api/v1/sync/pull"
    # no token, a token that is no token: refused before any connection
    for bad in ({}, {"Authorization": "Bearer nonsense"}):
        checkouts.reset()
        resp = client.get(url, headers={**{k: v for k, v in headers.items()
                                           if k != "Authorization"}, **bad})
        assert resp.status_code == 401
        assert checkouts.taken == 0
    # a cursor of another user: the user is known only on the connection
    checkouts.reset()
    resp = client.get(url, headers=headers, params={"cursor": "x" * 40})
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "request.cursor_invalid"
    assert (checkouts.taken, checkouts.most) == (1, 1)
    # a signed-out session: its token is well formed, the database says no
    with db.begin() as conn:
        conn.execute(text("UPDATE auth_session SET revoked_at = now()"))
    checkouts.reset()
    resp = client.get(url, headers=headers)
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "auth.session_ended"
    assert (checkouts.taken, checkouts.most) == (1, 1)
