"""Closure: inject A' -> invisible events of a known epsilon into simulated data, process
unblinded, fit, and recover epsilon within its uncertainty."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml

from workflows.processing.catalog import load_period
from workflows.processing.periods import run_processing
from workflows.runtime.cluster import ClusterOptions
from workflows.signal.aprime import sample_energy_fraction, yield_per_eot
from workflows.signal.efficiency import measure
from workflows.simulation import SignalSpec, simulate_period
from workflows.stats.exclusion import PeriodSignal, merged_exclusion
from workflows.stats.fit import fit_results

pytestmark = [pytest.mark.distributed, pytest.mark.slow]

MASS = 0.02  # GeV
EPS_TRUE = 0.05  # large, so that a small sample holds a few tens of A' events


def write_catalog(directory, eot=None):
    directory.mkdir(parents=True, exist_ok=True)
    data = {"name": "closure", "beam": {"particle": "e-", "energy": 100.0, "intensity": 6.0e6},
            "eot": eot or 1.0, "files": ["../data/*.root"]}
    path = directory / "closure.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def closure(tmp_path_factory):
    root = tmp_path_factory.mktemp("closure")
    cat = write_catalog(root / "catalog")
    period = load_period(cat)
    # Background first, to learn the exposure the sample represents.
    background = simulate_period(period, 60_000, root / "data", seed=21)
    eot = background.eot_equivalent
    threshold = period.beam.energy - period.cuts.box_ecal_max
    produced = eot * float(yield_per_eot(MASS, 100.0, threshold)) * (EPS_TRUE / 1e-4) ** 2
    n_inject = int(round(produced))
    spec = SignalSpec(MASS, n_inject, lambda n, rng: sample_energy_fraction(
        MASS, 100.0, n, rng, threshold_fraction=threshold / 100.0))
    simulate_period(period, 60_000, root / "data", seed=21, signal=spec)
    write_catalog(root / "catalog", eot)
    options = ClusterOptions(workers=2)
    run_processing(root / "catalog", root / "results", unblind=True, cluster=options, progress=False)
    efficiency = measure(root / "catalog", root / "results", masses=(MASS,), n_events=3000, seed=5,
                         cluster=options)
    report = fit_results(root / "results", unblind=True, efficiency=root / "results" / "signal_efficiency.json",
                         n_masses=5, ntoys=300)
    return {"eot": eot, "n_inject": n_inject, "efficiency": efficiency, "report": report.to_json(),
            "threshold": threshold}


def test_injected_signal_recovers_epsilon(closure):
    eff = float(closure["efficiency"].at("closure", MASS))
    observed = closure["report"]["observed_box"]
    background = closure["report"]["background"]["total"]
    per_eps2 = closure["eot"] * eff * float(yield_per_eot(MASS, 100.0, closure["threshold"]))
    eps_hat = 1e-4 * math.sqrt(max(observed - background, 0.0) / per_eps2)
    # Relative error on epsilon: half the relative error of the signal count, which has
    # the Poisson error of the box and the binomial error of the efficiency (3000 events).
    rel_eff = math.sqrt(eff * (1 - eff) / 3000) / eff
    rel_eps = 0.5 * math.hypot(1 / math.sqrt(max(observed, 1)), rel_eff)
    assert observed >= 10, "the closure sample must hold a measurable signal"
    assert abs(eps_hat - EPS_TRUE) < 2 * rel_eps * EPS_TRUE, (eps_hat, EPS_TRUE, rel_eps)


def test_observed_limit_sits_above_the_injected_signal(closure):
    """With the signal in the box, the observed 90 % limit on epsilon must lie above eps_true."""
    row = min(closure["report"]["exclusion"]["masses"], key=lambda r: abs(r["m_aprime"] - MASS))
    assert row["eps90_observed"] is not None
    # The interpolated mass is within 20 % of MASS; the limit at MASS scales the same way.
    assert row["eps90_observed"] > 0.8 * EPS_TRUE


def test_epsilon_limit_scales_as_inverse_square_root_of_signal():
    masses = np.array([0.01, 0.1])
    signal = PeriodSignal("p", 1e11, 100.0, 50.0, np.array([0.5, 0.5]))
    exclusion, limit = merged_exclusion(masses, [signal], 0, 0.0, 0.0, method="asymptotic")
    events = signal.events(masses)
    # eps^2 x (events at eps = 1e-4) / 1e-8 is the limit on the signal count, at every mass.
    np.testing.assert_allclose(exclusion.eps_expected[2] ** 2 * events, 1e-8 * limit.expected[2], rtol=1e-9)
    np.testing.assert_allclose(exclusion.eps_observed ** 2 * events, 1e-8 * limit.observed, rtol=1e-9)
    assert events[0] > events[1] > 0
