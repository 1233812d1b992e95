"""The pure merge rules (no database), with hypothesis properties of their algebra."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sync_protocol.merge import DELETE, UPSERT, FieldWrite, Incoming, Stored, merge, replay


def h(ms: int, device: str = "d1", counter: int = 0) -> str:
    return f"{ms:013d}-{counter:04d}-{device}"


def stored(**values) -> Stored:
    """A record at version 3: ``a`` changed at v1 (device d0), ``b`` at v3 (device d9)."""
    base = {"a": 1, "b": 2, **values}
    return Stored(base, 3, False, {"a": 1, "b": 3}, {"a": h(100, "d0"), "b": h(300, "d9")})


def test_create():
    out = merge(None, Incoming(UPSERT, None, {"a": 1}, h(5)))
    assert out.created and out.status == "applied" and out.version == 1
    assert out.field_versions == {"a": 1} and out.field_hlcs == {"a": h(5)}


def test_unchanged_field_since_base_applies():
    out = merge(stored(), Incoming(UPSERT, 3, {"a": 5}, h(400)))
    assert out.status == "applied" and out.version == 4 and out.values["a"] == 5
    assert out.field_versions["a"] == 4 and out.changed == {"a": (1, 5)}


def test_other_fields_changed_is_merged():
    out = merge(stored(), Incoming(UPSERT, 1, {"a": 5}, h(400)))
    assert out.status == "merged" and out.values == {"a": 5, "b": 2}


def test_same_field_conflict_later_hlc_wins():
    later = merge(stored(), Incoming(UPSERT, 1, {"b": 7}, h(500)))
    assert later.status == "conflict" and later.values["b"] == 7
    [c] = later.conflicts
    assert (c.server_value, c.client_value, c.client_wins) == (2, 7, True)
    earlier = merge(stored(), Incoming(UPSERT, 1, {"b": 7}, h(200)))
    assert earlier.status == "conflict" and earlier.values["b"] == 2
    assert earlier.version == 4  # a conflict is news for every device
    assert earlier.conflicts[0].client_wins is False


def test_same_value_is_agreement_and_counts_as_a_write():
    out = merge(stored(), Incoming(UPSERT, 1, {"b": 2}, h(500)))
    assert out.status == "merged" and not out.conflicts and out.version == 4
    assert out.field_versions["b"] == 4 and out.field_hlcs["b"] == h(500)
    # a device that had not seen that assertion now conflicts with it
    later = merge(out.state(), Incoming(UPSERT, 3, {"b": 5}, h(600, "d2")))
    assert later.status == "conflict" and later.values["b"] == 5
    assert merge(stored(), Incoming(UPSERT, 1, {}, h(500))).version == 3


def test_own_earlier_write_is_known():
    out = merge(stored(), Incoming(UPSERT, 1, {"b": 8}, h(500, "d9")))
    assert out.status == "applied" and out.values["b"] == 8


def test_delete_rules():
    ok = merge(stored(), Incoming(DELETE, 3, {}, h(500)))
    assert ok.status == "applied" and ok.deleted and ok.version == 4
    racing = merge(stored(), Incoming(DELETE, 1, {}, h(500)))
    assert racing.status == "conflict" and not racing.deleted and racing.version == 4
    assert racing.delete_edit and racing.delete_edit.server_fields == {"b": 2}
    tomb = ok.state()
    again = merge(tomb, Incoming(DELETE, 3, {}, h(600)))
    assert again.deleted and again.version == 4 and not again.written
    edit = merge(tomb, Incoming(UPSERT, 3, {"a": 9}, h(600)))
    assert edit.status == "conflict" and not edit.deleted and edit.values["a"] == 9
    assert edit.delete_edit and not edit.delete_edit.client_deleted and edit.version == 5


def test_force_overrides_without_conflict():
    out = merge(stored(), Incoming(UPSERT, None, {"b": 9}, h(1), force=True))
    assert out.status == "applied" and out.values["b"] == 9 and not out.conflicts
    tomb = merge(stored(), Incoming(DELETE, 3, {}, h(500))).state()
    fixed = merge(tomb, Incoming(UPSERT, None, {"b": 9}, h(1), force=True))
    assert fixed.deleted and fixed.values["b"] == 9 and fixed.version == 5


# --- properties ------------------------------------------------------------------------------

FIELDS = ["a", "b", "c", "d"]
values = st.integers(0, 3)
hlcs = st.builds(h, st.integers(1, 1000), st.sampled_from(["d1", "d2", "d3"]),
                 st.integers(0, 3))


@st.composite
def states(draw) -> Stored:
    version = draw(st.integers(1, 6))
    names = draw(st.lists(st.sampled_from(FIELDS), unique=True, min_size=1))
    return Stored(
        {n: draw(values) for n in names}, version, draw(st.booleans()),
        {n: draw(st.integers(1, version)) for n in names}, {n: draw(hlcs) for n in names},
    )


@st.composite
def changes(draw, version: int = 6) -> Incoming:
    op = draw(st.sampled_from([UPSERT, UPSERT, UPSERT, DELETE]))
    fields = draw(st.dictionaries(st.sampled_from(FIELDS), values)) if op == UPSERT else {}
    return Incoming(op, draw(st.integers(1, version)), fields, draw(hlcs))


@given(states(), changes())
def test_version_moves_by_one_exactly_when_written(s, c):
    if c.base_version > s.version:
        c.base_version = s.version
    out = merge(s, c)
    assert out.version == (s.version + 1 if out.written else s.version)
    assert all(v <= out.version for v in out.field_versions.values())


@given(states(), changes())
def test_no_value_is_lost(s, c):
    """Every client value ends in the record or in a conflict; every server value that the client
    did not know ends in the record or in a conflict."""
    c.base_version = min(c.base_version, s.version)
    out = merge(s, c)
    if c.op == UPSERT:
        for name, value in c.fields.items():
            kept = [x.client_value for x in out.conflicts if x.field == name]
            assert out.values[name] == value or value in kept
        assert not out.deleted
    for name, value in s.values.items():
        if out.values.get(name) == value:
            continue
        known = s.field_versions[name] <= c.base_version
        in_conflict = any(x.field == name and x.server_value == value for x in out.conflicts)
        assert known or in_conflict or name in c.fields and out.values[name] == c.fields[name] \
            and s.field_hlcs[name].endswith(c.hlc.split("-", 2)[2])


@given(states(), st.dictionaries(st.sampled_from(FIELDS), values, min_size=1),
       st.dictionaries(st.sampled_from(FIELDS), values, min_size=1), hlcs, hlcs)
def test_concurrent_edits_converge_in_any_order(s, f1, f2, h1, h2):
    """Two devices editing from the same base: the final values do not depend on arrival order,
    and on a shared field the later clock wins."""
    s.deleted = False
    if h1 == h2 or h1.split("-", 2)[2] == h2.split("-", 2)[2]:
        return
    if any(s.values.get(k) == v for f in (f1, f2) for k, v in f.items()):
        return  # a device sends only fields it changed from its base
    s.field_hlcs = {k: h(0, "d0") for k in s.field_hlcs}  # the stored state is older than both
    c1 = Incoming(UPSERT, s.version, f1, h1)
    c2 = Incoming(UPSERT, s.version, f2, h2)
    one = merge(merge(s, c1).state(), c2).values
    two = merge(merge(s, c2).state(), c1).values
    assert one == two
    for name in set(f1) & set(f2):
        assert one[name] == (f1[name] if h1 > h2 else f2[name])


@given(states(), changes())
def test_reapplying_a_change_changes_nothing(s, c):
    c.base_version = min(c.base_version, s.version)
    first = merge(s, c)
    if first.has_conflict:
        return
    second = merge(first.state(), c)
    assert second.values == first.values and second.deleted == first.deleted
    assert not second.conflicts


# --- the stored maps plus the change log's writes are the maps (sync_protocol.merge.replay) ---


def _writes(out, hlc: str) -> list[FieldWrite]:
    """The change-log entry's fields of one merge outcome, as the server reads them back
    (``sql.select_field_writes``: agreed = old value equals new value)."""
    return [FieldWrite(out.version, hlc, name, old == new)
            for name, (old, new) in out.changed.items()]


@given(st.dictionaries(st.sampled_from(FIELDS), values, min_size=1), hlcs,
       st.lists(st.tuples(changes(version=12), st.booleans()), max_size=12), st.data())
def test_replaying_the_log_over_any_stored_maps_gives_the_merge_s_maps(first, hlc0, later,
                                                                       data):
    """Whatever point the stored maps are from (a record's creation, or migration 0016 on a
    record edited since), replaying every logged write over them gives the maps ``merge``
    itself keeps: a merge that reads the replayed maps decides exactly as before."""
    out = merge(None, Incoming(UPSERT, None, first, hlc0))
    snapshots = [(dict(out.field_versions), dict(out.field_hlcs))]
    writes = _writes(out, hlc0)
    current = out.state()
    for change, force in later:
        change.force = force
        out = merge(current, change)
        writes += _writes(out, change.hlc)
        current = out.state()
        snapshots.append((dict(current.field_versions), dict(current.field_hlcs)))
    versions, clocks = data.draw(st.sampled_from(snapshots))
    shuffled = data.draw(st.permutations(writes))
    assert replay(versions, clocks, shuffled) == (current.field_versions, current.field_hlcs)


def test_replay_keeps_the_later_clock_of_an_agreement_and_skips_what_the_maps_hold():
    maps = ({"a": 2, "b": 1}, {"a": h(200, "d2"), "b": h(100)})
    writes = [FieldWrite(2, h(150), "a", False),  # already in the maps (version 2)
              FieldWrite(3, h(120, "d3"), "a", True),  # an agreement with an earlier clock
              FieldWrite(4, h(90, "d1"), "b", False)]  # a known write: its own clock
    assert replay(*maps, writes) == ({"a": 3, "b": 4}, {"a": h(200, "d2"), "b": h(90, "d1")})
