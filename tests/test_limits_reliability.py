"""CLs limits under hostile inputs (review of 2026-12-01): huge observed counts, and
expected bands at very low background."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from scipy import optimize, special, stats

from workflows.limits import choose_method, make_problem, upper_limit

LN10 = math.log(10.0)  # the 90% CL limit in signal events at zero observed events


def normsys(name: str, k: float) -> dict:
    return {"name": name, "type": "normsys", "data": {"hi": k, "lo": 1.0 / k}}


def workspace(signal: list[float], background: list[float], observed: list[float],
              bkg_modifiers: list | None = None, poi_parameters: list | None = None) -> dict:
    """A one-channel workspace: signal (POI mu) and background per bin."""
    return {
        "channels": [{"name": "box", "samples": [
            {"name": "signal", "data": signal,
             "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
            {"name": "background", "data": background, "modifiers": bkg_modifiers or []}]}],
        "observations": [{"name": "box", "data": observed}],
        "measurements": [{"name": "meas", "config": {"poi": "mu",
                                                     "parameters": poi_parameters or []}}],
        "version": "1.0.0",
    }


def counting(s: float, b: float, n: float, bkg_modifiers: list | None = None) -> dict:
    return workspace([s], [b], [n], bkg_modifiers)


def poisson_cls_limit(n: int, b: float, alpha: float = 0.1) -> float:
    """Signal s with P(N <= n | b + s) / P(N <= n | b) = alpha (Read, J. Phys. G 28 (2002) 2693)."""
    def excess(s: float) -> float:
        return stats.poisson.cdf(n, b + s) / stats.poisson.cdf(n, b) - alpha

    return float(optimize.brentq(excess, 1e-9, n + 50 + 20 * math.sqrt(n + 1), xtol=1e-13,
                                 rtol=1e-13))


# --------------------------------------------------------------------------------------
# 2. Huge observed counts: auto stays cheap, exact is bounded
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [30_000, 10**9])
def test_auto_at_huge_observed_count_is_quick(n: int) -> None:
    start = time.perf_counter()
    result = upper_limit(counting(1.0, 0.05, n))
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0
    assert result.method in ("exact", "asymptotic")
    # P(N <= n | b) = 1 here, so the limit on b + s is Garwood's: Q(n + 1, b + s) = alpha
    garwood = special.gammainccinv(n + 1, 0.1) - 0.05
    assert result.observed == pytest.approx(garwood, rel=1e-6 if result.method == "exact"
                                            else 1e-3)
    if result.method == "exact":  # the band: limits at n = 0 (P = 0.95) and n = 1
        np.testing.assert_allclose(result.expected, [LN10] * 4 + [poisson_cls_limit(1, 0.05)],
                                   rtol=1e-7)


def test_auto_with_nuisance_at_huge_observed_count_is_asymptotic() -> None:
    spec = counting(1.0, 0.05, 30_000, [normsys("bkg", 1.3)])
    assert choose_method(make_problem(spec))[0] == "asymptotic"
    start = time.perf_counter()
    result = upper_limit(spec)
    assert time.perf_counter() - start < 10.0
    assert result.observed == pytest.approx(special.gammainccinv(30_001, 0.1) - 0.05, rel=1e-3)


@pytest.mark.parametrize(("b", "n"), [(400.0, 420), (200.0, 180)])
def test_exact_at_large_counts_agrees_with_asymptotic(b: float, n: int) -> None:
    exact = upper_limit(counting(1.0, b, n), method="exact")
    asym = upper_limit(counting(1.0, b, n), method="asymptotic")
    assert exact.observed == pytest.approx(poisson_cls_limit(n, b), rel=1e-7)
    assert exact.observed == pytest.approx(asym.observed, rel=0.02)
    np.testing.assert_allclose(exact.expected, asym.expected, rtol=0.04)


# --------------------------------------------------------------------------------------
# 3. The expected band is the distribution of the limits of background-only experiments
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("b", [0.05, 0.1])
@pytest.mark.parametrize("nuisance", [False, True])
def test_toy_band_is_never_below_the_zero_event_limit(b: float, nuisance: bool) -> None:
    """No pseudo-experiment has fewer than 0 events, so none has a limit below the n = 0
    limit (the observed one here, from the same toys); P(n = 0) > 0.5 puts the median on it."""
    spec = counting(1.0, b, 0, [normsys("bkg", 1.3)] if nuisance else None)
    result = upper_limit(spec, method="toys", ntoys=200, seed=7, npoints=5)
    assert min(result.expected) >= result.observed * (1 - 1e-6), result.expected
    assert result.expected[2] == pytest.approx(result.observed, rel=1e-6)
    assert result.observed == pytest.approx(LN10, rel=0.3)  # 200 toys


@pytest.mark.parametrize("b", [0.05, 0.1])
def test_exact_band_is_never_below_the_zero_event_limit(b: float) -> None:
    result = upper_limit(counting(1.0, b, 0), method="exact")
    assert min(result.expected) >= LN10 * (1 - 1e-8)
    assert result.expected[2] == pytest.approx(LN10, rel=1e-8)
    # +2 sigma (97.7%): P(n = 0) = exp(-b) < 0.977, so the n = 1 limit
    assert result.expected[4] == pytest.approx(poisson_cls_limit(1, b), rel=1e-7)
