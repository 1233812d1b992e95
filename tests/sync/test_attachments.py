"""Attachments: hash and type checks, size limit, idempotent upload, scoped download."""

from __future__ import annotations

import hashlib
import uuid

from tests.conftest import VILLAGE_A1, VILLAGE_B1
from tests.sync.syncutil import change, new_household, push

JPEG = b"\xff\xd8\xff\xe0" + b"photo" * 100
PDF = b"%PDF-1.4\n" + b"x" * 100


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def url(digest: str) -> str:
    return f"/api/v1/attachments/{digest}"


def test_upload_idempotent_and_checked(client, make_user, login):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    h = login("cadre")
    digest = sha(JPEG)
    assert client.head(url(digest), headers=h).status_code == 404
    assert client.put(url(digest), headers=h, content=JPEG).status_code == 201
    assert client.put(url(digest), headers=h, content=JPEG).status_code == 200
    assert client.head(url(digest), headers=h).status_code == 200
    got = client.get(url(digest), headers=h)
    assert got.status_code == 200 and got.content == JPEG
    assert got.headers["content-type"] == "image/jpeg"

    wrong = client.put(url(sha(PDF)), headers=h, content=JPEG)
    assert wrong.status_code == 400
    assert wrong.json()["error"]["code"] == "attachment.hash_mismatch"
    text = b"just text"
    bad_type = client.put(url(sha(text)), headers=h, content=text)
    assert bad_type.status_code == 415
    assert bad_type.json()["error"]["code"] == "attachment.type_unsupported"
    big = b"%PDF-" + b"0" * (10 * 1024 * 1024)
    too_big = client.put(url(sha(big)), headers=h, content=big)
    assert too_big.status_code == 413
    assert too_big.json()["error"]["code"] == "attachment.too_large"
    assert client.head(url("nothex"), headers=h).status_code == 400
    assert client.head(url(digest)).status_code == 401


def test_download_needs_a_referencing_record_in_scope(client, make_user, login):
    make_user("cadre_a", "village_cadre", [VILLAGE_A1])
    make_user("cadre_a2", "village_cadre", [VILLAGE_A1])
    make_user("cadre_b", "village_cadre", [VILLAGE_B1])
    ha = login("cadre_a", "tab-a")
    digest = sha(PDF)
    assert client.put(url(digest), headers=ha, content=PDF).status_code == 201
    ha2 = login("cadre_a2", "tab-a2")
    hb = login("cadre_b", "tab-b")
    assert client.get(url(digest), headers=ha2).status_code == 404  # not referenced yet
    hid, create = new_household()
    visit = change("visit", uuid.uuid4(), {"household_id": hid,
                                            "visited_at": "2026-11-20T09:00:00+08:00",
                                            "notes": "了解家庭情况",
                                            "attachment_ids": [digest]}, device="tab-a")
    assert [r["status"] for r in push(client, ha, [create, visit], "tab-a")] == ["applied"] * 2
    assert client.get(url(digest), headers=ha2).status_code == 200
    denied = client.get(url(digest), headers=hb)
    assert denied.status_code == 404 and denied.json()["error"]["code"] == "attachment.not_found"
