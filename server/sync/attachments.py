"""Attachments by SHA-256: existence check, idempotent upload, scoped download."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import Session

from server.db.tables import Attachment, AttachmentBlob, AttachmentHolder
from server.scope import Principal
from server.sync.references import usable_attachments
from server.sync.values import table_of
from sync_protocol.errors import ErrorCode, RuhuError
from sync_protocol.validation import SHA256_RE

AT = table_of(Attachment)
BT = table_of(AttachmentBlob)
HT = table_of(AttachmentHolder)
MAGIC = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"),
         (b"%PDF-", "application/pdf"))


def check_hash(sha256: str) -> str:
    sha = sha256.lower()
    if not SHA256_RE.match(sha):
        raise RuhuError(ErrorCode.attachment_hash_invalid, status_code=400)
    return sha


def sniff(data: bytes) -> str | None:
    """The MIME type from the first bytes (JPEG, PNG, PDF), never from what the client says."""
    return next((mime for magic, mime in MAGIC if data.startswith(magic)), None)


def exists(session: Session, principal: Principal, sha: str) -> bool:
    """``HEAD``: stored *for this user* — they uploaded it, or their scope cites it. Anyone else
    gets 404 and uploads the bytes, which makes them a holder (``store``) who may cite it; so a
    hash reveals nothing to whoever does not hold the bytes."""
    return may_use(session, principal, sha)


def store(session: Session, principal: Principal, sha: str, data: bytes, limit: int) -> bool:
    """Check and store; True when newly stored, False when it was already there (idempotent)."""
    if len(data) > limit:
        raise RuhuError(ErrorCode.attachment_too_large, status_code=413)
    if hashlib.sha256(data).hexdigest() != sha:
        raise RuhuError(ErrorCode.attachment_hash_mismatch, status_code=400)
    mime = sniff(data)
    if mime is None:
        raise RuhuError(ErrorCode.attachment_type_unsupported, status_code=415)
    inserted = session.execute(
        pg_insert(AT).values(sha256=sha, mime_type=mime, size=len(data),
                             uploaded_by=principal.user_id, device_id=principal.device_id)
        .on_conflict_do_nothing(index_elements=["sha256"]).returning(AT.c.sha256)
    ).first()
    if inserted is not None:
        session.execute(pg_insert(BT).values(sha256=sha, data=data)
                        .on_conflict_do_nothing(index_elements=["sha256"]))
    # the bytes matched the hash: this user holds them, whoever uploaded them first
    session.execute(pg_insert(HT).values(sha256=sha, user_id=principal.user_id)
                    .on_conflict_do_nothing(index_elements=["sha256", "user_id"]))
    return inserted is not None


def load(session: Session, principal: Principal, sha: str) -> tuple[bytes, str]:
    """The bytes, for the uploader or a user whose scope holds a record that references them."""
    mime = session.execute(sa.select(AT.c.mime_type).where(AT.c.sha256 == sha)).scalar()
    if mime is None or not may_use(session, principal, sha):
        raise RuhuError(ErrorCode.attachment_not_found, status_code=404)
    data = session.execute(sa.select(BT.c.data).where(BT.c.sha256 == sha)).scalar_one()
    return data, mime


def may_use(session: Session, principal: Principal, sha: str) -> bool:
    """The user uploaded the bytes, or a record (or a conflict's value) in their scope cites
    them: ``GET`` here and in the console, and ``HEAD``."""
    return sha in usable_attachments(session, principal, [sha])
