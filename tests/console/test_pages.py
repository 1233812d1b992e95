"""Every console page renders for a clerk, and shows only the clerk's township."""

from __future__ import annotations

from tests.console.conftest import console_login


def test_inbox_groups_and_filters(client, world):
    console_login(client, "clerk_a")
    page = client.get("/console/conflicts")
    assert page.status_code == 200
    assert "黄庄村" in page.text and "赵大山" in page.text
    assert "孙乙峰" not in page.text and "王岗村" not in page.text
    filtered = client.get("/console/conflicts", params={"kind": "duplicate_record"})
    assert "赵大山" not in filtered.text and "没有待处理的冲突" in filtered.text


def test_conflict_detail_shows_both_sides(client, world):
    console_login(client, "clerk_a")
    page = client.get(f"/console/conflicts/{world['conflict_a1'].id}")
    assert page.status_code == 200, page.text
    for text in ("联系电话", "13900000001", "13700000002", "13800000000", "tab-2", "王村干"):
        assert text in page.text
    other = client.get(f"/console/conflicts/{world['conflict_b1'].id}")
    assert other.status_code == 404 and "不在您的管辖范围内" in other.text


def test_household_pages(client, world):
    console_login(client, "clerk_a")
    listing = client.get("/console/households")
    assert "赵大山" in listing.text and "钱二河" in listing.text and "孙乙峰" not in listing.text
    page = client.get(f"/console/households/{world['a1'].id}")
    assert page.status_code == 200, page.text
    for text in ("五清核查", "“一户一档”底子清", "家中一切正常", "32.97000", "修改记录"):
        assert text in page.text
    assert client.get(f"/console/households/{world['b1'].id}").status_code == 404


def test_quality_dashboard(client, world):
    console_login(client, "clerk_a")
    page = client.get("/console/quality")
    assert page.status_code == 200, page.text
    assert "五清已核查率" in page.text and "<svg" in page.text
    assert "五清已完成" not in page.text and "全部为清" in page.text
    assert "黄庄村" in page.text and "李湾村" in page.text and "王岗村" not in page.text
    assert "从未走访" in page.text  # 钱二河 in 李湾村 has no visit


def test_delete_edit_conflict_reads_well(client, world, db):
    import uuid

    from sqlmodel import Session

    from server.db.tables import Conflict

    a1 = world["a1"]
    cid = uuid.uuid4()
    with Session(db) as s:
        c = Conflict(id=cid, kind="delete_edit", entity="household", record_id=a1.id,
                     household_id=a1.id, village_code=a1.village_code,
                     server_value={"phone": "13911110000"}, client_value={"deleted": True},
                     server_user_id=world["cadre"].id, client_user_id=world["cadre"].id)
        s.add(c)
        s.commit()
    console_login(client, "clerk_a")
    page = client.get(f"/console/conflicts/{cid}")
    assert page.status_code == 200, page.text
    assert "删除这条记录" in page.text and "联系电话为“13911110000”" in page.text


def test_reused_visit_photo_and_visit_distance(client, world, db):
    import hashlib
    import uuid

    from sqlmodel import Session

    from server.console.households import distance_m
    from server.db.tables import Household, Visit

    sha = hashlib.sha256(b"same photo").hexdigest()
    with Session(db) as s:
        for hh in (world["a1"], world["a2"]):
            s.add(Visit(id=uuid.uuid4(), household_id=hh.id, village_code=hh.village_code,
                        visited_at=hh.created_at, attachment_ids=[sha], lat=33.0, lng=114.0))
        a1 = s.get(Household, world["a1"].id)
        a1.lat, a1.lng = 32.97, 114.02
        s.commit()
    console_login(client, "clerk_a")
    page = client.get("/console/quality")
    assert "重复使用的走访照片（1）" in page.text and sha in page.text
    house = client.get(f"/console/households/{world['a1'].id}")
    assert "距农户 3.8 公里" in house.text
    assert round(distance_m(32.97, 114.02, 32.97, 114.02) or 0) == 0


def test_quality_dashboard_lists_rejected_uploads_by_device(client, world, login):
    """A device's rejected changes show up with their reason; accepted ones do not."""
    import uuid

    from tests.sync.syncutil import change, new_household, push

    headers = login("cadre_a", "tab-wang")
    household, good = new_household()
    bad = change("member", uuid.uuid4(), {"household_id": household, "name": "王五",
                                          "id_number": "123"})
    results = push(client, headers, [good, bad], "tab-wang")
    assert [r["status"] for r in results] == ["applied", "rejected"]
    console_login(client, "clerk_a")
    page = client.get("/console/quality")
    assert "被拒绝的上传（按设备）" in page.text
    assert "tab-wang" in page.text and "王村干" in page.text
    assert results[1]["error"]["message"] in page.text
    console_login(client, "clerk_b")  # another township's clerk does not see this device
    assert "tab-wang" not in client.get("/console/quality").text
