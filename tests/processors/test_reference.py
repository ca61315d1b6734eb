"""The energy-dependent shower reference on simulated ROOT files: the form
sigma_j(E)^2 = c_j^2 + s_j^2 / E holds, the chi2 keeps the A' showers at every mass and
still rejects hadrons as the energy-independent reference of 100 GeV electrons did."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import uproot

from processors.cuts import CHAIN, Thresholds
from processors.invisible import InvisibleSearchProcessor, PeriodSetup
from processors.output import REFERENCE_SUMS_SHAPE
from processors.quantities import EventQuantities
from processors.reference import (
    MIN_BIN_EVENTS,
    ShowerReference,
    reference_from_bins,
)
from processors.reference_processor import ShowerReferenceProcessor
from processors.schema import CALIBRATION_BIT
from processors.variations import nominal
from workflows.processing.catalog import load_period
from workflows.signal.aprime import sample_energy_fraction
from workflows.signal.efficiency import ELECTRON_SHARE
from workflows.simulation import SignalSpec, simulate_period

DATASETS = Path(__file__).resolve().parents[2] / "datasets"
BRANCHES = ["trigger", "beam_momentum", "beam_angle", "straw_tracks", "srd", "ecal", "ecal_time",
            "veto", "hcal", "mc_process"]
MASSES = (0.001, 0.002, 0.02, 0.2, 1.0)  # GeV
E0 = 100.0


def read(directory: Path, pattern: str = "*.root") -> dict[str, np.ndarray]:
    files = sorted(directory.glob(pattern))
    return uproot.concatenate([f"{f}:events" for f in files], BRANCHES, library="np")


def derive(cols: dict[str, np.ndarray]) -> ShowerReference:
    proc = ShowerReferenceProcessor(E0, 1.0, (3, 3))
    return reference_from_bins((3, 3), E0, proc.sums(cols.__getitem__))


@pytest.fixture(scope="module")
def period():
    return load_period(DATASETS / "2022.yaml")


@pytest.fixture(scope="module")
def data(tmp_path_factory, period):
    """Two independent simulated runs of the 2022 period (seeds 21 and 22)."""
    out = []
    for seed in (21, 22):
        d = tmp_path_factory.mktemp(f"sim{seed}")
        simulate_period(period, 100_000, d, seed=seed)
        out.append(read(d))
    return out


def test_the_spread_follows_the_energy_as_fitted_in_an_independent_sample(data):
    """Fit on one sample; in the other, the spread measured in every energy bin agrees with
    the fitted sigma_j(E) within its statistical error (3 sigma plus 4 %), tower by tower,
    while an energy-independent spread would be off by factors."""
    fitted, other = derive(data[0]), data[1]
    assert fitted.fallback is None and fitted.n_low_energy > 5_000
    proc = ShowerReferenceProcessor(E0, 1.0, (3, 3))
    _, k, e, f = proc.select(other.__getitem__)
    checked = constant_off = 0
    for b in np.unique(k):
        inside = k == b
        n = int(inside.sum())
        if n < 100:
            continue
        energy = 1.0 / np.mean(1.0 / e[inside])
        measured = f[inside].std(axis=0, ddof=1)
        expected = fitted.sigma_at(energy)
        tolerance = 3 * expected / np.sqrt(2 * (n - 1)) + 0.04 * expected
        assert np.all(np.abs(measured - expected) < tolerance), (energy, n, measured, expected)
        constant_off += bool(np.any(np.abs(measured - fitted.sigma_at(E0)) > tolerance))
        checked += 1
    assert checked >= 10
    assert constant_off >= 5  # the energy-independent spread of E0 electrons fails there
    # The dependence is real: the central tower's spread at 1 GeV is > 3 x that at E0.
    assert fitted.sigma_at(1.0)[4] > 3 * fitted.sigma_at(E0)[4]


def test_low_energy_electrons_are_never_signal_candidates(data):
    """Every physics-trigger electron of the reference fails the search's momentum cut, so
    none can be in the signal box after the chain (the blinding rule holds)."""
    cols = data[0]
    proc = ShowerReferenceProcessor(E0, 1.0, (3, 3))
    index, k, _, _ = proc.select(cols.__getitem__)
    physics = (cols["trigger"][index] & CALIBRATION_BIT) == 0
    assert physics.sum() > 5_000 and np.all(k[physics] < REFERENCE_SUMS_SHAPE[0] - 1)
    momentum = next(c for c in CHAIN if c.name == "momentum")
    q = SimpleNamespace(beam_momentum=cols["beam_momentum"][index[physics]])
    assert not momentum(q, Thresholds(), E0).any()  # type: ignore[arg-type]


def test_too_few_low_energy_electrons_give_the_logged_fallback(data, caplog):
    """Calibration electrons alone: the spread at E0 scaled as sampling fluctuations,
    said in the log and in the reference."""
    cols = {k: v[(data[0]["trigger"] & CALIBRATION_BIT) > 0] for k, v in data[0].items()}
    with caplog.at_level(logging.WARNING, logger="processors.reference"):
        ref = derive(cols)
    assert ref.fallback is not None and "energy dependence not measurable" in ref.fallback
    assert "energy dependence not measurable" in caplog.text
    full = derive(data[0])
    e_cal = ref.bins[-1].energy
    np.testing.assert_allclose(ref.sigma_at(e_cal), full.bins[-1].sigma, rtol=1e-12)
    np.testing.assert_allclose(ref.sigma_at(e_cal / 4), 2 * ref.sigma_at(e_cal), rtol=1e-12)


def test_an_old_or_foreign_reference_json_is_refused(data):
    ref = derive(data[0])
    assert ShowerReference.from_json(ref.to_json()) == ref
    old = {"central_cell": [3, 3], "mean": [0.1] * 9, "sigma": [0.01] * 9, "n_events": 20000}
    with pytest.raises(ValueError, match="layout 1"):
        ShowerReference.from_json(old)


def _rejection(q: EventQuantities, mask: np.ndarray, chi2_max: float) -> float:
    return float(1 - np.count_nonzero(mask & (q.chi2 < chi2_max)) / np.count_nonzero(mask))


def test_hadrons_are_rejected_as_well_as_by_the_energy_independent_reference(data):
    """Against today's reference (100 GeV calibration electrons, chi2 < 21.7) on the same
    events: electroproduction (process 1) reaching the chi2 cut is rejected at least as
    often; beam hadrons (process 3, SRD tag left out: it removes them all) that shower in
    the ECAL are rejected as before, and those that pass are punch-through MIPs whose
    energy is in the HCAL, outside the box."""
    cols = data[0]
    fitted = derive(cols)
    cal = (cols["trigger"] & CALIBRATION_BIT) > 0
    proc = ShowerReferenceProcessor(E0, 1.0, (3, 3))
    _, k, _, f = proc.select(cols.__getitem__)
    f = f[k == REFERENCE_SUMS_SHAPE[0] - 1]
    today = ShowerReference.from_sums((3, 3), len(f), f.sum(0), (f * f).sum(0))
    assert today.n_events > 0.9 * np.count_nonzero(cal)
    t = Thresholds()
    old_q = EventQuantities.compute(cols, today, (0, 1, 2, 3), ecal_scale=1.0)
    new_q = EventQuantities.compute(cols, fitted, (0, 1, 2, 3), ecal_scale=1.0)
    masks = {c.name: c(new_q, t, E0) for c in CHAIN if c.name not in ("shower_chi2", "veto")}
    reach = np.logical_and.reduce([m for name, m in masks.items() if name != "srd_tag"])
    ep = reach & masks["srd_tag"] & (new_q.mc_process == 1)
    assert ep.sum() > 10_000
    assert _rejection(new_q, ep, t.chi2_max) >= _rejection(old_q, ep, 21.7)
    hadrons = reach & (new_q.mc_process == 3)
    showering = hadrons & (new_q.e_ecal_raw > 1.0)
    assert showering.sum() > 3_000
    assert _rejection(new_q, showering, t.chi2_max) >= _rejection(old_q, showering, 21.7)
    passing = hadrons & (new_q.chi2 < t.chi2_max)
    assert np.all(new_q.e_hcal_raw[passing] > t.box_hcal_max)


@pytest.fixture(scope="module")
def signal_samples(tmp_path_factory, period):
    """A' samples as ``na64 signal`` simulates them (2000 A' events, process-0 electrons)."""
    x_min = 1.0 - period.cuts.box_ecal_max / E0
    out = {}
    for mass in MASSES:
        d = tmp_path_factory.mktemp(f"m{mass * 1e3:g}")
        spec = SignalSpec(mass, 2000,
                          lambda n, rng, m=mass: sample_energy_fraction(m, E0, n, rng, threshold_fraction=x_min),
                          electron_share=ELECTRON_SHARE)
        simulate_period(period, 0, d, seed=11, signal=spec)
        out[mass] = read(d)
    return out


@pytest.mark.parametrize("mass", MASSES)
def test_the_chi2_cut_keeps_85_percent_of_the_aprime_showers(signal_samples, mass):
    """Each sample with the reference of its own electrons, through the search processor:
    of the A' events (process 6) reaching the chi2 cut, >= 85 % pass it."""
    cols = signal_samples[mass]
    reference = derive(cols)
    assert reference.fallback is None
    assert min(b.energy for b in reference.bins) < 2.0  # measured down to ~1 GeV
    assert all(b.n_events >= MIN_BIN_EVENTS for b in reference.bins)
    proc = InvisibleSearchProcessor(PeriodSetup("2022", E0), reference, [nominal(Thresholds())], blinded=False)
    h = proc.process_columns(cols).hists["cutflow_by_process"][{"variation": "nominal", "process": 6}].values()
    steps = ["physics_trigger", *(c.name for c in CHAIN)]
    reach, passed = h[steps.index("central_cell")], h[steps.index("shower_chi2")]
    assert reach > 1000
    assert passed / reach >= 0.85, f"{mass} GeV: {passed} of {reach}"
