"""Which attachments a user may reference in their records (one query per push).

An attachment id (sha256) in a change's ``attachment_ids`` is accepted only when this user
uploaded its bytes (``attachment_holder``: every uploader, not only the first), or a record in
their scope already references it (or a conflict in their scope holds it as one of its values: a
clerk's resolution may pick the value that lost). Otherwise a cadre who learnt another
township's sha256 could reference it in their own visit and then download the photo, since
``GET /api/v1/attachments/{sha256}`` serves whoever's scope references it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Session

from server.db.tables import AttachmentHolder, Conflict
from server.scope import Principal
from server.sync.values import TABLES, table_of
from sync_protocol.errors import ErrorCode

REFERENCING = ("visit", "checklist_item")


def usable_attachments(session: Session, principal: Principal, shas: Iterable[str]) -> set[str]:
    """The subset of ``shas`` that ``principal`` may put into a record's ``attachment_ids``."""
    wanted = sorted(set(shas))
    if not wanted:
        return set()
    w = sa.func.unnest(sa.bindparam("shas", wanted, type_=ARRAY(sa.Text))) \
        .table_valued("sha").render_derived()
    holders = table_of(AttachmentHolder)
    probe: Any = sa.func.jsonb_build_array(w.c.sha)
    allowed = [sa.exists().where(holders.c.sha256 == w.c.sha,
                                 holders.c.user_id == principal.user_id)]
    for entity in REFERENCING:
        t = TABLES[entity]
        allowed.append(sa.exists().where(principal.scope_clause(t.c.village_code),
                                         t.c.attachment_ids.op("@>")(probe)))
    ct = table_of(Conflict)
    allowed.append(sa.exists().where(
        principal.scope_clause(ct.c.village_code), ct.c.field == "attachment_ids",
        sa.or_(ct.c.server_value.op("@>")(probe), ct.c.client_value.op("@>")(probe))))
    return set(session.execute(sa.select(w.c.sha).where(sa.or_(*allowed))).scalars())


class Change(Protocol):
    """A prepared change of a push (``records.Prepared``)."""

    fields: dict[str, Any]

    def reject(self, code: ErrorCode, fld: str | None = None, message: str = "") -> None: ...


def reject_unusable_attachments(session: Session, principal: Principal,
                                changes: Sequence[Change]) -> None:
    """Reject each change that references an attachment ``principal`` may not use
    (``attachment.not_yours``); the others go on. One query for the whole batch."""
    citing = [c for c in changes if c.fields.get("attachment_ids")]
    if not citing:
        return
    usable = usable_attachments(session, principal,
                                {sha for c in citing for sha in c.fields["attachment_ids"]})
    for c in citing:
        if not usable.issuperset(c.fields["attachment_ids"]):
            c.reject(ErrorCode.attachment_not_yours, "attachment_ids")
