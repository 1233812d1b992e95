"""A clerk of township A sees nothing of township B on any page or export."""

from __future__ import annotations

import hashlib
import io
import uuid

from openpyxl import load_workbook
from sqlmodel import Session

from server.db.tables import Attachment, AttachmentBlob, Visit
from tests.conftest import VILLAGE_A1, VILLAGE_B1
from tests.console.conftest import console_login

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
       b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N"
       b"\x00\x00\x00\x00IEND\xaeB`\x82")


def _xlsx_text(content: bytes) -> str:
    wb = load_workbook(io.BytesIO(content))
    return "\n".join(str(c) for ws in wb.worksheets for row in ws.iter_rows(values_only=True)
                     for c in row if c is not None)


def _photo(db, household, village: str) -> str:
    sha = hashlib.sha256(PNG + village.encode()).hexdigest()
    with Session(db) as s:
        s.add(Attachment(sha256=sha, mime_type="image/png", size=len(PNG)))
        s.flush()
        s.add(AttachmentBlob(sha256=sha, data=PNG))
        s.add(Visit(id=uuid.uuid4(), household_id=household.id, village_code=village,
                    visited_at=household.created_at, attachment_ids=[sha]))
        s.commit()
    return sha


def test_township_a_sees_nothing_of_b(client, world, db):
    b1 = world["b1"]
    secrets = ["孙乙峰", "王岗村", "蚁蜂镇", b1.head_id_number, b1.phone, str(b1.id)]
    photo_a = _photo(db, world["a1"], VILLAGE_A1)
    photo_b = _photo(db, b1, VILLAGE_B1)
    console_login(client, "clerk_a")
    pages = ["/console/conflicts", f"/console/conflicts?village={VILLAGE_B1}",
             "/console/households", f"/console/households?village={VILLAGE_B1}&q=孙",
             "/console/quality", f"/console/quality?village={VILLAGE_B1}", "/console/exports",
             f"/console/households/{world['a1'].id}"]
    for url in pages:
        resp = client.get(url)
        assert resp.status_code == 200, url
        leaked = [s for s in secrets if s in resp.text]
        assert not leaked, (url, leaked)
    for url in (f"/console/conflicts/{world['conflict_b1'].id}", f"/console/households/{b1.id}",
                f"/console/attachments/{photo_b}"):
        resp = client.get(url)
        assert resp.status_code == 404, url
        assert not [s for s in secrets if s in resp.text]
    assert client.get(f"/console/attachments/{photo_a}").content == PNG
    for kind in ("roster", "coverage", "notice"):
        for params in ({}, {"village": VILLAGE_B1}, {"scope": "all"}):
            resp = client.get(f"/console/exports/{kind}.xlsx", params=params)
            text = _xlsx_text(resp.content)
            assert not [s for s in secrets if s in text], (kind, params)
