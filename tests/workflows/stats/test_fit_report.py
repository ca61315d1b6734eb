"""``limits.json`` read back: FitReport.from_json rebuilds what FitReport.to_json wrote."""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import math
from pathlib import Path

import numpy as np
import pytest

from processors.errors import InputError
from workflows.stats.background import Fit, SidebandEstimate
from workflows.stats.exclusion import (
    Exclusion,
    PeriodSignal,
    mass_grid,
    merged_counting_workspace,
    merged_exclusion,
    signal_rel_error,
)
from workflows.stats.fit import FIT_REPORT_VERSION, FitReport, PeriodBackground
from workflows.stats.limits import LimitResult, upper_limit

MASSES = mass_grid(5)


def same(a, b, where="report"):
    """``a`` equals ``b`` field by field, NaN equal to NaN, of the same types throughout."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True), f"{where}: {a} != {b}"
    elif isinstance(a, dict):
        assert list(a) == list(b), f"{where}: keys {list(a)} != {list(b)}"
        for k in a:
            same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), f"{where}: {len(a)} != {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b)):
            same(x, y, f"{where}[{i}]")
    elif isinstance(a, float):
        assert a == b or (math.isnan(a) and math.isnan(b)), f"{where}: {a} != {b}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def estimate(sideband: str, n: int, central: float) -> SidebandEstimate:
    fits = [Fit("exponential", (10.0, 75.0), central, 0.1 * central, True, {"a": -3.2, "b": 0.11}, 41.5, 52),
            Fit("power law", (15.0, 75.0), 0.0, float("nan"), False, {"a": 1.0, "k": 5.0})]
    return SidebandEstimate(sideband, "e_ecal" if sideband == "C" else "e_hcal", (0.0, 50.0), n, central,
                            central * 1.05, 0.12 * central, 0.1 * central, 0.066 * central, True,
                            "1 of 2 fits used", fits)


def background(period: str, eot: float, box: int | None) -> PeriodBackground:
    empty = SidebandEstimate("A", "e_hcal", (0.0, 1.0), 2, message="sideband A holds 2 events: too few")
    return PeriodBackground(period, eot, box is None, box, 2, 130,
                            {"C": estimate("C", 130, 0.21), "A": empty})


@functools.cache
def report(blinded: bool) -> FitReport:
    backgrounds = [background("2022", 4.3e10, None if blinded else 1),
                   background("2023", 5.4e10, None if blinded else 0)]
    total = sum(b.background for b in backgrounds)
    error = math.sqrt(sum(b.error**2 for b in backgrounds))
    observed = None if blinded else 1
    spec = merged_counting_workspace(observed, total, error, signal_rel_error())
    limit = upper_limit(spec, cl=0.9, method="toys", ntoys=50, npoints=4)
    # The first mass has no signal (zero efficiency): its limits are inf.
    signals = [PeriodSignal(b.period, b.eot, 100.0, 50.0, np.array([0.0, 0.3, 0.5, 0.5, 0.4]))
               for b in backgrounds]
    exclusion, _ = merged_exclusion(MASSES, signals, observed, total, error, cl=0.9, limit=limit)
    assert np.isinf(exclusion.mu_expected[:, 0]).all()
    return FitReport(blinded=blinded, cl=0.9, backgrounds=backgrounds, signal_limit=limit,
                     workspace=Path("out/workspace.json"), exclusion=exclusion,
                     efficiency_file=Path("out/signal_efficiency.json"),
                     efficiency_at_masses={b.period: [0.0, 0.3, 0.5, 0.5, 0.4] for b in backgrounds})


@pytest.fixture(scope="module", params=[True, False], ids=["blinded", "unblinded"])
def fit_report(request) -> FitReport:
    return report(request.param)


def through_json(doc: dict) -> dict:
    """Through strict JSON (no NaN or Infinity literals, which strict parsers refuse)."""
    return json.loads(json.dumps(doc, allow_nan=False))


def test_a_report_round_trips_field_by_field(fit_report):
    back = FitReport.from_json(through_json(fit_report.to_json()))
    same(back, fit_report)
    assert back.observed == fit_report.observed and back.background == fit_report.background


def test_a_report_without_exclusion_round_trips():
    r = dataclasses.replace(report(True), exclusion=None, efficiency_file=None, efficiency_at_masses={})
    doc = through_json(r.to_json())
    assert "exclusion" not in doc
    same(FitReport.from_json(doc), r)


def test_the_keys_written_before_are_unchanged(fit_report):
    doc = fit_report.to_json()
    limit = fit_report.signal_limit
    n90 = doc["signal_events_limit"]
    assert (n90["method"], n90["expected"]) == (limit.method, list(limit.expected))
    assert n90["observed"] == (None if fit_report.blinded else limit.observed)
    assert n90["limit_on_data"] == limit.observed  # what the limit was computed on, even blinded
    ex = doc["exclusion"]
    assert list(ex)[:4] == ["model", "method", "efficiency", "masses"]
    assert ex["masses"] == fit_report.exclusion.table()
    assert ex["efficiency"] == "out/signal_efficiency.json"


def test_the_added_parts_are_strict_json_with_inf_as_null(fit_report):
    doc = fit_report.to_json()
    arrays = json.loads(json.dumps(doc["exclusion"]["arrays"], allow_nan=False))
    assert arrays["mu_expected"][2][0] is None  # no signal at the first mass: no limit
    assert (arrays["mu_observed"] is None) == fit_report.blinded
    json.dumps(doc["signal_events_limit"], allow_nan=False)


def test_nan_and_minus_inf_survive_in_the_arrays():
    ex = report(False).exclusion
    ex = dataclasses.replace(ex, mu_observed=np.array([np.inf, np.nan, -np.inf, 1.0, 2.0]))
    doc = json.loads(json.dumps(ex.to_json(), allow_nan=False))
    assert doc["arrays"]["mu_observed"] == [None, "nan", "-inf", 1.0, 2.0]
    same(Exclusion.from_json(doc), ex)


def test_a_limit_round_trips_on_its_own():
    limit = report(False).signal_limit
    assert limit.ntoys == 50 and limit.seed == 0
    same(LimitResult.from_json(through_json(limit.to_json())), limit)
    other = dataclasses.replace(limit, expected=None, ntoys=None, seed=None, notes=("a note", "another"))
    same(LimitResult.from_json(through_json(other.to_json())), other)


def test_a_newer_or_unversioned_document_is_refused_naming_the_source(fit_report):
    doc = through_json(fit_report.to_json())
    with pytest.raises(InputError, match=r"results/limits\.json: written by a newer na64-invisible.*"
                                         rf"schema_version {FIT_REPORT_VERSION + 1}"):
        FitReport.from_json({**doc, "schema_version": FIT_REPORT_VERSION + 1}, "results/limits.json")
    del doc["schema_version"]
    with pytest.raises(InputError, match=r"^limits\.json: no schema_version"):
        FitReport.from_json(doc)
    with pytest.raises(InputError, match=r"^limits\.json: schema_version '1' is not a version number"):
        FitReport.from_json({**doc, "schema_version": "1"})
    with pytest.raises(InputError, match=r"^limits\.json: not a fit report"):
        FitReport.from_json([doc])


def _drop(key):
    def change(doc):
        *path, last = key
        for k in path:
            doc = doc[k]
        del doc[last]
    return change


def _set(key, value):
    def change(doc):
        *path, last = key
        for k in path:
            doc = doc[k]
        doc[last] = value
    return change


@pytest.mark.parametrize(("change", "message"), [
    (_drop(["periods", 1, "sidebands", "C", "n_sideband"]), "periods[1].sidebands.C.n_sideband: missing"),
    (_drop(["signal_events_limit", "scan"]), "signal_events_limit.scan: missing"),
    (_drop(["exclusion", "arrays"]), "exclusion.arrays: missing"),
    (_drop(["efficiency_at_masses"]), "efficiency_at_masses: missing"),
    (_set(["blinded"], "no"), "blinded: a boolean expected, got a string ('no')"),
    (_set(["cl"], None), "cl: a number expected, got null"),
    (_set(["periods", 0, "eot"], "1e11"), "periods[0].eot: a number expected, got a string ('1e11')"),
    (_set(["periods", 0, "A"], 2.5), "periods[0].A: an integer expected, got a number (2.5)"),
    (_set(["periods", 0, "C"], True), "periods[0].C: an integer expected, got a boolean (true)"),
    (_set(["periods"], {}), "periods: an array expected, got an object"),
    (_set(["periods", 0, "sidebands", "C", "fits", 0, "fit_range"], [1.0]),
     "periods[0].sidebands.C.fits[0].fit_range: two numbers (low, high) expected, got 1"),
    (_set(["signal_events_limit", "expected"], [1.0, 2.0]), "signal_events_limit.expected: 5 numbers"),
    (_set(["signal_events_limit", "scan", "cls_expected"], [[0.5, "x"]]),
     "signal_events_limit.scan.cls_expected[0][1]: a number expected, got a string ('x')"),
    (_set(["signal_events_limit", "scan", "cls_observed"], []),
     "signal_events_limit.scan.cls_observed: 0 values for"),
    (_set(["exclusion", "arrays", "mu_expected"], [[1.0, 2.0]]), "exclusion.arrays.mu_expected: shape (1, 2)"),
    (_set(["exclusion", "arrays", "signal"], [[1.0], [2.0, 3.0]]),
     "exclusion.arrays.signal[0]: a number expected, got an array"),
    (_set(["exclusion"], None), "exclusion: a JSON object expected, got null"),
], ids=lambda x: x if isinstance(x, str) else "")
def test_a_malformed_document_is_refused_naming_the_source_and_the_key(fit_report, change, message):
    doc = copy.deepcopy(through_json(fit_report.to_json()))
    change(doc)
    with pytest.raises(InputError) as err:
        FitReport.from_json(doc, "out/limits.json")
    assert str(err.value).startswith("out/limits.json: ")
    assert message in str(err.value)
