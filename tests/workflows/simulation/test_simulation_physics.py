"""Physics of the fast simulation, checked on files read back with uproot: resolutions,
process composition, pile-up, dimuons, the SRD tag, the clean-electron efficiency of the
selection chain, and the regions of the (E_ECAL, E_HCAL) plane.

The selection is re-implemented here in a few lines of numpy from the thresholds of
``processors.cuts.Thresholds`` (the processors are tested on their own), following
SCHEMA.md: E_ECAL = all 72 cells x ecal_scale, the shower chi2 from the 9 tower fractions
around (3, 3) against the mean and spread of the period's calibration electrons.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import uproot

from processors.cuts import Thresholds
from workflows.processing.catalog import load_period
from workflows.simulation import SignalSpec, box_background, simulate_period, tag_probability
from workflows.simulation.config import (
    DetectorModel,
    SrdModel,
    containment,
    ecal_depth_x0,
    interaction_depth,
    pbsc_mixture,
    pileup_probability,
)
from workflows.simulation.srd import non_radiating

DATASETS = Path(__file__).resolve().parents[3] / "datasets"
E0 = 100.0


def read(directory: Path, pattern: str = "na64sim_*.root") -> dict[str, np.ndarray]:
    parts = [uproot.open(f)["events"].arrays(library="np") for f in sorted(directory.glob(pattern))]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def selection(d: dict[str, np.ndarray], t: Thresholds, e0: float = E0, ecal_scale: float = 1.0,
              hcal_scale: float = 1.0, reference=None) -> dict[str, np.ndarray]:
    """Per-event quantities and the cut chain (boolean per cut), numpy only; the chi2
    against the spread of the calibration electrons, or against ``reference`` (a
    :class:`processors.reference.ShowerReference`, evaluated at each event's energy)."""
    towers = d["ecal"].astype(np.float64).sum(axis=1).reshape(len(d["ecal"]), 36)
    total = towers.sum(axis=1)
    hottest = towers.argmax(axis=1)
    cx, cy = t.ecal_central_cell
    idx = [6 * (cx + dx) + cy + dy for dx in (-1, 0, 1) for dy in (-1, 0, 1)]
    fractions = towers[:, idx] / np.where(total > 0, total, 1)[:, None]
    e_ecal = total * ecal_scale
    calib = (d["trigger"] & 2) > 0
    ref = calib & (hottest == 6 * cx + cy) & (e_ecal > 0.8 * e0) & (e_ecal < 1.2 * e0)
    mean, sigma = fractions[ref].mean(axis=0), fractions[ref].std(axis=0, ddof=1)
    chi2 = (((fractions - mean) / sigma) ** 2).sum(axis=1)
    if reference is not None:
        chi2 = reference.chi2(fractions, e_ecal)
    cuts = {
        "in_time": np.abs(d["ecal_time"]) < t.ecal_time_window,
        "momentum": np.abs(d["beam_momentum"] - e0) < t.momentum_window * e0,
        "angle": d["beam_angle"] < t.max_angle,
        "srd": np.all((d["srd"] > t.srd_min) & (d["srd"] < t.srd_max), axis=1),
        "straw": d["straw_tracks"] == t.straw_tracks,
        "central": hottest == 6 * cx + cy,
        "chi2": chi2 < t.chi2_max,
        "veto": np.all(d["veto"] < t.veto_max, axis=1),
    }
    passed = np.logical_and.reduce(list(cuts.values()))
    return {"cuts": cuts, "passed": passed, "e_ecal": e_ecal, "chi2": chi2,
            "e_hcal": d["hcal"].astype(np.float64).sum(axis=(1, 2, 3)) * hcal_scale}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """One period at demo size: 200k events of 2022."""
    out = tmp_path_factory.mktemp("p2022")
    p = load_period(DATASETS / "2022.yaml")
    report = simulate_period(p, 200_000, out, seed=1)
    d = read(out)
    return p, report, d, selection(d, p.cuts, p.beam.energy, p.calibration.ecal_scale,
                                   p.calibration.hcal_scale)


def test_material_of_the_ecal_from_pdg_mixture_rules():
    m = pbsc_mixture()
    assert m["moliere_mm"] == pytest.approx(27.4, abs=0.2)
    model = DetectorModel()
    assert ecal_depth_x0(model) == pytest.approx(40.6, abs=0.3)       # "40 X0"
    assert interaction_depth(model) == pytest.approx(1.57, abs=0.03)  # ~1.5 lambda_int
    assert 1 - math.exp(-interaction_depth(model)) == pytest.approx(0.79, abs=0.01)
    assert containment(1.0, model.ecal) == pytest.approx(0.90, abs=0.005)   # PDG: 90 % in R_M
    assert containment(3.5, model.ecal) == pytest.approx(0.99, abs=0.005)


def test_calibration_electrons_energy_and_resolution(demo):
    _, _, d, s = demo
    calib = d["trigger"] == 2
    e = s["e_ecal"][calib]
    ecal = DetectorModel().ecal
    beam = DetectorModel().beam
    expected = math.sqrt(ecal.stochastic**2 / E0 + ecal.constant**2 + beam.energy_spread**2)
    assert e.mean() == pytest.approx(E0, rel=0.003)
    # Gaussian core (the Moyal-free EM response): central 95 % of the events.
    lo, hi = np.quantile(e, [0.025, 0.975])
    assert (hi - lo) / (2 * 1.96) / E0 == pytest.approx(expected, rel=0.05)
    assert e.std() / E0 == pytest.approx(expected, rel=0.08)
    # Shower shape: ~85 % in the central tower, ~96 % in the 3 x 3 around it.
    towers = d["ecal"][calib].sum(axis=1)
    assert (towers[:, 3, 3] / towers.sum(axis=(1, 2))).mean() == pytest.approx(0.85, abs=0.02)
    assert (towers[:, 2:5, 2:5].sum(axis=(1, 2)) / towers.sum(axis=(1, 2))).mean() > 0.95
    # Preshower: first 4 X0 of a 100 GeV shower (PDG Gamma profile): ~5 %.
    pre = d["ecal"][calib][:, 0].sum(axis=(1, 2)) / d["ecal"][calib].sum(axis=(1, 2, 3))
    assert pre.mean() == pytest.approx(0.05, abs=0.015)
    assert np.abs(d["ecal_time"][calib]).std() == pytest.approx(1.5 * math.sqrt(1 - 2 / math.pi),
                                                                rel=0.05)


def test_clean_electrons_pass_the_selection_chain(demo):
    """>= 89 % of calibration-trigger electrons pass every cut with the default thresholds
    (chi2 < 19.0, the 97.5 % quantile of 9 degrees of freedom, keeps ~95 % of them)."""
    _, _, d, s = demo
    calib = d["trigger"] == 2
    eff = {k: v[calib].mean() for k, v in s["cuts"].items()}
    total = s["passed"][calib].mean()
    assert total >= 0.89, eff
    assert eff["srd"] == pytest.approx(tag_probability("electron", E0, SrdModel()), abs=0.003)
    assert 0.96 <= eff["srd"] <= 0.99          # seeds: > 95 %
    assert eff["straw"] == pytest.approx(0.989, abs=0.003)
    assert eff["chi2"] > 0.94 and eff["central"] > 0.999 and eff["veto"] > 0.999
    # Electrons leave essentially nothing behind the ECAL.
    assert np.quantile(s["e_hcal"][calib], 0.999) < 0.5


def test_signal_recoil_electrons_pass_the_chain(demo, tmp_path):
    """Recoil electrons of A' events: clean tags, chi2 against the energy-dependent
    reference of the period's electrons (as the first pass derives it)."""
    from processors.reference import reference_from_bins
    from processors.reference_processor import ShowerReferenceProcessor

    p, _, d_bg, _ = demo
    spec = SignalSpec(0.0167, 30_000, lambda n, rng: rng.uniform(0.0, 0.6, n))
    # Without pile-up (tested on its own in test_simulation.py): the recoil electron alone.
    quiet = p.model_copy(update={"beam": p.beam.model_copy(update={"intensity": 1.0})})
    simulate_period(quiet, 0, tmp_path, signal=spec)
    d = read(tmp_path)
    # The reference comes from the period's calibration electrons (the background files).
    both = {k: np.concatenate([d_bg[k], d[k]]) for k in d}
    sums = ShowerReferenceProcessor(E0, 1.0, (3, 3)).sums(d_bg.__getitem__)
    s = selection(both, p.cuts, reference=reference_from_bins((3, 3), E0, sums))
    sig = both["mc_process"] == 6
    e = s["e_ecal"][sig]
    for lo, hi, floor in ((40, 60, 0.88), (60, 80, 0.90)):
        m = (e > lo) & (e < hi)
        assert s["passed"][sig][m].mean() > floor, (lo, hi)
    assert np.all(s["e_hcal"][sig] < 0.5) and np.all(s["cuts"]["veto"][sig])


def test_process_composition_of_physics_triggers(demo):
    p, report, d, _ = demo
    phys = d["trigger"] == 1
    proc = d["mc_process"][phys]
    codes = set(np.unique(proc).tolist())
    assert codes == {0, 1, 2, 3, 4, 5}            # at least five processes
    model = DetectorModel()
    pu = pileup_probability(model, p.beam.intensity)
    n = phys.sum()
    expected = [s * (1 - pu) for s in model.processes.shares] + [pu]
    for code, frac in enumerate(expected):
        got = np.mean(proc == code)
        assert abs(got - frac) < 5 * math.sqrt(frac * (1 - frac) / n) + 1e-4, (code, got, frac)
    assert report.physics_events["upstream_interaction"] == np.sum(proc == 4)


def test_pileup_grows_with_intensity(tmp_path):
    fractions = {}
    for name in ("2016", "2018"):
        p = load_period(DATASETS / f"{name}.yaml")
        simulate_period(p, 40_000, tmp_path / name, seed=2)
        d = read(tmp_path / name)
        phys = d["trigger"] == 1
        fractions[name] = (np.mean(d["mc_process"][phys] == 5), 0.022 * p.beam.intensity / 1e6,
                           phys.sum())
    for name, (got, expected, n) in fractions.items():
        assert got == pytest.approx(expected, abs=5 * math.sqrt(expected / n)), name
    assert fractions["2016"][1] == pytest.approx(0.066) and fractions["2018"][1] == pytest.approx(0.187)


def test_pileup_events_are_out_of_time_with_extra_energy(demo):
    _, _, d, s = demo
    pu = d["mc_process"] == 5
    assert np.mean(np.abs(d["ecal_time"][pu]) > 4.5) > 0.8
    # Region III: E_ECAL + E_HCAL above E0 for almost all of them.
    assert np.mean(s["e_ecal"][pu] + s["e_hcal"][pu] > 1.1 * E0) > 0.9


def test_dimuons_leave_about_ten_gev_in_the_hcal(demo):
    _, _, d, s = demo
    mu = d["mc_process"] == 2
    assert np.median(s["e_hcal"][mu]) == pytest.approx(10.0, abs=0.7)
    modules = d["hcal"][mu].sum(axis=(2, 3))
    assert np.median(modules, axis=0) == pytest.approx([2.6] * 4, abs=0.3)   # 2 x 1.3 GeV
    assert np.all(d["veto"][mu].min(axis=1) > 0.5) or np.mean(s["cuts"]["veto"][mu]) < 1e-3
    assert np.all(d["mc_emiss"][mu] >= 0) and np.mean(d["mc_emiss"][mu]) > 5.0


def test_hadron_electroproduction_lies_on_the_energy_band(demo):
    """Region II: E_ECAL + E_HCAL = E0 within the resolution of the two calorimeters."""
    _, _, d, s = demo
    had = d["mc_process"] == 1
    total = s["e_ecal"][had] + s["e_hcal"][had] + d["mc_emiss"][had]
    e_h = s["e_hcal"][had]
    sigma = np.sqrt(0.6**2 * np.maximum(e_h, 1) + 0.5**2 * 30 + (0.032 * E0) ** 2)
    assert np.mean(np.abs(total - E0) < 3 * sigma) > 0.97
    assert np.median(s["e_hcal"][had]) > 10.0


def test_hcal_resolution_for_beam_hadrons(demo):
    """Hadrons crossing the ECAL as a MIP: the HCAL alone measures them, 60 %/sqrt(E)."""
    _, _, d, s = demo
    mip = (d["mc_process"] == 3) & (s["e_ecal"] < 1.0) & (s["e_hcal"] > 40)
    e = s["e_hcal"][mip]
    assert len(e) > 1000
    assert np.median(e) == pytest.approx(E0 - 0.3, rel=0.02)
    lo, hi = np.quantile(e, [0.16, 0.84])
    assert (hi - lo) / 2 / np.median(e) == pytest.approx(0.6 / math.sqrt(E0), rel=0.15)


def test_srd_suppresses_hadrons_at_the_simulated_level():
    model = SrdModel()
    expected = tag_probability("hadron", E0, model)
    assert 3e-6 < expected < 1e-5          # "suppression > 1e-5" (seeds/002)
    rng = np.random.default_rng(11)
    n = 12_000_000
    hits = 0
    for _ in range(4):
        srd = non_radiating(rng, n // 4, model)
        hits += int(np.all((srd > 1.0) & (srd < 100.0), axis=1).sum())
    assert hits == pytest.approx(expected * n, abs=5 * math.sqrt(expected * n))
    # Per module, with a sample large enough to see the mean energy too.
    srd = non_radiating(rng, 400_000, model)
    single = np.mean((srd > 1.0) & (srd < 100.0))
    assert single == pytest.approx(expected ** (1 / 3), rel=0.03)


def test_selection_regions_of_the_plane(demo):
    """After the cuts: the signal box is empty, sidebands A and C are populated, and
    sideband C falls like the 2022 sideband fit (exponential slope ~0.48 / GeV)."""
    p, _, d, s = demo
    t = p.cuts
    phys = d["trigger"] == 1
    sel = phys & s["passed"]
    e, h = s["e_ecal"], s["e_hcal"]
    box = sel & (e < t.box_ecal_max) & (h < t.box_hcal_max)
    side_a = sel & (e < t.box_ecal_max) & (h > t.a_hcal_min)
    side_c = sel & (e > t.c_ecal_min) & (h < t.box_hcal_max)
    assert box.sum() == 0
    assert side_a.sum() >= 30 and side_c.sum() >= 3000
    assert set(np.unique(d["mc_process"][side_a])) <= {1}
    # Unbinned maximum likelihood of dN/dE ~ exp(k E) on [60, 76] GeV (below the trigger
    # turn-on): solve mean(E) = E_hi - 1/k - (E_hi - E_lo) / (exp(k (E_hi - E_lo)) - 1).
    lo, hi = 60.0, 76.0
    x = e[side_c & (e > lo) & (e < hi)]
    k_grid = np.linspace(0.2, 0.8, 6001)
    model_mean = hi - 1 / k_grid - (hi - lo) / np.expm1(k_grid * (hi - lo))
    slope = k_grid[np.argmin(np.abs(model_mean - x.mean()))]
    assert slope == pytest.approx(0.48, abs=0.05)
    # Before the cuts the upstream interactions spread much further down.
    up = phys & (d["mc_process"] == 4)
    assert np.mean(e[up] < 60) > 0.05 and np.mean(e[side_c & (d["mc_process"] == 4)] < 60) < 0.01
    # Extra straw tracks in 80-90 % of the upstream interactions.
    assert 0.80 <= np.mean(d["straw_tracks"][up] >= 2) <= 0.90


def test_expected_box_background_at_demo_exposure(demo):
    """The model's own expectation for the shipped periods (11) x 200k events stays far below one event."""
    total = 0.0
    catalogs = sorted(DATASETS.glob("20*.yaml"))
    for f in catalogs:
        p = load_period(f)
        model = DetectorModel()
        total += box_background(model, p.beam.energy, pileup_probability(model, p.beam.intensity),
                                180_000, p.cuts)["total"]
    assert 0.01 < total < 0.15
    _, report, _, _ = demo
    assert report.expected_box_background["total"] == pytest.approx(total / len(catalogs), rel=0.5)


def test_missing_energy_truth(demo):
    _, _, d, s = demo
    calib = d["trigger"] == 2
    assert np.all(d["mc_emiss"][calib] == 0)
    tail = (d["mc_process"] == 0) & (d["beam_momentum"] < 0.8 * E0)
    # Low-momentum electrons: what they lost upstream plus what they bring add up to E0.
    np.testing.assert_allclose(np.median(d["mc_emiss"][tail] + d["beam_momentum"][tail]), E0,
                               rtol=0.02)
    # Upstream interactions: the energy lost upstream, partly seen by the HCAL.
    up = d["mc_process"] == 4
    assert np.all(d["mc_emiss"][up] + s["e_hcal"][up] > 0.15 * E0)
