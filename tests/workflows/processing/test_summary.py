"""The typed period summary: today's keys on disk, old files read, newer ones refused."""

from __future__ import annotations

import copy
import json

import pytest

from processors.cuts import Thresholds
from processors.errors import InputError
from workflows.processing.summary import (
    SCHEMA_VERSION,
    ChunkCounts,
    CutCount,
    Failure,
    PeriodSummary,
    Regions,
)

#: A summary.json as ``na64 process`` wrote it before versioning (schema_version 0),
#: with a failed file, a failed chunk, a duplicate report and one variation added.
VERSION_0 = {
    "period": "out", "blinded": True, "complete": False, "beam_energy": 100.0, "eot": 6.3e11,
    "cutflow": [{"cut": "physics_trigger", "events": 84095}, {"cut": "veto", "events": 7606}],
    "regions": {"A": 50, "C": 5941, "box": None},
    "cutflow_by_process": {"0 electron shower": [10391, 2520]},
    "variations": {"ecal_up": {"cutflow": [{"cut": "physics_trigger", "events": 84095}],
                               "regions": {"A": 48, "C": 6001, "box": None}}},
    "failed": [{"file": "/data/bad.root", "reason": "not a ROOT file"},
               {"file": "/data/c.root", "entries": [0, 100], "reason": "DecompressionError"}],
    "empty_files": ["/data/empty.root"],
    "duplicates": {"events": 10, "files": [
        {"file": "/data/dup.root", "entries_skipped": 10, "entries": 100, "whole_file": False,
         "copies_kept_in": ["/data/a.root"]}]},
    "files": {"total": 4, "processed": 2, "entries": {"/data/a.root": 100000, "/data/c.root": 100}},
    "events": {"read": 100000, "physics_trigger": 90000, "calibration_trigger": 10000,
               "nonfinite_energies": 0},
    "chunks": {"total": 2, "failed": 1, "resumed": 0},
    "thresholds": Thresholds().model_dump(mode="json"),
    "calibration": {"ecal_scale": 1.0, "hcal_scale": 1.0},
    "shower_reference": {"n_events": 10000, "file": "shower_reference.json"},
    "blinding": "blinded: ...",
    "seconds": 1.048,
}


def test_a_version_0_file_is_read_into_typed_parts():
    s = PeriodSummary.from_json(VERSION_0)
    assert s.schema_version == SCHEMA_VERSION and s.status == "processed" and s.reason is None
    assert s.cutflow[1] == CutCount(cut="veto", events=7606)
    assert s.regions == Regions(A=50, C=5941, box=None)
    assert s.variations["ecal_up"].regions.C == 6001
    assert s.failed[0] == Failure(file="/data/bad.root", reason="not a ROOT file")
    assert s.failed[1].entries == (0, 100)
    assert s.failed_files == {"/data/bad.root", "/data/c.root"}
    assert s.duplicates.files[0].copies_kept_in == ["/data/a.root"]
    assert s.chunks == ChunkCounts(total=2, failed=1, resumed=0)
    assert s.thresholds == Thresholds()
    assert s.shower_reference.n_events == 10000
    assert s.outputs == {}


def test_the_json_keeps_the_keys_and_values_of_version_0():
    out = PeriodSummary.from_json(VERSION_0).to_json()
    # Version 2 adds what each variation changed (unknown in older files: null, defaults).
    added = {"thresholds": None, "ecal_factor": 1.0, "hcal_factor": 1.0, "correlated": True}
    variations = {k: {**v, **added} for k, v in VERSION_0["variations"].items()}
    # Version 3 adds the beam particle (older files: e-).
    assert out == {**VERSION_0, "variations": variations, "schema_version": SCHEMA_VERSION,
                   "status": "processed", "reason": None, "outputs": {}, "beam_particle": "e-"}
    assert "entries" not in out["failed"][0]  # a file failure has no entry range
    assert json.loads(json.dumps(out)) == out
    assert PeriodSummary.from_json(out) == PeriodSummary.from_json(VERSION_0)


def test_sections_a_period_does_not_have_are_left_out_of_the_json():
    doc = copy.deepcopy(VERSION_0)
    for key in ("cutflow_by_process", "variations", "shower_reference", "blinding"):
        del doc[key]
    out = PeriodSummary.from_json(doc).to_json()
    assert set(out) == set(doc) | {"schema_version", "status", "reason", "outputs", "beam_particle"}
    assert out["regions"]["box"] is None  # a blinded box stays, as null


def test_a_failed_period_carries_status_and_reason():
    s = PeriodSummary.from_json({**VERSION_0, "status": "failed", "reason": "no readable file"})
    assert (s.status, s.reason) == ("failed", "no readable file")
    assert s.to_json()["reason"] == "no readable file"


def test_a_newer_version_is_refused_naming_the_file():
    with pytest.raises(InputError, match=r"results/p/summary.json: written by a newer "
                                         r"na64-invisible \(summary schema_version 99"):
        PeriodSummary.from_json({**VERSION_0, "schema_version": 99}, "results/p/summary.json")


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.pop("regions"), "regions: Field required"),
    (lambda d: d["events"].update(read=-1), "events.read: Input should be greater than or equal to 0"),
    (lambda d: d.update(unknown=1), "unknown: Extra inputs are not permitted"),
    (lambda d: d.update(schema_version="1"), "schema_version '1' is not a version number"),
])
def test_an_invalid_summary_is_refused_naming_the_file_and_key(change, message):
    doc = copy.deepcopy(VERSION_0)
    change(doc)
    with pytest.raises(InputError, match="^p/summary.json: ") as err:
        PeriodSummary.from_json(doc, "p/summary.json")
    assert message in str(err.value)


def test_a_summary_that_is_not_an_object_is_refused():
    with pytest.raises(InputError, match="p/summary.json: not a period summary"):
        PeriodSummary.from_json([1, 2], "p/summary.json")


def test_the_box_count_is_given_exactly_when_unblinded():
    unblinded_without_box = {**VERSION_0, "blinded": False}
    with pytest.raises(InputError, match=r"p/summary.json: not a valid period summary: .*box count"):
        PeriodSummary.from_json(unblinded_without_box, "results/p/summary.json")
    blinded_with_box = {**VERSION_0, "regions": {**VERSION_0["regions"], "box": 3}}
    with pytest.raises(InputError, match="box count is given exactly when unblinded"):
        PeriodSummary.from_json(blinded_with_box)
    opened = PeriodSummary.from_json({**unblinded_without_box,
                                      "regions": {**VERSION_0["regions"], "box": 0}})
    assert opened.regions.box == 0


def test_the_beam_particle_is_kept_and_defaults_to_electrons():
    assert PeriodSummary.from_json(VERSION_0).beam_particle == "e-"
    s = PeriodSummary.from_json({**VERSION_0, "beam_particle": "e+"})
    assert s.beam_particle == "e+" and s.to_json()["beam_particle"] == "e+"
    with pytest.raises(InputError, match="beam_particle"):
        PeriodSummary.from_json({**VERSION_0, "beam_particle": "mu+"})
