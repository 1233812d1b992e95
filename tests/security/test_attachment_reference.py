"""Attachments by reference (issue 11, "Leaks"): a cadre who writes another township's photo
sha256 into their own visit or 五清 item must not be able to download it.

A push may reference an attachment only when this user uploaded it, or a record in their scope
already references it; any other reference rejects that change (``attachment.not_yours``) and
the rest of the batch applies. Run against a live server on real Postgres.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import VILLAGE_A1, VILLAGE_A2, VILLAGE_B1
from tests.security.live_world import api_login, pull_everything, push, seed
from tests.sync.syncutil import change

PHOTO_B = b"\xff\xd8\xff\xe0" + b"township B household photo " * 40
PHOTO_A = b"\xff\xd8\xff\xe0" + b"township A visit photo " * 40
SCAN_A2 = b"%PDF-1.4\n" + b"signed form " * 40
WHEN = "2026-11-20T09:00:00+08:00"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def upload(client: httpx.Client, data: bytes) -> str:
    digest = sha(data)
    resp = client.put(f"/api/v1/attachments/{digest}", content=data)
    assert resp.status_code in (200, 201), resp.text
    return digest


def household(village: str) -> tuple[str, dict[str, Any]]:
    rid = str(uuid.uuid4())
    return rid, change("household", rid, {"village_code": village, "head_name": "测试户"})


def visit(hid: str, shas: list[str], rid: str | None = None,
          base: int | None = None) -> dict[str, Any]:
    fields: dict[str, Any] = {"attachment_ids": shas}
    if base is None:
        fields |= {"household_id": hid, "visited_at": WHEN, "notes": "入户核实情况"}
    return change("visit", rid or uuid.uuid4(), fields, base=base)


def checklist_item(hid: str, shas: list[str]) -> dict[str, Any]:
    return change("checklist_item", uuid.uuid4(), {
        "household_id": hid, "template_code": "wuqing.v1", "item_code": "base_file",
        "verdict": "clear", "attachment_ids": shas})


@pytest.fixture
def url(live_url, db) -> str:
    seed(db)
    return live_url


@pytest.fixture
def photo_b(url) -> str:
    """A photo of township B: uploaded by B's cadre and referenced by B's visit."""
    cadre_b = api_login(url, "cadre_b", "tab-b")
    digest = upload(cadre_b, PHOTO_B)
    hid, create = household(VILLAGE_B1)
    results = push(cadre_b, "tab-b", [create, visit(hid, [digest])]).json()["results"]
    assert [r["status"] for r in results] == ["applied", "applied"]
    assert cadre_b.get(f"/api/v1/attachments/{digest}").content == PHOTO_B
    return digest


def test_foreign_photo_is_rejected_and_stays_private(url, photo_b, db):
    cadre_a = api_login(url, "cadre_a", "tab-a")
    own = upload(cadre_a, PHOTO_A)
    hid, create = household(VILLAGE_A1)
    changes = [create, visit(hid, [photo_b]), visit(hid, [own, photo_b]),
               checklist_item(hid, [photo_b]), visit(hid, [own])]
    results = push(cadre_a, "tab-a", changes).json()["results"]
    assert [r["status"] for r in results] == ["applied", "rejected", "rejected", "rejected",
                                              "applied"]
    for r in results[1:4]:
        assert r["error"]["code"] == "attachment.not_yours"
        assert r["error"]["field"] == "attachment_ids"
        assert "附件" in r["error"]["message"] and "不是本人上传" in r["error"]["message"]
        assert r["version"] is None
    denied = cadre_a.get(f"/api/v1/attachments/{photo_b}")
    assert denied.status_code == 404 and denied.json()["error"]["code"] == "attachment.not_found"
    with db.connect() as conn:
        cited = conn.execute(sa.text(
            "select count(*) from visit where attachment_ids @> cast(:s as jsonb)"),
            {"s": f'["{photo_b}"]'}).scalar()
        logged = conn.execute(sa.text(
            "select count(*) from sync_rejection where code = 'attachment.not_yours'")).scalar()
    assert cited == 1 and logged == 3  # only B's own visit; the attempts are on the dashboard
    # and the pull of A's cadre carries no trace of it
    pages = pull_everything(cadre_a)
    assert photo_b not in str(pages)
    # township A's clerk cannot open it in the console either
    clerk = api_login(url, "clerk_a", "pc-clerk-a")
    assert clerk.get(f"/api/v1/attachments/{photo_b}").status_code == 404


def test_adding_a_foreign_photo_to_an_existing_visit_is_rejected(url, photo_b, db):
    cadre_a = api_login(url, "cadre_a", "tab-a")
    own = upload(cadre_a, PHOTO_A)
    hid, create = household(VILLAGE_A1)
    vid = str(uuid.uuid4())
    assert [r["status"] for r in push(cadre_a, "tab-a", [create, visit(hid, [own], vid)])
            .json()["results"]] == ["applied", "applied"]
    [res] = push(cadre_a, "tab-a", [visit(hid, [own, photo_b], vid, base=1)]).json()["results"]
    assert res["status"] == "rejected" and res["error"]["code"] == "attachment.not_yours"
    with db.connect() as conn:
        stored = conn.execute(sa.text("select attachment_ids, version from visit where id = :i"),
                              {"i": vid}).one()
    assert stored == ([own], 1)
    assert cadre_a.get(f"/api/v1/attachments/{photo_b}").status_code == 404


def test_unknown_photo_is_rejected(url):
    """A sha256 the server does not hold: nobody uploaded it, so nobody may cite it yet."""
    cadre_a = api_login(url, "cadre_a", "tab-a")
    hid, create = household(VILLAGE_A1)
    results = push(cadre_a, "tab-a", [create, visit(hid, [sha(b"never uploaded")])]
                   ).json()["results"]
    assert [r["status"] for r in results] == ["applied", "rejected"]
    assert results[1]["error"]["code"] == "attachment.not_yours"


def test_own_upload_and_photos_of_own_scope_are_accepted(url):
    cadre_a = api_login(url, "cadre_a", "tab-a")
    own = upload(cadre_a, PHOTO_A)
    hid, create = household(VILLAGE_A1)
    results = push(cadre_a, "tab-a", [create, visit(hid, [own]), checklist_item(hid, [own])]
                   ).json()["results"]
    assert [r["status"] for r in results] == ["applied"] * 3
    # the village's first secretary cites the photo the cadre's visit already holds
    secretary = api_login(url, "cadre_a2", "tab-a2")
    assert secretary.get(f"/api/v1/attachments/{own}").content == PHOTO_A
    [res] = push(secretary, "tab-a2", [visit(hid, [own])]).json()["results"]
    assert res["status"] == "applied"
    # the township clerk too (the village is in their scope)
    clerk = api_login(url, "clerk_a", "pc-clerk-a")
    [res] = push(clerk, "pc-clerk-a", [checklist_item(hid, [own])]).json()["results"]
    assert res["status"] == "applied"
    # a cadre of another village of the same township may not: not in their scope
    other_village = api_login(url, "cadre_a3", "tab-a3")
    hid3, create3 = household(VILLAGE_A2)
    results = push(other_village, "tab-a3", [create3, visit(hid3, [own])]).json()["results"]
    assert [r["status"] for r in results] == ["applied", "rejected"]
    # their own scan is fine, uploaded but not yet cited anywhere
    scan = upload(other_village, SCAN_A2)
    [res] = push(other_village, "tab-a3", [visit(hid3, [scan])]).json()["results"]
    assert res["status"] == "applied"


def test_one_query_per_push(url, db):
    """The check is batched: one statement for every attachment of a push, however many."""
    cadre_a = api_login(url, "cadre_a", "tab-a")
    photos = [upload(cadre_a, b"\xff\xd8\xff\xe0" + f"photo {i} ".encode() * 30)
              for i in range(6)]
    hid, create = household(VILLAGE_A1)
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "jsonb_build_array" in statement:
            statements.append(statement)

    sa.event.listen(db, "before_cursor_execute", record)
    try:
        results = push(cadre_a, "tab-a", [create] + [visit(hid, [p]) for p in photos]
                       + [visit(hid, photos[:3])]).json()["results"]
    finally:
        sa.event.remove(db, "before_cursor_execute", record)
    assert {r["status"] for r in results} == {"applied"}
    assert len(statements) == 1


def test_download_is_for_the_uploader_and_the_scope_holding_a_reference(url, photo_b):
    """``GET /api/v1/attachments/{sha}``: B's cadre (uploader), B's clerk and the county admin
    (their scope references it); nobody of township A."""
    expect = {("cadre_b", "tab-b2"): 200, ("clerk_b", "pc-b"): 200, ("admin", "pc-admin"): 200,
              ("cadre_a", "tab-a"): 404, ("clerk_a", "pc-a"): 404, ("cadre_a3", "tab-a3"): 404}
    for (username, device), status in expect.items():
        resp = api_login(url, username, device).get(f"/api/v1/attachments/{photo_b}")
        assert resp.status_code == status, (username, resp.text)
        if status == 200:
            assert resp.content == PHOTO_B


def test_head_answers_only_for_those_who_may_use_it(url, photo_b):
    """``HEAD`` says "stored" only to a user who may cite the attachment, so a hash tells
    nobody else whether it exists; the others upload the bytes and then may cite them."""
    cadre_a = api_login(url, "cadre_a", "tab-a")
    assert cadre_a.head(f"/api/v1/attachments/{photo_b}").status_code == 404
    for username, device in (("cadre_b", "tab-b"), ("clerk_b", "pc-b"), ("admin", "pc-admin")):
        head = api_login(url, username, device).head(f"/api/v1/attachments/{photo_b}")
        assert head.status_code == 200, username


def test_a_second_holder_of_the_same_bytes_may_cite_them(url, photo_b):
    """The same file reached a cadre of township A too (say, forwarded): the tablet's upload
    (HEAD 404, then PUT) proves they hold the bytes, and then their visit may cite it."""
    cadre_a = api_login(url, "cadre_a", "tab-a")
    resp = cadre_a.put(f"/api/v1/attachments/{photo_b}", content=PHOTO_B)
    assert resp.status_code == 200  # already stored: nothing new, but now theirs too
    assert cadre_a.head(f"/api/v1/attachments/{photo_b}").status_code == 200
    hid, create = household(VILLAGE_A1)
    results = push(cadre_a, "tab-a", [create, visit(hid, [photo_b])]).json()["results"]
    assert [r["status"] for r in results] == ["applied", "applied"]
    assert cadre_a.get(f"/api/v1/attachments/{photo_b}").content == PHOTO_B
    # a wrong body proves nothing
    cadre_a3 = api_login(url, "cadre_a3", "tab-a3")
    wrong = cadre_a3.put(f"/api/v1/attachments/{photo_b}", content=PHOTO_A)
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "attachment.hash_mismatch"
    assert cadre_a3.head(f"/api/v1/attachments/{photo_b}").status_code == 404
