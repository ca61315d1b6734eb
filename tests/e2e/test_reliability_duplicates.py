"""Finding duplicated (run, spill, event) keys cheaply: only files whose event ranges
overlap within a run are compared key by key; copies are recognised by their hash."""

from __future__ import annotations

import shutil

import numpy as np

from tests.eventfiles import electron, write_events
from workflows.processing.input_checks import (
    _key_order,
    _overlapping_groups,
    check_file,
    find_duplicates,
    kept_ranges,
)


def test_kept_ranges_leave_out_exactly_the_skipped_entries():
    skip = np.array([0, 3, 4, 9, 15])
    assert kept_ranges(0, 10, skip) == [(1, 3), (5, 9)]
    assert kept_ranges(10, 20, skip) == [(10, 15), (16, 20)]
    assert kept_ranges(5, 9, skip) == [(5, 9)]
    assert kept_ranges(3, 5, skip) == []


def test_only_overlapping_files_are_compared_and_copies_are_hashed(tmp_path):
    ev = [electron(70.0)] * 100
    a = write_events(tmp_path / "a.root", ev, run=1, first_event=0)
    b = write_events(tmp_path / "b.root", ev, run=1, first_event=100)  # adjacent, no overlap
    c = write_events(tmp_path / "c.root", ev, run=2, first_event=0)  # same events, other run
    checks = [check_file(str(p)) for p in (a, b, c)]
    assert [c.runs for c in checks] == [[(1, 0, 99)], [(1, 100, 199)], [(2, 0, 99)]]
    assert _overlapping_groups(checks) == []
    assert find_duplicates(checks).skip == {}

    d = write_events(tmp_path / "d.root", ev[:20], run=1, first_event=90)  # 90-109: a and b
    e = tmp_path / "e.root"
    shutil.copy(c, e)
    checks = [check_file(str(p)) for p in (a, b, c, d, e)]
    assert sorted(map(sorted, _overlapping_groups(checks))) == [[0, 1, 3], [2, 4]]
    dups = find_duplicates(checks)
    assert dups.whole_files == {str(e): str(c)}
    assert sorted(dups.skip) == [str(d), str(e)]
    assert dups.skip[str(d)].tolist() == list(range(20))
    assert dups.of[str(d)] == [str(a), str(b)]
    assert dups.events == 20 + 100


def test_keys_in_order_are_not_sorted_again_and_others_are_sorted_stably():
    def keys(rows):
        out = np.empty(len(rows), dtype=[("run", "<i8"), ("spill", "<i8"), ("event", "<i8")])
        out[:] = rows
        return out

    in_order = keys([(1, 1, 5), (1, 1, 5), (1, 2, 0), (2, 0, 1)])  # a repeat is still in order
    assert _key_order(in_order) is None
    shuffled = keys([(2, 0, 1), (1, 2, 0), (1, 1, 5), (1, 1, 5), (1, 1, 4)])
    order = _key_order(shuffled)
    assert order.tolist() == [4, 2, 3, 1, 0]
    assert np.array_equal(shuffled[order], np.sort(shuffled, order=["run", "spill", "event"]))
