"""Regenerate the initial revision from the models (only until the first release ships).

    python -m migrations.regen_initial

Starts a throw-away embedded Postgres, autogenerates ``versions/0001_initial.py`` against an
empty database, and stops. After the first release, add new revisions with
``alembic revision --autogenerate`` instead.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from alembic import command

from server.db import embedded
from server.db.migrate import MIGRATIONS_DIR, alembic_config


def main() -> None:
    target = MIGRATIONS_DIR / "versions" / "0001_initial.py"
    target.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        _server, url = embedded.start(Path(tmp) / "pg", cleanup_mode="delete")
        command.revision(alembic_config(url), message="initial schema", autogenerate=True,
                         rev_id="0001")
    generated = next((MIGRATIONS_DIR / "versions").glob("0001_*.py"))
    generated.rename(target)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
