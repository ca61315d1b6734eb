"""The processors' typed outputs add up as coffea's accumulators expect."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
from coffea.processor import accumulate

from processors.cuts import Thresholds
from processors.errors import InputError
from processors.histograms import book
from processors.invisible import InvisibleSearchProcessor, PeriodSetup
from processors.kernels import shower_shape
from processors.output import (
    CHUNK_OUTPUT_VERSION,
    REFERENCE_SUMS_SHAPE,
    REFERENCE_SUMS_VERSION,
    ChunkFailure,
    ChunkOutput,
    ReferenceSums,
)
from processors.reference import ShowerReference
from processors.variations import Variation, nominal
from tests.eventfiles import calibration_electrons, electron, hcal_deposit
from tests.processors.test_cuts import columns


def _chunk(n: int, file: str, value: float) -> ChunkOutput:
    hists = book(["nominal"], 100.0)
    hists["cutflow"].fill(variation="nominal", step=0, weight=value)
    return ChunkOutput(hists=hists, chunks=1, events=n, physics_events=n - 1, calibration_events=1,
                       has_truth=file == "b", entries_by_file={file: n})


def test_chunks_add_up_field_by_field():
    failure = ChunkFailure("c", 0, 10, "OSError: gone")
    parts = [_chunk(5, "a", 2.0), _chunk(7, "a", 3.0), _chunk(4, "b", 1.0),
             ChunkOutput.failure(failure)]
    total = accumulate(parts)
    assert isinstance(total, ChunkOutput)
    assert (total.chunks, total.failed_chunks, total.events, total.physics_events) == (4, 1, 16, 13)
    assert total.entries_by_file == {"a": 12, "b": 4}
    assert total.has_truth and total.failed == [failure]
    assert total.hists["cutflow"][{"variation": "nominal"}].values()[0] == 6.0


def test_addition_leaves_its_operands_untouched():
    a, b = _chunk(5, "a", 2.0), _chunk(7, "b", 3.0)
    before = copy.deepcopy((a, b))
    total = a + b
    assert (a, b) == before
    assert total.hists["cutflow"] != a.hists["cutflow"]
    assert total.hists["cutflow"][{"variation": "nominal"}].values()[0] == 5.0


def test_a_sum_of_failures_has_no_histograms():
    failures = [ChunkOutput.failure(ChunkFailure("f", i, i + 1, "ValueError: x")) for i in range(3)]
    total = accumulate(failures)
    assert total.hists is None and total.failed_chunks == 3 and len(total.failed) == 3
    total += _chunk(2, "g", 1.0)
    assert total.hists is not None and total.events == 2


def test_reference_sums_keep_one_entry_per_chunk():
    parts = [ReferenceSums(sums={f"f:{i}-{i + 1}": np.full(REFERENCE_SUMS_SHAPE, float(i))}) for i in range(4)]
    parts.append(ReferenceSums(failed=[ChunkFailure("f", 9, 10, "OSError: gone")]))
    total = accumulate(parts)
    assert sorted(total.sums) == [f"f:{i}-{i + 1}" for i in range(4)]
    assert total.calibration_electrons == 0 + 1 + 2 + 3  # the last energy bin
    assert total.low_energy_electrons == (0 + 1 + 2 + 3) * (REFERENCE_SUMS_SHAPE[0] - 1)
    assert len(total.failed) == 1
    assert parts[0].sums.keys() == {"f:0-1"}  # the first operand is not modified


@pytest.fixture(scope="module")
def processed() -> ChunkOutput:
    """A real main-pass output: two variations over a few hundred events, with truth."""
    cal = columns(calibration_electrons(300))
    _, _, f = shower_shape(cal["ecal"], np.arange(300), (3, 3))
    reference = ShowerReference.from_sums((3, 3), len(f), f.sum(0), (f * f).sum(0))
    t = Thresholds()
    variations = [nominal(t), Variation("ecal_scale_up", t, ecal_factor=1.01)]
    rng = np.random.default_rng(5)
    events = [electron(float(e), hcal=hcal_deposit(float(h)), mc_process=int(p))
              for e, h, p in zip(rng.uniform(20, 90, 200), rng.exponential(3.0, 200), rng.integers(0, 2, 200))]
    proc = InvisibleSearchProcessor(PeriodSetup("2022", 100.0), reference, variations, blinded=False)
    out = proc.process_columns(columns(events + calibration_electrons(20, seed=2)))
    out.entries_by_file = {"data/a.root": 220}
    assert out.hists["plane"].sum().value > 0
    return out + ChunkOutput.failure(ChunkFailure("data/b.root", 100, 200, "OSError: gone"))


def through_json(doc: dict) -> dict:
    return json.loads(json.dumps(doc))


def test_a_chunk_output_round_trips_histograms_included(processed):
    doc = through_json(processed.to_json())
    assert doc["schema_version"] == CHUNK_OUTPUT_VERSION
    back = ChunkOutput.from_json(doc)
    assert back == processed
    assert list(back.hists) == list(processed.hists)
    for name, h in processed.hists.items():
        assert back.hists[name] == h, name
        assert back.hists[name].axes[0].name == "variation"
        np.testing.assert_array_equal(back.hists[name].variances(flow=True), h.variances(flow=True))
    assert back.failed == [ChunkFailure("data/b.root", 100, 200, "OSError: gone")]


def test_an_output_without_histograms_round_trips():
    out = ChunkOutput.failure(ChunkFailure("f", 0, 10, "ValueError: x"))
    doc = through_json(out.to_json())
    assert doc["hists"] is None
    assert ChunkOutput.from_json(doc) == out


def test_reference_sums_round_trip():
    size = REFERENCE_SUMS_SHAPE[0] * REFERENCE_SUMS_SHAPE[1]
    sums = ReferenceSums(sums={f"f.root:{i}-{i + 10}": np.linspace(i, i + 1.0, size).reshape(REFERENCE_SUMS_SHAPE) / 3
                               for i in range(3)},
                         failed=[ChunkFailure("g.root", 0, 5, "OSError: gone")])
    sums.sums["f.root:0-10"][2, 4] = math.nan
    doc = json.loads(json.dumps(sums.to_json(), allow_nan=False))
    assert doc["schema_version"] == REFERENCE_SUMS_VERSION
    back = ReferenceSums.from_json(doc)
    assert list(back.sums) == list(sums.sums) and back.failed == sums.failed
    for key, v in sums.sums.items():
        assert back.sums[key].dtype == np.float64 and np.array_equal(back.sums[key], v, equal_nan=True)


@pytest.mark.parametrize("cls", [ChunkOutput, ReferenceSums])
def test_a_newer_or_unversioned_output_is_refused(cls):
    doc = through_json(cls().to_json())
    with pytest.raises(InputError, match=r"^ck/3\.json: written by a newer na64-invisible"):
        cls.from_json({**doc, "schema_version": doc["schema_version"] + 1}, "ck/3.json")
    del doc["schema_version"]
    with pytest.raises(InputError, match=r"^ck/3\.json: no schema_version"):
        cls.from_json(doc, "ck/3.json")


def _chunk_doc(processed: ChunkOutput) -> dict:
    return through_json(processed.to_json())


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.pop("events"), "events: missing"),
    (lambda d: d.update(chunks=1.5), "chunks: an integer expected, got a number (1.5)"),
    (lambda d: d["entries_by_file"].update({"x": "3"}), "entries_by_file.x: an integer expected"),
    (lambda d: d["failed"][0].pop("reason"), "failed[0].reason: missing"),
    (lambda d: d["hists"]["plane"].pop("axes"), "hists.plane: not a histogram in uhi serialisation (KeyError"),
    (lambda d: d["hists"].update(plane=[]), "hists.plane: a JSON object expected, got an array"),
], ids=["missing count", "count not an integer", "entries", "failure", "histogram", "histogram type"])
def test_a_malformed_chunk_output_is_refused_naming_the_key(processed, change, message):
    doc = _chunk_doc(processed)
    change(doc)
    with pytest.raises(InputError) as err:
        ChunkOutput.from_json(doc, "ck/3.json")
    assert str(err.value).startswith(f"ck/3.json: {message}")


@pytest.mark.parametrize(("sums", "message"), [
    ({"k": [[1.0] * 20] * 13}, "sums.k: 14 rows of 20 numbers expected, got shape (13, 20)"),
    ({"k": [1.0] * 19}, "sums.k[0]: an array expected, got a number (1.0)"),
    ({"k": [[[1.0]] * 20] * 14}, "sums.k[0][0]: a number expected, got an array"),
    ([], "sums: a JSON object expected, got an array"),
])
def test_malformed_reference_sums_are_refused_naming_the_key(sums, message):
    with pytest.raises(InputError) as err:
        ReferenceSums.from_json({"schema_version": REFERENCE_SUMS_VERSION, "sums": sums, "failed": []}, "ref.json")
    assert str(err.value) == f"ref.json: {message}"
