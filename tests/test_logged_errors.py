"""What reaches the log: a database error (logged with its traceback when a request fails) does not
carry the statement's values, which may be names, ID numbers or phones (docs/security.md).

Postgres's own message may still quote a value (an integer out of range, a unique key's DETAIL).
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError


def test_a_database_error_does_not_show_the_values(db) -> None:
    id_number = "412801195010190030"
    with pytest.raises(DBAPIError) as caught, db.connect() as conn:
        # psycopg refuses the NUL itself; its message does not repeat the value, and the
        # parameters SQLAlchemy would add are hidden
        conn.execute(sa.text("SELECT CAST(:v AS text)"), {"v": id_number + "\x00"})
    assert id_number not in str(caught.value)
    assert "hidden due to hide_parameters" in str(caught.value)
