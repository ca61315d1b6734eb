"""CLs limits under hostile inputs (review of 2026-12-01): any POI scale, huge observed
counts, and expected bands at very low background."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pytest
import typer
from scipy import optimize, special, stats
from typer.testing import CliRunner

from workflows.stats.limits import choose_method, cls_scan, make_problem, upper_limit

LN10 = math.log(10.0)  # the 90% CL limit in signal events at zero observed events
SCALES = (1e-6, 1.0, 1e4)  # signal events per unit POI


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


def two_bin(scale: float, observed: tuple[float, float] = (0, 0), **kwargs) -> dict:
    """``scale`` signal events per unit POI over two bins, background 0.05 +- 30%."""
    return workspace([0.6 * scale, 0.4 * scale], [0.03, 0.02], list(observed),
                     [normsys("bkg", 1.3)], **kwargs)


def poisson_cls_limit(n: int, b: float, alpha: float = 0.1) -> float:
    """Signal s with P(N <= n | b + s) / P(N <= n | b) = alpha (Read, J. Phys. G 28 (2002) 2693)."""
    def excess(s: float) -> float:
        return stats.poisson.cdf(n, b + s) / stats.poisson.cdf(n, b) - alpha

    return float(optimize.brentq(excess, 1e-9, n + 50 + 20 * math.sqrt(n + 1), xtol=1e-13,
                                 rtol=1e-13))


def _events(result, scale: float) -> np.ndarray:
    return np.array([result.observed, *result.expected]) * scale


# --------------------------------------------------------------------------------------
# 1. The POI may have any scale: the limit in events does not depend on it
# --------------------------------------------------------------------------------------


def test_asymptotic_limit_in_events_is_scale_free() -> None:
    reference = _events(upper_limit(two_bin(1.0), method="asymptotic"), 1.0)
    for scale in (*SCALES, 2.5e-3, 3e5):
        events = _events(upper_limit(two_bin(scale), method="asymptotic"), scale)
        np.testing.assert_allclose(events, reference, rtol=1e-4, err_msg=f"scale {scale:g}")


@pytest.mark.parametrize("scale", [1e-4, 1e4])
def test_shapefactor_poi_is_scale_free(scale: float) -> None:
    """A one-bin shapefactor is a POI too (a free factor of the signal)."""
    def spec(s: float) -> dict:
        ws = counting(s, 0.05, 0, [normsys("bkg", 1.3)])
        ws["channels"][0]["samples"][0]["modifiers"] = [
            {"name": "mu", "type": "shapefactor", "data": None}]
        return ws

    reference = _events(upper_limit(spec(1.0), method="asymptotic"), 1.0)
    events = _events(upper_limit(spec(scale), method="asymptotic"), scale)
    np.testing.assert_allclose(events, reference, rtol=1e-4)


@pytest.mark.parametrize("scale", [*SCALES, 3e5])
@pytest.mark.parametrize("n", [0, 3])
def test_exact_limit_in_events_is_scale_free(scale: float, n: int) -> None:
    result = upper_limit(counting(scale, 0.05, n), method="exact")
    assert result.observed * scale == pytest.approx(poisson_cls_limit(n, 0.05), rel=1e-7)


def test_toy_limit_in_events_is_scale_free() -> None:
    """Same seed, same toys: POI scales that differ by powers of ten give one answer."""
    results = {scale: upper_limit(two_bin(scale), method="toys", ntoys=50, seed=2,
                                  npoints=5) for scale in SCALES}
    reference = _events(results[1.0], 1.0)
    assert 0.5 * LN10 < reference[0] < 2.0 * LN10  # zero observed: ~2.30 events (50 toys)
    for scale, result in results.items():
        np.testing.assert_allclose(_events(result, scale), reference, rtol=1e-5,
                                   err_msg=f"scale {scale:g}")


def test_limit_above_the_workspace_poi_bound_is_found_and_noted() -> None:
    """POI bounds [0, 10] from the workspace, limit ~2e6: widen, and say so."""
    spec = two_bin(1e-6, poi_parameters=[{"name": "mu", "bounds": [[0, 10]]}])
    result = upper_limit(spec, method="asymptotic")
    reference = upper_limit(two_bin(1.0), method="asymptotic")
    assert result.observed * 1e-6 == pytest.approx(reference.observed, rel=1e-4)
    assert any("upper bound" in note for note in result.notes), result.notes


@pytest.mark.parametrize("method", ["asymptotic", "exact"])
def test_cls_scan_takes_the_workspace_poi(method: str) -> None:
    """cls_scan's POI values are the workspace's, whatever the internal unit."""
    spec = counting(1e6, 0.05, 0)
    limit = upper_limit(spec, method=method)
    half, observed, median = 0.5 * limit.observed, limit.observed, limit.expected[2]
    scan = cls_scan(spec, [half, observed, median], method=method)
    cls_observed = dict(zip(scan.mu, scan.cls_observed))
    cls_median = dict(zip(scan.mu, scan.cls_expected[2]))
    assert cls_observed[observed] == pytest.approx(0.1, rel=1e-6)
    assert cls_observed[half] > 0.2
    assert cls_median[median] == pytest.approx(0.1, rel=1e-6)




def _cli_limit(cli: typer.Typer, path: Path, *args: str) -> dict:
    result = CliRunner().invoke(cli, ["limit", "-w", str(path), "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_cli_huge_signal_per_unit_poi(cli, tmp_path: Path) -> None:
    """The review's case: 1e6 signal events per bin per unit POI, 0 observed, background
    0.05 +- 30%: the limit is ~2.3 / 2e6 = 1.15e-6, not ~1 (fits that start at POI 1)."""
    big = workspace([1e6, 1e6], [0.025, 0.025], [0, 0], [normsys("bkg", 1.3)])
    path = tmp_path / "big.json"
    path.write_text(json.dumps(big), encoding="utf-8")
    unit = workspace([1.0, 1.0], [0.025, 0.025], [0, 0], [normsys("bkg", 1.3)])
    for method in ("asymptotic", "auto"):
        args = ("--method", method, "--ntoys", "50")
        payload = _cli_limit(cli, path, *args)
        reference = upper_limit(unit, method=method, ntoys=50, seed=0)
        assert payload["method"] == reference.method
        assert payload["observed"] == pytest.approx(reference.observed * 1e-6, rel=1e-5)
        np.testing.assert_allclose(payload["expected"], np.array(reference.expected) * 1e-6,
                                   rtol=1e-5)
    assert payload["method"] == "toys"  # auto: zero observed, low background, a nuisance
    assert 0.5 * 1.15e-6 < payload["observed"] < 2.0 * 1.15e-6  # 50 toys


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


def test_exact_at_an_extreme_deficit() -> None:
    """3 observed over a background of 1000: P(N <= 3) ~ 1e-425 underflows a double; the
    ratio of the CDFs is e^-s * sum_j (b + s)^j / j! / sum_j b^j / j! (j <= 3)."""
    b, n = 1000.0, 3

    def poly(x: float) -> float:
        return sum(x**j / math.factorial(j) for j in range(n + 1))

    reference = optimize.brentq(lambda s: math.exp(-s) * poly(b + s) / poly(b) - 0.1, 0.1, 10,
                                xtol=1e-14)
    result = upper_limit(counting(1.0, b, n))
    assert result.method == "exact"
    assert result.observed == pytest.approx(reference, rel=1e-7)


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


def test_toy_band_with_signal_uncertainties_is_never_below_the_zero_event_limit() -> None:
    """The merged counting model of ``na64 fit`` (the demo's background, 0.109 +- 0.024,
    and the signal's EOT, efficiency and yield uncertainties): a repetition of the
    measurement varies the counts, not the auxiliary measurements, so no band value falls
    below the zero-count limit (the -2 sigma was 1.65 events when toys also sampled the
    signal constraints)."""
    from workflows.stats.exclusion import merged_counting_workspace, signal_rel_error

    spec = merged_counting_workspace(0, 0.109, 0.024, signal_rel_error())
    result = upper_limit(spec, method="toys", ntoys=200, seed=3, npoints=5)
    assert min(result.expected) >= LN10 * 0.97, result.expected  # 200 toys
    assert result.expected[2] == pytest.approx(result.expected[0], rel=1e-9)  # P(n = 0) = 0.9


@pytest.mark.parametrize("b", [0.05, 0.1])
def test_exact_band_is_never_below_the_zero_event_limit(b: float) -> None:
    result = upper_limit(counting(1.0, b, 0), method="exact")
    assert min(result.expected) >= LN10 * (1 - 1e-8)
    assert result.expected[2] == pytest.approx(LN10, rel=1e-8)
    # +2 sigma (97.7%): P(n = 0) = exp(-b) < 0.977, so the n = 1 limit
    assert result.expected[4] == pytest.approx(poisson_cls_limit(1, b), rel=1e-7)
