"""The pure duplicate-household rule (``sync_protocol.duplicates``); the push path's use of it is
tested end to end in test_push.py and tests/security/test_duplicate_leak.py."""

from sync_protocol.duplicates import (
    DUPLICATE_KEYS,
    county_of,
    find_duplicate,
    keys_to_check,
    lookup_values,
)

MINE = {"head_id_number": "110101199001011237", "household_number": "H-1"}


def _other(**kw: object) -> dict[str, object]:
    return {"id": "b", "village_code": "110101001001", "head_id_number": None,
            "household_number": None, **kw}


def test_keys_to_check() -> None:
    assert keys_to_check(True, []) == DUPLICATE_KEYS
    assert keys_to_check(False, ["head_name", "household_number"]) == {"household_number"}
    assert keys_to_check(False, ["head_name"]) == frozenset()


def test_lookup_values_skip_empty() -> None:
    wanted = lookup_values([MINE, {"head_id_number": "", "household_number": None}, {}])
    assert wanted == {"head_id_number": {MINE["head_id_number"]}, "household_number": {"H-1"}}


def test_match_same_county_on_either_key() -> None:
    other = _other(village_code="110101002003", household_number="H-1")
    match = find_duplicate("a", "110101001001", MINE, DUPLICATE_KEYS, [other])
    assert match is not None and match.field == "household_number"
    assert match.candidate is other
    assert county_of("110101002003") == "110101"


def test_no_match_other_county_self_deleted_or_empty() -> None:
    same = _other(head_id_number=MINE["head_id_number"])
    assert find_duplicate("a", "120101001001", MINE, DUPLICATE_KEYS, [same]) is None
    assert find_duplicate("b", "110101001001", MINE, DUPLICATE_KEYS, [same]) is None
    assert find_duplicate("a", "110101001001", MINE, DUPLICATE_KEYS,
                          [{**same, "deleted": True}]) is None
    # only the keys asked for count, and an empty value of mine never matches
    assert find_duplicate("a", "110101001001", MINE, {"household_number"}, [same]) is None
    empty = {"head_id_number": None, "household_number": ""}
    assert find_duplicate("a", "110101001001", empty, DUPLICATE_KEYS,
                          [_other(household_number="")]) is None


def test_first_candidate_wins_and_field_order() -> None:
    both = _other(id="c", **MINE)
    match = find_duplicate("a", "110101001001", MINE, DUPLICATE_KEYS,
                           [_other(household_number="H-2"), both])
    assert match is not None and match.candidate["id"] == "c"
    assert match.field == "head_id_number"  # keys in name order
