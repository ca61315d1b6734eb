"""Bad input files through ``na64 process``: each is named in ``failed`` with its reason,
the rest of the period is counted in full, NaN energies are cut and counted, empty files
are noted, duplicated events are counted once.

Two periods are processed in one command on a real two-worker LocalCluster:

* ``clean``: two simulated shards, a hand-built file with non-finite energies, and a
  hand-built file ``C`` of clean electrons;
* ``dirty``: the same events, plus one file of every kind of bad input, a copy of a
  shard, a file overlapping two shards, a file overlapping the NaN file (sorted first,
  so that file's chunk is split around the duplicates) with an event repeated inside
  it, and ``C`` with one damaged basket (the only events allowed to be lost, and
  reported with their entry range).

The shower reference uses every chunk (``reference_events`` above the sample), and the
hand-built files hold no calibration triggers, so both periods get the same reference
and every count can be compared exactly.
"""

from __future__ import annotations

import json
import os
import shutil

import awkward as ak
import numpy as np
import pytest
import uproot
from typer.testing import CliRunner

from processors.cuts import cut_names
from tests.eventfiles import electron, shower, write_events
from tests.faults import simulate, write_catalog
from workflows.cli import app
from workflows.processing.results import read_period

pytestmark = pytest.mark.distributed

EXTRA = "hcal_modules: [0, 1, 2]\nreference_events: 10000000\n"

nan_ecal = shower(70.0)
nan_ecal[1, 2, 2] = np.nan
hcal_nan_unused = np.zeros((4, 3, 3), np.float32)
hcal_nan_unused[3, 1, 1] = np.nan  # module 3 is not summed in this period's E_HCAL
hcal_inf = np.zeros((4, 3, 3), np.float32)
hcal_inf[0, 0, 0] = np.inf

#: Physics events with a non-finite energy: each would otherwise land in sideband C.
NONFINITE = [
    electron(70.0, hcal=hcal_nan_unused),
    electron(70.0, srd=[10.0, np.nan, 9.0]),
    electron(70.0, veto=[0.01, np.nan, 0.0]),
    electron(70.0, ecal=nan_ecal),
    electron(70.0, hcal=hcal_inf),
    electron(70.0, ecal_time=np.nan),
]
#: No track (NaN momentum) is not a non-finite energy: the momentum cut removes it.
NO_TRACK = electron(70.0, beam_momentum=np.nan)

#: Kinds of bad input tried (file name -> words its reason must contain).
BAD_FILES = {
    "notroot.root": "not a ROOT file",
    "truncated.root": "truncated",
    "notree.root": "no 'events' tree",
    "missing_branch.root": "branch 'veto' is missing",
    "wrong_type.root": "branch 'ecal' is float64[2][6][6], expected float32[2][6][6]",
    "wrong_shape.root": "branch 'srd' is float32[4], expected float32[3]",
    "jagged.root": "branch 'veto' is AsJagged",
    "rntuple.root": "'events' is a RNTuple, not a TTree",
}


def columns_of(path) -> dict[str, np.ndarray]:
    return uproot.open(path)["events"].arrays(library="np")


def write_columns(path, columns: dict, tree: str = "events") -> None:
    """A TTree of ``columns`` (numpy: fixed-size branches; awkward: variable length)."""
    types = {k: v.type if isinstance(v, ak.Array) else (v.dtype, v.shape[1:]) if v.ndim > 1
             else v.dtype for k, v in columns.items()}
    with uproot.recreate(path) as f:
        f.mktree(tree, types)
        f[tree].extend(columns)


def damage_basket(path, branch: str, basket: int) -> None:
    """Overwrite the middle of one compressed basket (the file keeps its size)."""
    b = uproot.open(path)["events"][branch]
    seek, size = int(b.member("fBasketSeek")[basket]), int(b.member("fBasketBytes")[basket])
    with open(path, "r+b") as f:
        f.seek(seek + size // 2)
        f.write(np.random.default_rng(1).integers(0, 256, 64, dtype=np.uint8).tobytes())


@pytest.fixture(scope="module")
def periods(tmp_path_factory):
    root = tmp_path_factory.mktemp("reliability")
    catalog = root / "catalog"
    write_catalog(catalog, "clean", ["../sim/*.root"], EXTRA)
    g1, g2 = simulate(catalog, "clean", 200_000, root / "sim", seed=5)

    hand = root / "hand"
    nan_events = [electron(70.0) for _ in range(20)] + NONFINITE + [NO_TRACK]
    nan_file = write_events(hand / "nan.root", nan_events, run=7, step=10)
    write_events(hand / "intact" / "c.root", [electron(70.0) for _ in range(200)], run=8, step=50)
    (hand / "corrupt").mkdir()
    shutil.copy(hand / "intact" / "c.root", hand / "corrupt" / "c.root")
    damage_basket(hand / "corrupt" / "c.root", "ecal", 2)
    # Sorted before nan.root: its copies win, nan.root's entries 5-14 become duplicates;
    # its last entry repeats its first one (a duplicate inside one file).
    nan_cols = columns_of(nan_file)
    rows = [*range(5, 15), 5]
    write_columns(hand / "a_overlap.root", {k: v[rows] for k, v in nan_cols.items()})

    bad = root / "bad"
    bad.mkdir()
    (bad / "notroot.root").write_text("run,spill,event\n1,1,1\n")
    data = g1.read_bytes()
    (bad / "truncated.root").write_bytes(data[: len(data) * 6 // 10])
    small = columns_of(write_events(root / "tmp" / "small.root", [electron(70.0)] * 20, run=9))
    write_columns(bad / "notree.root", small, tree="ntuple")
    write_columns(bad / "missing_branch.root", {k: v for k, v in small.items() if k != "veto"})
    write_columns(bad / "wrong_type.root", {**small, "ecal": small["ecal"].astype(np.float64)})
    write_columns(bad / "wrong_shape.root", {**small, "srd": np.ones((20, 4), np.float32)})
    write_columns(bad / "jagged.root", {**small, "veto": ak.Array([[0.0, 0.0]] * 20)})
    with uproot.recreate(bad / "rntuple.root") as f:  # uproot's default for f[name] = arrays
        f["events"] = small
    write_events(bad / "empty.root", [], run=10)

    dups = root / "zdups"  # sorted after the shards: these are the later copies
    dups.mkdir()
    shutil.copy(g2, dups / "copy.root")
    c1, c2 = columns_of(g1), columns_of(g2)
    write_columns(dups / "overlap.root",
                  {k: np.concatenate([c1[k][95_000:], c2[k][:5_000]]) for k in c1})

    write_catalog(catalog, "clean", ["../sim/*.root", "../hand/nan.root", "../hand/intact/c.root"],
                  EXTRA)
    write_catalog(catalog, "dirty", ["../sim/*.root", "../hand/a_overlap.root", "../hand/nan.root",
                                     "../hand/corrupt/c.root", "../bad/*.root", "../zdups/*.root"],
                  EXTRA)
    out = root / "out"
    result = CliRunner().invoke(app, ["process", "--catalog", str(catalog), "--output", str(out),
                                      "--workers", "2", "--chunksize", "10000"])
    # The dirty period is incomplete: exit code 1, after both periods were processed.
    assert result.exit_code == 1, result.output
    return {"root": root, "out": out, "log": result.output, "shards": (g1.resolve(), g2.resolve()),
            "clean": read_period(out / "clean"), "dirty": read_period(out / "dirty")}


def strict_json(path):
    def refuse(name):
        raise AssertionError(f"{path} holds {name}")
    return json.loads(path.read_text(), parse_constant=refuse)


def test_every_bad_file_is_named_with_its_reason(periods):
    dirty = periods["dirty"].summary
    assert dirty.complete is False and periods["clean"].summary.complete is True
    by_name = {os.path.basename(f.file): f for f in dirty.failed if f.entries is None}
    assert sorted(by_name) == sorted(BAD_FILES)
    for name, words in BAD_FILES.items():
        assert words in by_name[name].reason, (name, by_name[name].reason)
    log = " ".join(periods["log"].split())
    for name in BAD_FILES:
        assert f"/{name}: {by_name[name].reason.split()[0]}" in log, name
    # An empty file is not a failure.
    assert [os.path.basename(f) for f in dirty.empty_files] == ["empty.root"]
    assert dirty.files.total == 2 + 3 + len(BAD_FILES) + 1 + 2  # shards, hand, bad, empty, dups


def test_a_damaged_basket_costs_only_its_chunk_and_everything_else_is_counted(periods):
    clean, dirty = periods["clean"].summary, periods["dirty"].summary
    chunk_failures = [f for f in dirty.failed if f.entries is not None]
    assert [os.path.basename(f.file) for f in chunk_failures] == ["c.root"]
    assert all("DecompressionError" in f.reason for f in chunk_failures)
    lost = sum(f.entries[1] - f.entries[0] for f in chunk_failures)
    assert 0 < lost <= 200
    assert dirty.chunks.failed == len(chunk_failures)
    # Everything else is counted: the same events as the clean period, minus the lost chunk
    # (clean electrons, identical to each other: they pass the same cuts).
    assert dirty.events.read == clean.events.read - lost
    assert dirty.events.calibration_trigger == clean.events.calibration_trigger
    diff = [c.events - d.events for c, d in zip(clean.cutflow, dirty.cutflow, strict=True)]
    assert diff[0] == lost and set(diff) <= {lost, 0} and diff == sorted(diff, reverse=True)
    assert [c.cut for c in dirty.cutflow] == cut_names()


def test_nonfinite_energies_are_cut_first_and_counted(periods):
    for name in ("clean", "dirty"):
        s = periods[name].summary
        assert s.events.nonfinite_energies == len(NONFINITE)
        flow = {c.cut: c.events for c in s.cutflow}
        assert flow["physics_trigger"] - flow["finite_energies"] == len(NONFINITE)
        for h in periods[name].hists.values():
            assert np.isfinite(h.values(flow=True)).all()
            assert np.isfinite(h.variances(flow=True)).all()
        strict_json(periods["out"] / name / "summary.json")


def test_duplicated_events_are_counted_once_and_reported(periods):
    clean, dirty = periods["clean"], periods["dirty"]
    report = dirty.summary.duplicates
    files = {os.path.basename(f.file): f for f in report.files}
    assert sorted(files) == ["a_overlap.root", "copy.root", "nan.root", "overlap.root"]
    assert files["copy.root"].whole_file and files["copy.root"].entries_skipped == 100_000
    assert files["copy.root"].copies_kept_in == [str(periods["shards"][1])]
    assert files["overlap.root"].whole_file and files["overlap.root"].entries_skipped == 10_000
    assert len(files["overlap.root"].copies_kept_in) == 2
    assert files["nan.root"].entries_skipped == 10 and not files["nan.root"].whole_file
    assert [os.path.basename(p) for p in files["nan.root"].copies_kept_in] == ["a_overlap.root"]
    assert files["a_overlap.root"].entries_skipped == 1
    assert files["a_overlap.root"].copies_kept_in == []
    assert report.events == 100_000 + 10_000 + 10 + 1
    assert clean.summary.to_json()["duplicates"] == {"events": 0, "files": []}
    # Counted once: every count and histogram of the events that are not lost is the clean one.
    chunk_failures = [f for f in dirty.summary.failed if f.entries is not None]
    lost = sum(f.entries[1] - f.entries[0] for f in chunk_failures)
    assert dirty.summary.events.read + lost == clean.summary.events.read
    # The histograms differ by the lost events only: identical electrons, so every bin
    # differs by 0 or by all of them.
    for name, h in clean.hists.items():
        difference = h.values(flow=True) - dirty.hists[name].values(flow=True)
        assert set(np.unique(difference)) <= {0.0, float(lost)}, name
    assert not (clean.hists["hcal_sideband_a"].values(flow=True)
                - dirty.hists["hcal_sideband_a"].values(flow=True)).any()
    assert dirty.summary.regions.A == clean.summary.regions.A
    assert "counted once" in periods["log"]
