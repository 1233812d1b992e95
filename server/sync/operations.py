"""Server-side operations: what a user writes through the server rather than through a
device's push — a clerk resolving a conflict, a county admin's Excel import, a procedure moved
in the console or the read API.

Each runs the push's own steps (``records.run``: lock, merge, write; ``sql``/``write`` do every
write) as the user from the device they are signed in from, with an explicit ``Origin`` (the
change log's ``source``) instead of a device of the server's. Versions, clocks and the change
log are written by those steps in the same batch, never patched afterwards. The clocks are the
server's (``batch.server_hlc``); no receipt is kept (nothing replays a server-side change) and
no device row is touched.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import uuid6
from sqlmodel import Session

from server.scope import Principal
from server.sync import records, sql
from server.sync.batch import Batch, Origin, Prepared, server_hlc
from server.sync.load import load
from server.sync.merge_step import log_row
from server.sync.write import write
from sync_protocol.merge import UPSERT, Incoming, merge
from sync_protocol.wire import ChangeResult

__all__ = ["Origin", "ServerChange", "apply", "move_children"]


@dataclass(frozen=True, slots=True)
class ServerChange:
    """One change a server-side operation makes. Without ``base_version`` it overrides the
    current values (no conflict); with one it merges like a device's change made on that
    version."""

    entity: str
    record_id: uuid.UUID | str
    fields: dict[str, Any] = field(default_factory=dict)
    op: str = UPSERT
    base_version: int | None = None


def apply(session: Session, principal: Principal, changes: Sequence[ServerChange],
          origin: Origin, *, touch: Sequence[tuple[str, uuid.UUID | str]] = (),
          ) -> list[ChangeResult]:
    """Write ``changes`` as ``principal``; one result per change, as a push answers it.
    ``touch``: records that get a new version and a ``resolution`` change-log entry even when
    the changes leave them as they were (see ``records.run``)."""
    if origin is Origin.DEVICE:
        raise ValueError("a device's changes come through its push")
    hlc = server_hlc()
    raw = [{"change_id": str(uuid6.uuid7()), "entity": c.entity, "record_id": str(c.record_id),
            "op": c.op, "fields": c.fields, "hlc": hlc,
            **({"base_version": c.base_version} if c.base_version is not None else {})}
           for c in changes]
    return records.run(session, principal, principal.device_id, raw, origin,
                       forced=[c.base_version is None for c in changes],
                       touch=[(entity, str(rid)) for entity, rid in touch])


def move_children(session: Session, principal: Principal, loser: uuid.UUID,
                  survivor: uuid.UUID, left: str | None, village: str,
                  origin: Origin = Origin.RESOLUTION) -> None:
    """Merge of duplicate households: every child of ``loser`` (village ``left``) moves to
    ``survivor`` in ``village``, through the push's lock, merge and write steps (version,
    clock and change log as for any change). Children that change village are announced to the
    old village's devices (scope exits); their earlier history follows them (base values of
    later conflicts are looked up by household). The caller has locked both households."""
    hlc = server_hlc()
    fields = {"household_id": survivor}
    wanted = [Prepared(-1, "", entity=entity, record_id=rid, fields=fields, hlc=hlc)
              for entity, rid in sql.select_children(session, loser)]
    if not wanted:
        return
    states, _ = load(session, wanted)
    batch = Batch(user_id=principal.user_id, device_id=principal.device_id, origin=origin)
    now = dt.datetime.now(dt.UTC)
    for p in wanted:
        st = states.get((p.entity, p.record_id or ""))
        if st is None or st.stored is None:
            continue
        outcome = merge(st.stored, Incoming(UPSERT, None, dict(fields), hlc, force=True))
        st.stored = outcome.state()
        st.dirty = st.moved = True
        st.changed.update(outcome.changed)
        st.household_id, st.village_code = str(survivor), village
        batch.logs.append(log_row(p, st, outcome))
        if left != village:
            batch.exits.append({"id": uuid.uuid4(), "entity": p.entity, "record_id": st.id,
                                "village_code": left, "at": now})
    sql.reassign_history(session, loser, survivor)
    write(session, states, batch, now)
