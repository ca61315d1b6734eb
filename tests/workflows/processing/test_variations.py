"""Systematic variations: the file, one-pass evaluation, and blinding per variation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from processors.cuts import Thresholds
from processors.invisible import InvisibleSearchProcessor, PeriodSetup
from processors.kernels import shower_shape
from processors.reference import ShowerReference
from processors.variations import nominal
from tests.eventfiles import calibration_electrons, electron, hcal_deposit
from tests.processors.test_cuts import columns
from workflows.processing.catalog import CatalogError, load_catalog
from workflows.processing.variations import load_variations

DATASETS = Path(__file__).resolve().parents[3] / "datasets"


@pytest.fixture(scope="module")
def reference() -> ShowerReference:
    cal = columns(calibration_electrons(400))
    _, _, f = shower_shape(cal["ecal"], np.arange(400), (3, 3))
    return ShowerReference.from_sums((3, 3), len(f), f.sum(0), (f * f).sum(0))


@pytest.fixture(scope="module")
def periods():
    return load_catalog(DATASETS, require_files=False)


@pytest.fixture(scope="module")
def default_set(periods):
    return load_variations(DATASETS / "variations.yaml", periods)


def run(reference, variations, events, blinded=False):
    proc = InvisibleSearchProcessor(PeriodSetup("2022", 100.0), reference, variations, blinded)
    return proc.process_columns(columns(events))


def region_counts(out, variation):
    h = out.hists["regions"][{"variation": variation}]
    return {r: h[r].value for r in ("A", "C", "box")}


def test_default_file_has_the_seeds_variations(default_set):
    names = default_set.names()
    assert len(names) >= 10
    assert {"ecal_scale_up", "ecal_scale_down", "box_edge_down", "chi2_up", "veto_up"} <= set(names)


def test_ecal_scale_moves_exactly_the_events_crossing_the_box_edge(reference, periods, default_set):
    variations = default_set.for_period(periods[0])
    crossing_up = electron(49.6)      # box -> C at +1 %
    crossing_down = electron(50.4)    # C -> box at -1 %
    staying = [electron(49.0), electron(51.0), electron(30.0, hcal=hcal_deposit(4.0))]
    out = run(reference, variations, [crossing_up, crossing_down, *staying])
    nom, up, down = (region_counts(out, v) for v in ("nominal", "ecal_scale_up", "ecal_scale_down"))
    assert nom == {"A": 1, "C": 2, "box": 2}
    assert up == {"A": 1, "C": 3, "box": 1}
    assert down == {"A": 1, "C": 1, "box": 3}


def test_all_variations_together_equal_each_alone(reference, periods, default_set):
    rng = np.random.default_rng(3)
    events = [electron(float(e), hcal=hcal_deposit(float(h)), ecal_time=float(t), veto=[float(v), 0, 0])
              for e, h, t, v in zip(rng.uniform(20, 90, 300), rng.exponential(2.0, 300),
                                    rng.normal(0, 2.5, 300), rng.exponential(0.3, 300))]
    variations = default_set.for_period(periods[0])
    together = run(reference, variations, events)
    for v in variations[1:]:
        alone = run(reference, [variations[0], v], events)
        for name, h in alone.hists.items():
            assert h[{"variation": v.name}] == together.hists[name][{"variation": v.name}], (v.name, name)
            assert h[{"variation": "nominal"}] == together.hists[name][{"variation": "nominal"}]


def test_blinding_holds_for_every_variation(reference, periods, default_set):
    variations = default_set.for_period(periods[0])
    events = [electron(e) for e in (46.0, 48.0, 49.7, 50.3, 52.0, 60.0)]
    events += [electron(30.0, hcal=hcal_deposit(h)) for h in (0.4, 0.8, 1.5, 3.0)]
    out = run(reference, variations, events, blinded=True)
    for v in variations:
        t = v.thresholds
        plane = out.hists["plane"][{"variation": v.name}]
        e_ecal = plane.axes["e_ecal"].edges
        e_hcal = plane.axes["e_hcal"].edges
        # No bin that lies inside this variation's box or the nominal box holds anything.
        for box_e, box_h in ((t.box_ecal_max, t.box_hcal_max), (50.0, 1.0)):
            inside = (e_ecal[1:, None] <= box_e) & (e_hcal[None, 1:] <= box_h)
            assert plane.values()[inside].sum() == 0, v.name
        assert out.hists["regions"][{"variation": v.name}]["box"].value == 0
        assert out.hists["cutflow_by_process"][{"variation": v.name}].values()[-1].sum() \
            == plane.sum().value


def test_adding_variations_leaves_the_nominal_unchanged(reference, periods, default_set):
    events = [electron(e, hcal=hcal_deposit(h)) for e, h in ((49.7, 0.2), (50.5, 0.1), (30, 1.5), (30, 0.7))]
    alone = run(reference, [nominal(periods[0].cuts)], events, blinded=True)
    together = run(reference, default_set.for_period(periods[0]), events, blinded=True)
    for name, h in alone.hists.items():
        assert h[{"variation": "nominal"}] == together.hists[name][{"variation": "nominal"}]


def test_period_restricted_variation_is_nominal_elsewhere(tmp_path, periods):
    path = tmp_path / "v.yaml"
    path.write_text("variations:\n  e2022:\n    kind: energy_scale\n    ecal: 0.02\n    periods: ['2022']\n")
    vset = load_variations(path, periods)
    by_name = {p.name: p for p in periods}
    v2022 = {v.name: v for v in vset.for_period(by_name["2022"])}
    v2016 = {v.name: v for v in vset.for_period(by_name["2016"])}
    assert v2022["e2022_up"].ecal_factor == pytest.approx(1.02)
    assert v2016["e2022_up"].ecal_factor == 1.0 and v2016["e2022_up"].thresholds == by_name["2016"].cuts


@pytest.mark.parametrize(("text", "key", "problem"), [
    ("variations:\n  x:\n    kind: cut\n    threshold: chi_max\n    up: 3\n", "variations.x.cut.threshold",
     "unknown threshold"),
    ("variations:\n  x:\n    kind: cut\n    threshold: chi2_max\n    up: many\n", "variations.x.cut.up",
     "valid number"),
    ("variations:\n  x:\n    kind: cut\n    threshold: chi2_max\n    upp: 3\n", "variations.x.cut.upp", "unknown key"),
    ("variations:\n  x:\n    kind: scale\n    ecal: 0.01\n", "variations.x", "does not match any of the expected tags"),
    ("variations:\n  x:\n    kind: energy_scale\n", "variations.x.energy_scale", "non-zero"),
    ("variation:\n  x: {}\n", "variation", "unknown key"),
    ("variations:\n  x:\n    kind: cut\n    threshold: srd_min\n    up: 500\n", "variations.x", "srd_min"),
    ("variations:\n  x:\n    kind: energy_scale\n    ecal: 0.01\n    periods: ['1999']\n", "variations.x.periods",
     "no period named '1999'"),
    ("variations:\n  x: {kind: cut, threshold: chi2_max, up: .inf}\n", "variations.x.cut.up", "finite number"),
    ("variations:\n  x: {kind: cut, threshold: veto_max, delta: .inf}\n", "variations.x.cut.delta", "finite number"),
    ("variations:\n  x: {kind: cut, threshold: box_ecal_max, down: .nan}\n", "variations.x.cut.down", "finite number"),
])
def test_bad_variations_file_is_refused(tmp_path, periods, text, key, problem):
    path = tmp_path / "v.yaml"
    path.write_text(text)
    with pytest.raises(CatalogError) as err:
        load_variations(path, periods)
    message = str(err.value)
    assert str(path) in message and f"key '{key}'" in message and problem in message


@pytest.mark.parametrize(("entry", "key", "problem"), [
    ("{kind: cut, threshold: chi2_max, down: 27.9, up: 16.9}", "variations.x.cut.down",
     "must be below 'up' (16.9) (got 27.9)"),
    ("{kind: cut, threshold: chi2_max, down: 20.0, up: 20.0}", "variations.x.cut.down",
     "must be below 'up' (20.0)"),
    ("{kind: cut, threshold: straw_tracks, up: 1.5}", "variations.x.cut.up",
     "straw_tracks takes whole numbers (got 1.5)"),
    ("{kind: cut, threshold: straw_tracks, down: 0.5, up: 2}", "variations.x.cut.down",
     "straw_tracks takes whole numbers (got 0.5)"),
    ("{kind: cut, threshold: straw_tracks, delta: 0.5}", "variations.x.cut.delta",
     "straw_tracks takes whole numbers (got 0.5)"),
    ("{kind: cut, threshold: chi2_max, down: 25.0, up: 27.9}", "variations.x.cut.down",
     "25 is above the nominal chi2_max (19) of periods 2016, 2017,"),
    ("{kind: cut, threshold: veto_max, up: 0.3}", "variations.x.cut.up",
     "0.3 is below the nominal veto_max (0.5) of periods 2016,"),
    ("{kind: cut, threshold: sideband_c_ecal_min, up: 45.0}", "variations.x.cut.up",
     "45 is below the nominal sideband_c_ecal_min (50) of periods 2016,"),
], ids=["down above up", "down equal to up", "fractional up", "fractional down",
        "fractional delta", "both above the nominal", "up below the nominal",
        "sideband edge below its nominal (the box edge)"])
def test_down_and_up_must_bracket_the_nominal(tmp_path, periods, entry, key, problem):
    """down <= nominal <= up for every period, down < up, whole numbers for a count."""
    path = tmp_path / "variations.yaml"
    path.write_text(f"variations:\n  x: {entry}\n")
    with pytest.raises(CatalogError) as err:
        load_variations(path, periods)
    message = str(err.value)
    assert f"{path}: key '{key}': " in message, message
    assert problem in message, message


def test_nominal_is_each_periods_own(tmp_path):
    """A period overriding a threshold is checked against its own nominal value."""
    for name, cuts in (("a", ""), ("b", "cuts: {box_ecal_max: 48.5}\n")):
        (tmp_path / f"{name}.yaml").write_text(
            f'name: "{name}"\nbeam: {{particle: e-, energy: 100.0}}\neot: 1.0e10\n'
            f"files: [x.root]\n{cuts}")
    periods = load_catalog(tmp_path, require_files=False)
    path = tmp_path / "v.yaml"
    path.write_text("variations:\n  edge: {kind: cut, threshold: box_ecal_max, down: 49.0, up: 53.0}\n")
    with pytest.raises(CatalogError, match=r"key 'variations\.edge\.cut\.down': 49 is above the "
                                           r"nominal box_ecal_max \(48\.5\) of period b"):
        load_variations(path, periods)
    path.write_text("variations:\n  edge: {kind: cut, threshold: box_ecal_max, down: 49.0, up: 53.0,"
                    " periods: [a]}\n")
    assert "edge_down" in load_variations(path, periods).names()
    # one end at the nominal is a one-sided variation, allowed
    path.write_text("variations:\n  edge: {kind: cut, threshold: box_ecal_max, down: 48.5, up: 53.0}\n")
    assert load_variations(path, periods).names() == ["edge_up", "edge_down"]


def test_whole_numbers_are_accepted_for_a_count(tmp_path, periods):
    path = tmp_path / "v.yaml"
    path.write_text("variations:\n  straws: {kind: cut, threshold: straw_tracks, down: 0, up: 2.0}\n")
    straws = {v.name: v.thresholds.straw_tracks for v in load_variations(path, periods).for_period(periods[0])}
    assert straws == {"nominal": 1, "straws_up": 2, "straws_down": 0}


def test_thresholds_default_is_valid():
    assert Thresholds().c_ecal_min == 50.0 and Thresholds().a_hcal_min == 1.0


def test_each_variation_summary_says_what_it_changed(tmp_path, reference, periods):
    """What the fit needs to redo a variation's sideband extrapolation travels with it."""
    from workflows.processing.summary import variation_summaries

    path = tmp_path / "v.yaml"
    path.write_text("variations:\n"
                    "  box_edge: {kind: cut, threshold: box_ecal_max, down: 47.0, up: 53.0}\n"
                    "  veto: {kind: cut, threshold: veto_max, up: 0.7, correlated: false}\n"
                    "  ecal_scale: {kind: energy_scale, ecal: 0.01}\n")
    by_name = {p.name: p for p in periods}
    variations = load_variations(path, periods).for_period(by_name["2022"])
    out = run(reference, variations, calibration_electrons(50) + [electron(30.0, hcal=hcal_deposit(0.2))])
    summaries = variation_summaries(out.hists, variations, blinded=True)
    assert set(summaries) == {"box_edge_up", "box_edge_down", "veto_up", "ecal_scale_up", "ecal_scale_down"}
    assert summaries["box_edge_up"].thresholds.box_ecal_max == 53.0
    assert summaries["box_edge_down"].thresholds.box_ecal_max == 47.0
    assert summaries["veto_up"].thresholds.veto_max == 0.7 and not summaries["veto_up"].correlated
    assert summaries["box_edge_up"].correlated
    assert summaries["ecal_scale_up"].ecal_factor == pytest.approx(1.01)
    assert summaries["ecal_scale_down"].ecal_factor == pytest.approx(0.99)
    assert summaries["ecal_scale_up"].thresholds == by_name["2022"].cuts
    # ... and survives the JSON round trip of summary.json
    for name, v in summaries.items():
        assert type(v).model_validate_json(v.model_dump_json()) == v, name
