"""A county's choice of a template version and the retirement of that version, at the same moment
in two requests (real Postgres): whichever locks the version's row first wins and the other is
refused, so no county policy is ever left naming a retired version."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from server import checklist_templates as store
from server.db.tables import ChecklistTemplate
from server.scope import Principal
from sync_protocol.errors import RuhuError
from tests.conftest import COUNTY

CODE = f"{COUNTY}.wuqing.v2"


def _admin(make_user) -> Principal:
    user = make_user("admin", "county_admin", [COUNTY])
    return Principal(user.id, "admin", "admin", "county_admin", (COUNTY,), "web", 1)


def _stored(db) -> None:
    with Session(db) as s:
        s.add(ChecklistTemplate(code=CODE, name="五清（本县版）",
                                items=[{"code": "dishu", "title": "底数清"}]))
        s.commit()


def _second(db, act: Callable[[Session], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    """``act`` in a session of its own on a thread: its outcome (``ok`` or the refusal's code)."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        with Session(db) as session:
            try:
                act(session)
                session.commit()
                outcome["ok"] = True
            except RuhuError as exc:
                outcome["code"] = str(exc.code)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(0.5)
    return thread, outcome


def _state(db) -> tuple[bool, str | None]:
    with db.connect() as conn:
        return (bool(conn.execute(sa.text(
                    "SELECT active FROM checklist_template WHERE code = :c"), {"c": CODE}
                ).scalar()),
                conn.execute(sa.text("SELECT checklist_template FROM county_policy "
                                     "WHERE county_code = :c"), {"c": COUNTY}).scalar())


def test_a_choice_first_keeps_the_version(db, make_user):
    admin = _admin(make_user)
    _stored(db)
    with Session(db) as first:
        store.choose(first, admin, COUNTY, CODE)  # not committed yet
        thread, outcome = _second(db, lambda s: store.retire(s, admin, CODE))
        assert thread.is_alive()  # the retirement waits for the choice
        first.commit()
    thread.join(10)
    assert outcome == {"code": "template.in_use"}
    assert _state(db) == (True, CODE)


def test_a_retirement_first_refuses_the_choice(db, make_user):
    admin = _admin(make_user)
    _stored(db)
    with Session(db) as first:
        store.retire(first, admin, CODE)  # not committed yet
        thread, outcome = _second(db, lambda s: store.choose(s, admin, COUNTY, CODE))
        assert thread.is_alive()  # the choice waits for the retirement
        first.commit()
    thread.join(10)
    assert outcome == {"code": "template.retired"}
    assert _state(db) == (False, None)
