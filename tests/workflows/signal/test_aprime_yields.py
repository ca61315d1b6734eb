"""Shower track length, A' yield per EOT, x sampling and the PRD 97, 072002 Table V check."""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy.special import gamma as gamma_fn
from scipy.stats import kstest

from workflows.signal.aprime import bremsstrahlung_per_eot, sample_energy_fraction, yield_per_eot, yield_summary
from workflows.signal.aprime import cross_section as cs
from workflows.signal.aprime import reproduction as rep
from workflows.signal.aprime import track_length as tl
from workflows.signal.aprime.constants import EULER_GAMMA, N_ATOMS_PB_CM3, PB_TO_CM2, TSAI_B

# ---------------------------------------------------------------- track length (Tsai, approx. B)


def test_primary_track_length_small_v_asymptotics() -> None:
    # G(v) = (1/b) int_0^inf v^r/Gamma(1+r) dr (1 + O(v)) = (1/(b L)) (1 + gamma_E/L + O(1/L^2)),
    # L = ln(1/v): the primary spends a track ~1/(b ln(1/v)) X0 within dE/E0 < v of E0.
    for v in (1e-12, 1e-9):
        big_l = np.log(1.0 / v)
        value = float(tl.primary_cumulative(v)[0]) * TSAI_B * big_l
        assert value == pytest.approx(1.0 + EULER_GAMMA / big_l, abs=3.0 / big_l**2)


def test_track_length_laplace_transforms_match_closed_forms() -> None:
    v, l_p = tl.cumulative_track_length(12.0, step=0.02, secondaries=False)
    _, l_all = tl.cumulative_track_length(12.0, step=0.02)
    mid = 0.5 * (v[1:] + v[:-1])
    for s in (2.0, 3.0, 5.0):
        weight = np.exp(-s * mid)
        primary, cascade = float(tl.laplace_primary(s)), float(tl.laplace_cascade(s))
        assert np.sum(weight * np.diff(l_p)) == pytest.approx(primary, rel=1e-3)
        assert np.sum(weight * np.diff(l_all)) == pytest.approx(cascade, rel=1e-3)


def test_primary_energy_weighted_track_length() -> None:
    # s = 1 moment of the primary: int E dL = E0 X0 / (b ln 2) (approximation B energy loss)
    v, l_p = tl.cumulative_track_length(30.0, step=0.05, secondaries=False)
    mid = 0.5 * (v[1:] + v[:-1])
    expected = 1.0 / (TSAI_B * np.log(2.0))
    assert np.sum(np.exp(-mid) * np.diff(l_p)) == pytest.approx(expected, rel=2e-3)


def test_ecal_material_model() -> None:
    # seeds/003: "40X0 Pb/Sc ... 150 x (1.5 mm Pb + 1.5 mm Sc)"
    assert tl.ecal_depth_x0() == pytest.approx(40.6, abs=0.1)
    assert tl.pb_path_per_x0_cm() == pytest.approx(0.554, abs=0.002)
    assert N_ATOMS_PB_CM3 == pytest.approx(3.30e22, rel=2e-3)


# ---------------------------------------------------------------- yields


def test_yield_matches_depth_resolved_tsai_integral() -> None:
    """Primary-only yield vs direct integration over depth t of Tsai's I_e(E0, E, t)."""
    mass, e0, thr = 0.0167, 100.0, 50.0
    vmax = np.log(e0 / thr)
    nodes, weights = np.polynomial.legendre.leggauss(200)

    def integrand_at_depth(t: float) -> float:
        a = TSAI_B * t  # Gamma(a) law of v = ln(E0/E); substitute w = v^a, v in [0, vmax]
        w = 0.5 * vmax**a * (nodes + 1.0)
        v = w ** (1.0 / a)
        energy = e0 * np.exp(-v)
        f = cs.sigma_total_pb(mass, energy) * cs.fraction_above(thr / energy, mass, energy)
        return float(0.5 * vmax**a * np.sum(weights * np.exp(-v) * f) / gamma_fn(a + 1.0))

    t_nodes, t_weights = np.polynomial.legendre.leggauss(120)
    t_max = 25.0  # [X0]; beyond, P(E > E0/2) < 1e-12
    # the integrand is smooth in u = sqrt(t): dt = 2 u du
    us = np.sqrt(t_max) * 0.5 * (t_nodes + 1.0)
    direct = sum(w * 2 * u * integrand_at_depth(u * u) for u, w in zip(us, t_weights))
    direct *= 0.5 * np.sqrt(t_max)
    expected = direct * N_ATOMS_PB_CM3 * tl.pb_path_per_x0_cm() * PB_TO_CM2
    ours = bremsstrahlung_per_eot(mass, e0, thr, secondaries=False)
    assert ours == pytest.approx(expected, rel=3e-3)


def test_yield_scales_as_epsilon_squared() -> None:
    m = np.array([2e-3, 2e-2, 0.2])
    np.testing.assert_allclose(bremsstrahlung_per_eot(m, epsilon=3e-4) / bremsstrahlung_per_eot(m, epsilon=1e-4), 9.0,
                               rtol=1e-12)


def test_secondaries_are_a_small_positive_correction() -> None:
    m = np.array([1e-3, 1.67e-2, 0.1, 1.0])
    ratio = bremsstrahlung_per_eot(m) / bremsstrahlung_per_eot(m, secondaries=False)
    assert np.all(ratio > 1.03) and np.all(ratio < 1.12)


@pytest.mark.parametrize("k", [True, False])
def test_bremsstrahlung_decreases_monotonically_with_mass(k: bool) -> None:
    m = np.geomspace(3e-3, 1.0, 30)
    y = bremsstrahlung_per_eot(m, k_factor=k)
    assert np.all(np.diff(y) < 0)
    assert np.all(y > 0)


def test_yield_threshold_and_energy_dependence() -> None:
    y = [bremsstrahlung_per_eot(0.02, 100.0, thr) for thr in (30.0, 50.0, 70.0, 90.0)]
    assert np.all(np.diff(y) < 0)
    # a heavy A' is produced more copiously by a higher-energy beam at the same x cut
    y_by_energy = [bremsstrahlung_per_eot(0.5, e0, 0.5 * e0) for e0 in (50.0, 100.0, 150.0)]
    assert np.all(np.diff(y_by_energy) > 0)


def test_yield_vectorised_equals_scalar_calls() -> None:
    m = np.array([1.1e-3, 2e-2, 0.3])
    vec = bremsstrahlung_per_eot(m, 100.0)
    one = np.array([bremsstrahlung_per_eot(float(x), 100.0) for x in m])
    np.testing.assert_allclose(vec, one, rtol=1e-13)
    assert isinstance(bremsstrahlung_per_eot(0.02), float)


def test_yield_summary_contract() -> None:
    d = yield_summary(0.0167, 100.0, 50.0)
    assert list(d) == ["mass", "energy", "threshold", "particle", "epsilon", "sigma_pb",
                       "bremsstrahlung_per_eot", "annihilation_per_eot", "yield_per_eot"]
    assert d["epsilon"] == 1e-4 and d["threshold"] == 50.0 and d["particle"] == "e-"
    assert d["sigma_pb"] == pytest.approx(float(cs.sigma_total_pb(0.0167, 100.0)))
    assert d["bremsstrahlung_per_eot"] == pytest.approx(bremsstrahlung_per_eot(0.0167, 100.0, 50.0))
    # E_R = 0.27 GeV at 16.7 MeV: far below the 50 GeV threshold, no annihilation
    assert d["annihilation_per_eot"] == 0.0
    assert d["yield_per_eot"] == pytest.approx(yield_per_eot(0.0167, 100.0, 50.0))
    assert yield_summary(0.0167, 100.0, None)["threshold"] == 50.0


def test_thirty_mass_scan_is_fast() -> None:
    m = np.geomspace(1e-3, 1.0, 30)
    start = time.perf_counter()
    yield_per_eot(m, 120.0, 55.0)  # a threshold not used elsewhere: includes the shower build
    yield_per_eot(m, 120.0, 55.0, k_factor=False, particle="e+")
    assert time.perf_counter() - start < 2.0


# ---------------------------------------------------------------- sampling


def test_sampled_mean_fraction_rises_with_mass() -> None:
    rng = np.random.default_rng(20180406)
    means = [sample_energy_fraction(m, 100.0, 40000, rng).mean() for m in (1e-3, 1e-2, 0.1, 1.0)]
    assert np.all(np.diff(means) > 0), means


@pytest.mark.parametrize("mass", [2e-3, 0.05, 0.8])
def test_sampled_spectrum_follows_dsigma_dx(mass: float) -> None:
    e0 = 100.0
    rng = np.random.default_rng(7)
    x = sample_energy_fraction(mass, e0, 20000, rng)
    lo, hi = (float(a) for a in cs.x_limits(mass, e0))
    total = float(cs.shape_integral(lo, hi, mass))

    def cdf(z: np.ndarray) -> np.ndarray:
        return cs.shape_integral(lo, np.clip(z, lo, hi), mass) / total

    assert kstest(x, cdf).pvalue > 1e-3
    # fraction above the NA64 cut agrees with the analytic integral
    assert np.mean(x > 0.5) == pytest.approx(float(cs.fraction_above(0.5, mass, e0)), abs=0.012)


def test_sampling_threshold_and_reproducibility() -> None:
    a = sample_energy_fraction(0.02, 100.0, 5000, np.random.default_rng(1), threshold_fraction=0.5)
    b = sample_energy_fraction(0.02, 100.0, 5000, np.random.default_rng(1), threshold_fraction=0.5)
    np.testing.assert_array_equal(a, b)
    assert a.min() >= 0.5 and a.max() <= 1.0
    assert sample_energy_fraction(0.02, 100.0, 0, np.random.default_rng(1)).shape == (0,)


# ---------------------------------------------------------------- PRD 97, 072002 Table V


def test_table_v_reproduction_without_k_factors() -> None:
    # eps_90 ours / published, 4.3e10 EOT, ASSUMED signal efficiency 0.7 (see reproduction.py).
    # Table V itself scatters by ~10 % in eps (e.g. 16.7 vs 20 MeV); worst case 2 MeV (1.27).
    ratio = rep.table_v_ratios(k_factor=False)
    assert np.all(ratio > 0.8) and np.all(ratio < 1.35), ratio


def test_table_v_reproduction_with_k_factors() -> None:
    ratio = rep.table_v_ratios(k_factor=True)
    low = rep.TABLE_V_MASSES <= 0.1
    assert np.all(ratio[low] > 0.8) and np.all(ratio[low] < 1.2), ratio
    # Above 100 MeV the published ETL limits are weaker than ours by a growing factor
    # (K_eff(950 MeV) ~ 15 there vs 2.1 in the final DMG4 table): pinned so changes show.
    high = ratio[~low]
    assert np.all(np.diff(high) < 0) and np.all(high > 0.35) and np.all(high < 0.8), high


def test_limit_scales_with_exposure_and_merges_runs() -> None:
    m = np.array([2e-3, 0.1])
    one = rep.epsilon_limit(m, (rep.Run("a", 4e10, 0.6),))
    four = rep.epsilon_limit(m, (rep.Run("a", 16e10, 0.6),))
    split = rep.epsilon_limit(m, (rep.Run("a", 1e10, 0.6), rep.Run("b", 3e10, 0.6)))
    np.testing.assert_allclose(one / four, 2.0, rtol=1e-12)
    np.testing.assert_allclose(split, one, rtol=1e-12)


def test_implied_efficiency_is_physical_on_average() -> None:
    eff = rep.implied_efficiency(k_factor=False)
    geo_mean = float(np.exp(np.mean(np.log(eff))))
    assert 0.5 < geo_mean < 1.0, eff
