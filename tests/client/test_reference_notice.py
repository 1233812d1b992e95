"""The tablet tells a cadre when a sync brought another 五清 template or county policy
(``Store.reference_notice``): not on the first download, once, kept in the store's meta table
until seen (across a restart of the app), covering every change since the cadre last saw one."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from kivy_client.store import Store
from kivy_client.store_reference import REFERENCE_KNOWN
from sync_protocol.templates import WUQING_V1

from .util import VILLAGE

OWN = {"code": "411702.wuqing.v2", "name": "五清（本县家底清版）",
       "items": [{"code": "jiadi", "title": "家底清", "hint": "base_file"}]}
SWITCHED = "五清模板已更新为「五清（本县家底清版）」"


def _reference(template: str = "wuqing.v1", line: float = 7900, staff: int = 1) -> dict[str, Any]:
    return {"tag": f"{template}-{line}-{staff}",
            "checklist_templates": [WUQING_V1.to_dict(), OWN],
            "county_policies": [{"county_code": "411702", "checklist_template": template,
                                 "monitoring_lines": {"2026": line}}],
            "staff": [{"id": f"u{i}", "name": f"干部{i}"} for i in range(staff)]}


def _sync(store: Store, reference: dict[str, Any]) -> None:
    store.apply_pull_page({"changes": [], "next_cursor": str(uuid.uuid4()), "has_more": False,
                           "reference": reference})


@pytest.fixture
def path(tmp_path):
    return tmp_path / "tablet.db"


@pytest.fixture
def store(path):
    s = Store(path, device_id="tab-notice")
    s.set_current_user(str(uuid.uuid4()), "王村干", [VILLAGE])
    yield s
    s.close()


def test_first_download_and_unchanged_data_say_nothing(store):
    _sync(store, _reference())
    assert store.reference_notice() == []
    _sync(store, _reference(staff=3))  # new staff names: no news for the cadre
    assert store.reference_notice() == []
    assert store.get_meta(REFERENCE_KNOWN) is None


def test_told_until_seen_also_after_a_restart(store, path):
    _sync(store, _reference())
    _sync(store, _reference(template=OWN["code"], line=9100))
    lines = [SWITCHED, "县级政策已更新：2026年监测收入标准由 7,900 元调整为 9,100 元"]
    assert store.reference_notice() == lines
    assert store.reference_notice() == lines  # asking does not use it up
    store.close()
    with Store(path, device_id="tab-notice") as again:  # the app restarted, not yet seen
        assert again.reference_notice() == lines
        again.reference_notice_seen(lines)
        assert again.reference_notice() == []
    with Store(path, device_id="tab-notice") as later:
        assert later.reference_notice() == []
        _sync(later, _reference(template=OWN["code"], line=9100))  # the same again: no news
        assert later.reference_notice() == []


def test_changes_pile_up_until_seen_and_an_undone_one_is_no_news(store):
    _sync(store, _reference())
    _sync(store, _reference(template=OWN["code"]))
    _sync(store, _reference(template=OWN["code"], line=9100))
    lines = store.reference_notice()
    assert lines == [SWITCHED, "县级政策已更新：2026年监测收入标准由 7,900 元调整为 9,100 元"]
    # a sync while the notice was open brought the template back: seeing the old lines does
    # not use up the new state, which is then what is told
    _sync(store, _reference(line=9100))
    store.reference_notice_seen(lines)
    assert store.reference_notice() == [
        "县级政策已更新：2026年监测收入标准由 7,900 元调整为 9,100 元"]
    _sync(store, _reference())  # and the line back too: nothing left to tell
    assert store.reference_notice() == []
    assert store.get_meta(REFERENCE_KNOWN) is None


def test_a_page_that_fails_keeps_no_notice(store):
    _sync(store, _reference())
    with pytest.raises(RuntimeError), store.transaction():
        _sync(store, _reference(template=OWN["code"]))
        raise RuntimeError("the connection broke before the page was stored")
    assert store.reference()["county_policies"][0]["checklist_template"] == "wuqing.v1"
    assert store.reference_notice() == []


def test_the_wipe_at_logout_drops_an_unseen_notice(store):
    _sync(store, _reference())
    _sync(store, _reference(template=OWN["code"]))
    assert store.reference_notice() == [SWITCHED]
    store.wipe()
    assert store.get_meta(REFERENCE_KNOWN) is None
    _sync(store, _reference(template=OWN["code"]))  # the next user's first download
    assert store.reference_notice() == []
