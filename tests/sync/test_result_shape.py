"""Every result a push answers has the shape of ``sync_protocol.wire.ChangeResult``: no key the
wire model lacks, every value of the model's type (the tablet parses them with it)."""

from __future__ import annotations

from sync_protocol.wire import ChangeResult, PushResponse
from tests.conftest import VILLAGE_A1
from tests.sync.syncutil import change, id_number, new_household, push


def _check(results: list[dict]) -> set[str]:
    PushResponse.model_validate({"results": results, "server_time": "2026-01-01T00:00:00.000Z"})
    for r in results:
        assert set(r) <= set(ChangeResult.model_fields), r
        parsed = ChangeResult.model_validate(r)
        assert (parsed.change_id, parsed.status, parsed.record_id, parsed.version) == (
            r["change_id"], r["status"], r["record_id"], r["version"])
    return {r["status"] for r in results}


def test_every_status_has_the_wire_shape(client, make_user, login):
    make_user("cadre", "village_cadre", [VILLAGE_A1])
    h = login("cadre")
    same_id = id_number()
    rid, create = new_household(head_id_number=same_id)
    _, twin = new_household(head_id_number=same_id)
    bad = change("no_such_entity", rid, {})
    edit = change("household", rid, {"phone": "13800000000"}, base=1)
    first = push(client, h, [create, create, twin, bad])
    assert _check(first) == {"applied", "duplicate", "conflict", "rejected"}
    assert first[2]["conflict_id"] and first[3]["error"]["code"] == "sync.entity_unknown"
    replay = push(client, h, [create, twin, edit])
    assert _check(replay) == {"duplicate", "applied"}
    assert replay[1]["original_status"] == "conflict"
