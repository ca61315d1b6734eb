"""Sideband extrapolation into the signal box."""

from __future__ import annotations

import math

import hist
import numpy as np
import pytest

from processors.cuts import Thresholds
from processors.histograms import book
from workflows.stats.background import estimate_box_background, extrapolate


def rising_exponential(n: int, slope: float, lo: float, hi: float, rng) -> np.ndarray:
    u = rng.random(n)
    return np.log(np.exp(slope * lo) + u * (np.exp(slope * hi) - np.exp(slope * lo))) / slope


def spectrum(values, lo=0.0, hi=120.0, bins=120) -> hist.Hist:
    h = hist.Hist(hist.axis.Regular(bins, lo, hi, name="e_ecal"))
    h.fill(values)
    return h


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_exponential_sideband_extrapolates_to_the_truth(seed):
    rng = np.random.default_rng(seed)
    slope, n = 0.2, 3000
    spec = spectrum(rising_exponential(n, slope, 50, 80, rng))
    est = extrapolate(spec, [50, 55, 60], 80, (0.0, 50.0), "C")
    truth = n * (math.exp(slope * 50) - 1) / (math.exp(slope * 80) - math.exp(slope * 50))
    central_fit = next(f for f in est.fits if f.shape == "exponential" and f.fit_range[0] == 50)
    assert est.fitted and est.central == central_fit.extrapolated
    assert abs(est.central - truth) < 3 * central_fit.stat_error
    assert est.error >= central_fit.stat_error
    assert len(est.fits) == 9


def test_trigger_edge_is_left_out_of_the_c_fits():
    """A spectrum that turns over at the trigger threshold must not bias the extrapolation."""
    rng = np.random.default_rng(5)
    steep = rising_exponential(20000, 0.45, 50, 80, rng)
    # trigger turn-on: events above 76 GeV are kept with a falling efficiency
    keep = (steep < 76) | (rng.random(steep.size) < np.clip((80 - steep) / 4, 0, 1))
    hists = book(["nominal"], 100.0)
    hists["ecal_sideband_c"].fill(variation="nominal", e_ecal=steep[keep])
    hists["hcal_sideband_a"].fill(variation="nominal", e_hcal=rng.normal(60, 10, 80))
    est = estimate_box_background(hists, Thresholds(), 100.0)
    assert all(f.fit_range[1] <= 75.0 for f in est["C"].fits)
    n_below_75 = np.count_nonzero(steep[keep] < 75)
    truth = n_below_75 * (math.exp(0.45 * 50) - 1) / (math.exp(0.45 * 75) - math.exp(0.45 * 50))
    assert est["C"].central == pytest.approx(truth, rel=1.0)  # within a factor 2, not 1000
    # Sideband A is fitted on its low side only, up to its median.
    assert all(f.fit_range[1] <= 70.0 for f in est["A"].fits)


def test_empty_and_tiny_sidebands_give_zero_with_a_reason():
    est = extrapolate(spectrum([]), [50, 55, 60], 80, (0.0, 50.0), "C")
    assert not est.fitted and est.central == 0.0 and "0 events" in est.message
    est = extrapolate(spectrum([70.0, 75.0]), [50, 55, 60], 80, (0.0, 50.0), "C")
    assert not est.fitted and "too few for a fit" in est.message


def test_never_nan():
    rng = np.random.default_rng(9)
    for values in ([], [79.5] * 40, rng.uniform(50, 80, 30)):
        est = extrapolate(spectrum(values), [50, 55, 60], 80, (0.0, 50.0), "C")
        for x in (est.central, est.average, est.error):
            assert math.isfinite(x) and x >= 0
