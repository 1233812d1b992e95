"""A request's transaction commits before its answer leaves the server.

FastAPI runs the exit code of a ``yield`` dependency after the response has been sent unless the
dependency is function-scoped. With the request's session committing there, a tablet could be told
``applied`` before its change was committed (and lose it if the commit then failed), and a console
login's redirect could arrive before the login's device row existed. A real uvicorn server, with
every commit made half a second slower, shows the order.
"""

from __future__ import annotations

import time
import uuid

import httpx
import sqlalchemy as sa

from tests.conftest import VILLAGE_A1
from tests.devices import Tablet


def test_push_answer_comes_after_the_commit(db, live_url, make_user) -> None:
    make_user("slowcadre", "village_cadre", [VILLAGE_A1])

    def slow_commit(conn) -> None:  # before Postgres commits
        time.sleep(0.5)

    with httpx.Client(base_url=live_url, timeout=30) as http:
        tablet = Tablet(http, "slowcadre", "tab-slow").login()
        sa.event.listen(db, "commit", slow_commit)
        try:
            rid = uuid.uuid4()
            result = tablet.push("household", rid, {
                "village_code": VILLAGE_A1, "head_name": "王慢", "group_name": "一组",
                "poverty_status": "none"}, None)
            assert result["status"] == "applied"
            with db.connect() as conn:  # right away, from another connection
                found = conn.execute(sa.text("SELECT count(*) FROM household WHERE id = :i"),
                                     {"i": rid}).scalar()
            assert found == 1
        finally:
            sa.event.remove(db, "commit", slow_commit)
