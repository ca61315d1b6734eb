"""Reading a chunk: one TTree.arrays call on the tree coffea's Runner opened, the same
columns as the NanoEvents reading, and the schema still enforced."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import uproot
from coffea import processor
from coffea.nanoevents import BaseSchema, NanoEventsFactory

from processors import reading
from processors.quantities import SEARCH_BRANCHES
from tests.eventfiles import calibration_electrons, electron, write_events

NAMES = (*SEARCH_BRANCHES, "mc_process")


class _Columns(processor.ProcessorABC):
    """Returns the columns of each chunk, by entry range."""

    def process(self, events):
        meta = events.metadata
        return {(meta["entrystart"], meta["entrystop"]): reading.read_chunk(events, NAMES)}

    def postprocess(self, accumulator):
        return accumulator


def _run(path: Path) -> dict:
    runner = processor.Runner(executor=processor.IterativeExecutor(), schema=BaseSchema, chunksize=40)
    return runner({"p": [str(path)]}, _Columns(), treename="events")


def test_runner_chunks_read_with_one_arrays_call(tmp_path, monkeypatch):
    path = write_events(tmp_path / "a.root", [electron(60.0 + i) for i in range(50)]
                        + calibration_electrons(50), step=25)
    calls = []
    arrays = uproot.TTree.arrays

    def counted(self, *a, **k):
        calls.append(k.get("array_cache", "inherit"))
        return arrays(self, *a, **k)

    def per_branch(*_):
        raise AssertionError("read branch by branch")

    monkeypatch.setattr(uproot.TTree, "arrays", counted)
    monkeypatch.setattr(reading, "read_column", per_branch)
    out = _run(path)
    ranges = sorted(out)
    assert len(ranges) > 1 and ranges[0][0] == 0 and ranges[-1][1] == 100
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
    assert calls == [None] * len(ranges)  # one call per chunk, no array cache
    monkeypatch.undo()

    for (start, stop), columns in out.items():
        events = NanoEventsFactory.from_root({str(path): "events"}, entry_start=start, entry_stop=stop,
                                             schemaclass=BaseSchema, mode="eager").events()
        for name in NAMES:
            expected = reading.read_column(events, name)
            assert columns[name].dtype == expected.dtype and columns[name].shape == expected.shape
            np.testing.assert_array_equal(columns[name], expected)


def test_runner_chunk_of_wrong_type_is_a_schema_error(tmp_path):
    good = write_events(tmp_path / "good.root", [electron(60.0) for _ in range(10)])
    with uproot.open(good) as f:
        columns = f["events"].arrays(library="np")
    columns["straw_tracks"] = columns["straw_tracks"].astype(np.float32)  # int16 in the schema
    path = tmp_path / "bad.root"
    with uproot.recreate(path) as f:
        f["events"] = columns
    runner = processor.Runner(executor=processor.IterativeExecutor(), schema=BaseSchema, chunksize=40)
    with pytest.raises(Exception, match="straw_tracks.*expected int16"):
        runner({"p": [str(path)]}, _Columns(), treename="events")
