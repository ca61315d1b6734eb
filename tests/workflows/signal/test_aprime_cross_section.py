"""A' production cross-section on lead: form factors, IWW, K-factors, DMG4 reference values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad

from workflows.signal.aprime import cross_section as cs
from workflows.signal.aprime import dsigma_dx, sigma_total_pb
from workflows.signal.aprime import form_factors as ff
from workflows.signal.aprime.constants import M_ELECTRON, Z_PB
from workflows.signal.aprime.k_factors import K_TABLE, K_TABLE_ENERGIES, K_TABLE_MASSES, k_factor

# DMG4 reference ETL total cross-sections [pb] for A' on Pb (Z=82, A=207) at eps = 1e-4.
# Source: DMG4 (Bondi et al., CPC 269 (2021) 108129), test file
# examples/DarkMatterCS/testCS/DarkPhotonsSigmaTotETL.inc (arrays dataETL40 ... dataETL160),
# checked there by examples/DarkMatterCS/testCS/mkgeant4.cc to 0.5 %.
DMG4_MASSES = np.array([2, 4, 10, 20, 30, 50, 100, 200, 500, 1000]) * 1e-3  # GeV
DMG4_SIGMA_ETL = {
    40.0: [91056, 34846.3, 8284.3, 2454.88, 1127.41, 388.83, 80.2497, 14.1012, 0.949728, 0.0652509],
    60.0: [91179.7, 34968.3, 8390.31, 2540.82, 1192.78, 425.523, 91.5764, 16.9238, 1.29251, 0.1112],
    100.0: [91284.1, 35071.7, 8486.3, 2620.75, 1257.65, 466.909, 106.04, 20.7077, 1.79844,
            0.191974],
    140.0: [91331, 35118.5, 8530.65, 2659.54, 1290.7, 490.22, 115.488, 23.3311, 2.17081, 0.259455],
    160.0: [91397.1, 35132.9, 8544.49, 2671.91, 1301.48, 498.221, 119.076, 24.3661, 2.32613,
            0.288934],
}
# DMG4 src/DarkMatter/DarkPhotons.cc comment: "Ref. value ETL MA=0.0167, E0=150: 3643 pb".
DMG4_X17_150GEV_PB = 3643.0
# DMG4 ETL table value at m = 1 MeV, E0 = 100 GeV (dataETL100, first entry at 1 MeV).
DMG4_1MEV_100GEV_PB = 212418.0


def test_chi_numeric_matches_elastic_closed_form() -> None:
    m = np.array([1e-3, 1.67e-2, 0.1, 0.5, 1.0])
    for e0 in (50.0, 100.0, 150.0):
        tmin, tmax = ff.iww_t_bounds(m, e0)
        num = ff.chi_numeric(tmin, tmax, inelastic=False)
        exact = ff.chi_elastic_analytic(tmin, tmax)
        np.testing.assert_allclose(num, exact, rtol=1e-7)


def test_chi_point_nucleus_unscreened_limit() -> None:
    # d -> infinity (A -> 0) and t_min -> 0: chi/Z^2 = ln((ta+tmax)/ta) - tmax/(ta+tmax).
    ta = ff.screening_t(Z_PB)
    tmax = np.array([1e-8, 1e-6, 1e-3])
    num = ff.chi_numeric(1e-30, tmax, a_mass=1e-15, inelastic=False) / Z_PB**2
    exact = np.log((ta + tmax) / ta) - tmax / (ta + tmax)
    np.testing.assert_allclose(num, exact, rtol=1e-6)


def test_inelastic_term_is_a_one_over_z_correction() -> None:
    m = np.array([2e-3, 2e-2, 0.2, 1.0])
    tmin, tmax = ff.iww_t_bounds(m, 100.0)
    ratio = ff.chi_numeric(tmin, tmax) / ff.chi_numeric(tmin, tmax, inelastic=False)
    assert np.all(ratio > 1.005) and np.all(ratio < 1.04)


@pytest.mark.parametrize("k", [True, False])
def test_sigma_scales_as_epsilon_squared(k: bool) -> None:
    m = np.geomspace(1e-3, 1.0, 7)
    s1 = sigma_total_pb(m, 100.0, epsilon=1e-4, k_factor=k)
    s2 = sigma_total_pb(m, 100.0, epsilon=3e-3, k_factor=k)
    np.testing.assert_allclose(s2 / s1, (3e-3 / 1e-4) ** 2, rtol=1e-12)
    np.testing.assert_allclose(
        cs.dsigma_dx_a14_pb(0.9, m, 100.0, 2e-4) / cs.dsigma_dx_a14_pb(0.9, m, 100.0, 1e-4), 4.0
    )


@pytest.mark.parametrize("mass", [1e-3, 1.67e-2, 0.2, 1.0])
@pytest.mark.parametrize("k", [True, False])
def test_dsigma_dx_integrates_to_sigma_total(mass: float, k: bool) -> None:
    e0 = 100.0
    lo, hi = (float(a) for a in cs.x_limits(mass, e0))
    peak = max((M_ELECTRON / mass) ** 2, M_ELECTRON / e0)
    val, _ = quad(lambda x: float(dsigma_dx(x, mass, e0, k_factor=k)), lo, hi,
                  points=[1 - 30 * peak, 1 - peak], limit=2000, epsabs=0, epsrel=1e-10)
    assert val == pytest.approx(float(sigma_total_pb(mass, e0, k_factor=k)), rel=1e-6)


def test_a14_shape_integral_matches_adaptive_quadrature() -> None:
    for mass in (1e-3, 5e-3, 0.05, 0.3, 1.0):
        lo, hi = (float(a) for a in cs.x_limits(mass, 100.0))
        peak = max((M_ELECTRON / mass) ** 2, M_ELECTRON / 100.0)
        ref, _ = quad(lambda x: float(cs.a14_shape(np.float64(x), np.float64(mass))), lo, hi,
                      points=[1 - 30 * peak, 1 - peak], limit=2000, epsabs=0, epsrel=1e-11)
        assert float(cs.shape_integral(lo, hi, mass)) == pytest.approx(ref, rel=1e-8)


def test_leading_log_estimate_matches_a14_integral() -> None:
    # For m_e << m << sqrt(m_e E0) the (A14) integral is (4/3) ... ln(m^2/m_e^2) up to
    # non-logarithmic O(1/ln) terms: BEST Eq. (A15) versus BEST Eq. (A14).
    m = np.array([0.01, 0.02, 0.05, 0.1])
    ratio = cs.sigma_iww_a14_pb(m, 100.0) / cs.sigma_iww_estimate_pb(m, 100.0)
    assert np.all(np.abs(ratio - 1.0) < 0.06)


def test_k_factor_table_nodes_and_definition() -> None:
    mm, ee = np.meshgrid(K_TABLE_MASSES, K_TABLE_ENERGIES, indexing="ij")
    np.testing.assert_allclose(k_factor(mm, ee), K_TABLE, rtol=1e-12)
    ratio = sigma_total_pb(mm, ee, k_factor=False) / sigma_total_pb(mm, ee, k_factor=True)
    np.testing.assert_allclose(ratio, K_TABLE, rtol=1e-12)
    # bilinear midpoint and clamping outside the table (DMG4 behaviour)
    assert k_factor(0.015, 100.0) == pytest.approx(0.5 * (1.08268 + 1.20018))
    assert k_factor(2.0, 300.0) == pytest.approx(K_TABLE[-1, -1])


@pytest.mark.parametrize("e0", sorted(DMG4_SIGMA_ETL))
def test_sigma_total_agrees_with_dmg4(e0: float) -> None:
    ours = sigma_total_pb(DMG4_MASSES, e0)
    ratio = ours / np.array(DMG4_SIGMA_ETL[e0])
    # we include BEST's inelastic form factor (A19) and t_max = m^2 + m_e^2; DMG4's analytic
    # IWW uses the elastic term and t_max = m^2 only: +1.3 % to +3.8 % expected (largest at
    # 1 GeV and 40 GeV, where t_min is largest and the proton term matters most).
    assert np.all(ratio > 1.0) and np.all(ratio < 1.045), ratio


def test_sigma_total_dmg4_point_values() -> None:
    assert float(sigma_total_pb(0.0167, 150.0)) == pytest.approx(DMG4_X17_150GEV_PB, rel=0.03)
    assert float(sigma_total_pb(1e-3, 100.0)) == pytest.approx(DMG4_1MEV_100GEV_PB, rel=0.03)


def test_sub_mev_continuation_close_to_dmg4_etl_table() -> None:
    # Below 1 MeV DMG4 uses tabulated ETL totals (dataETL100 at 0.5 and 0.8 MeV); our
    # anchored continuation of the (A14) integral is not tuned to them.
    ours = sigma_total_pb(np.array([5e-4, 8e-4]), 100.0)
    np.testing.assert_allclose(ours / np.array([423870.0, 268283.0]), 1.0, atol=0.05)


def test_mass_dependence_one_over_m_squared() -> None:
    # Where chi and ln(1/delta) are nearly constant, sigma ~ 1/m^2 (ETL).
    s = sigma_total_pb(np.array([0.02, 0.1]), 100.0)
    slope = np.log(s[1] / s[0]) / np.log(5.0)
    assert slope == pytest.approx(-2.0, abs=0.1)
    # Between 300 MeV and 1 GeV the nuclear form factor (t_min -> d) and the
    # delta = m^2/E0^2 cut-off steepen it to about -3; DMG4 reference slope there:
    hi = sigma_total_pb(np.array([0.3, 1.0]), 100.0)
    ours = np.log(hi[1] / hi[0]) / np.log(1.0 / 0.3)
    ref = np.log(0.191974 / 7.37425) / np.log(1.0 / 0.3)  # DMG4 dataETL100 at 300, 1000 MeV
    assert ours == pytest.approx(ref, abs=0.05)
    assert -3.3 < ours < -2.0
    # and the 1/m^2 factor itself: sigma m^2 / (chi beta ln(1/delta)) is mass independent
    m = np.array([0.3, 1.0])
    delta = np.maximum((M_ELECTRON / m) ** 2, (m / 100.0) ** 2)
    reduced = cs.sigma_iww_estimate_pb(m, 100.0) * m**2 / (
        ff.chi_iww(m, 100.0) * np.sqrt(1 - (m / 100.0) ** 2) * -np.log(delta))
    assert reduced[1] / reduced[0] == pytest.approx(1.0, rel=1e-12)


def test_spectrum_hardens_with_mass_and_energy_growth() -> None:
    x = np.array([0.3, 0.6, 0.9, 0.99])
    for m in (0.01, 0.1, 1.0):
        d = dsigma_dx(x, m, 100.0)
        assert np.all(np.diff(d) > 0)  # dsigma/dx rises towards x -> 1 for m >> m_e
    # cross-section grows with beam energy at high mass (t_min = (m^2/2E0)^2 falls)
    s = sigma_total_pb(1.0, np.array([40.0, 100.0, 160.0]))
    assert np.all(np.diff(s) > 0)


def test_small_x_limit_of_a14() -> None:
    # x -> x_min: dsigma/dx -> 4 alpha^3 eps^2 chi beta x/m^2 (linear rise, BEST (A14)).
    m, e0 = 0.1, 100.0
    x = np.array([2e-3, 4e-3])
    d = cs.dsigma_dx_a14_pb(x, m, e0)
    assert d[1] / d[0] == pytest.approx(2.0, rel=5e-3)
