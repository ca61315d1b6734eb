"""Resonant annihilation e+ e- -> A': cross-section, positron track length, yield, sampler.

Hand numbers use constants typed here (PDG 2022 values rounded as written), not the package's.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.special import gamma as gamma_fn

from workflows.signal.aprime import annihilation as an
from workflows.signal.aprime import (
    annihilation_per_eot,
    annihilation_share,
    aprime_yield,
    bremsstrahlung_per_eot,
    positron_track_length,
    resonance_energy,
    sample_signal_fraction,
    yield_per_eot,
)
from workflows.signal.aprime import track_length as tl

ALPHA = 1.0 / 137.036
ME = 0.000510999          # GeV
HBARC2_PB = 0.389379e9    # pb GeV^2
NA = 6.02214e23
EPS = 1e-4
B = 4.0 / 3.0
#: electrons per cm^3 of 1.5 mm Pb + 1.5 mm polystyrene (PDG: 11.35 g/cm3, Z/A 82/207.2; 1.06, 0.53768)
N_E = 0.5 * (11.35 * 82.0 / 207.2 + 1.06 * 0.53768) * NA
#: X0 of the sandwich [cm]: Pb 6.37/11.35 cm, polystyrene 43.79/1.06 cm
X0 = 1.0 / (0.5 / (6.37 / 11.35) + 0.5 / (43.79 / 1.06))


def hand_strength(m: float) -> float:
    """(2 pi^2 alpha eps^2 / m_e) (1 + 2 m_e^2/m^2) / beta (hbar c)^2 [pb GeV]."""
    beta = np.sqrt(1.0 - 4.0 * ME**2 / m**2)
    return 2.0 * np.pi**2 * ALPHA * EPS**2 / ME * (1.0 + 2.0 * ME**2 / m**2) / beta * HBARC2_PB


# ------------------------------------------------------------------ cross-section

@pytest.mark.parametrize("m", [0.0011, 0.0167, 0.25, 1.0])
def test_resonance_strength_closed_formula(m: float) -> None:
    assert float(an.resonance_strength_pb_gev(m)) == pytest.approx(hand_strength(m), rel=2e-5)
    assert float(resonance_energy(m)) == pytest.approx((m * m - 2 * ME * ME) / (2 * ME), rel=1e-5)


@pytest.mark.parametrize("m", [0.0015, 0.0167, 0.25])
def test_delta_strength_is_the_integral_of_the_pdg_breit_wigner(m: float) -> None:
    """Integrate the PDG Breit-Wigner (J=1 from two spin-1/2, k the CM momentum) of a narrow
    width over the lab positron energy E+ on an electron at rest: the delta coefficient."""
    beta = np.sqrt(1.0 - 4.0 * ME**2 / m**2)
    gamma_ee = ALPHA * EPS**2 * m / 3.0 * (1.0 + 2.0 * ME**2 / m**2) * beta
    gamma_tot = 1e-6 * m   # any narrow total width; B_in = Gamma_ee / Gamma_tot

    def sigma(e_plus: float) -> float:
        s = 2.0 * ME**2 + 2.0 * ME * e_plus
        k2 = s / 4.0 - ME**2
        lorentz = (gamma_tot**2 / 4.0) / ((np.sqrt(s) - m) ** 2 + gamma_tot**2 / 4.0)
        return 3.0 / 4.0 * 4.0 * np.pi / k2 * lorentz * gamma_ee / gamma_tot * HBARC2_PB

    def e_of(root_s: float) -> float:
        return (root_s**2 - 2.0 * ME**2) / (2.0 * ME)

    e_r = e_of(m)
    lo, hi = e_of(m - 2e4 * gamma_tot), e_of(m + 2e4 * gamma_tot)
    pieces = [(lo, e_r - 50 * gamma_tot * m / ME), (e_r - 50 * gamma_tot * m / ME, e_r + 50 * gamma_tot * m / ME),
              (e_r + 50 * gamma_tot * m / ME, hi)]
    total = sum(quad(sigma, a, b, limit=400, epsrel=1e-10)[0] for a, b in pieces)
    # the Lorentzian tails beyond +-2e4 widths hold 2/(pi 4e4) of it
    total /= 1.0 - 2.0 / (np.pi * 4e4)
    assert float(an.resonance_strength_pb_gev(m)) == pytest.approx(total, rel=1e-4)
    assert float(an.sqrt_s_integral_pb_gev(m)) == pytest.approx(total * ME / m, rel=1e-4)


def test_no_resonance_below_two_electron_masses() -> None:
    assert float(an.resonance_strength_pb_gev(0.001)) == 0.0
    assert annihilation_per_eot(0.001, 100.0, 0.0) == 0.0


def test_electron_density_of_the_sandwich() -> None:
    assert an.electron_density_cm3() == pytest.approx(N_E, rel=1e-5)
    assert an.electron_density_cm3() == pytest.approx(1.524e24, rel=1e-3)


# ------------------------------------------------------------------ positron track length

def hand_primary_dv(v: float) -> float:
    """dG/dv = (1/b) int_0^inf v^(r-1) e^(-v) / Gamma(r) dr by adaptive quadrature."""
    return quad(lambda r: v ** (r - 1.0) * np.exp(-v) / gamma_fn(r), 0.0, 80.0, limit=200)[0] / B


@pytest.mark.parametrize("v", [1e-3, 0.05, 0.36, 1.2])
def test_primary_density_against_direct_integral(v: float) -> None:
    assert float(an.primary_density_dv(v)[0]) == pytest.approx(hand_primary_dv(v), rel=1e-6)


def test_primary_density_is_the_derivative_of_the_cumulative() -> None:
    v = np.array([0.02, 0.3, 0.9])
    h = 1e-5
    fd = (tl.primary_cumulative(v + h) - tl.primary_cumulative(v - h)) / (2 * h)
    np.testing.assert_allclose(an.primary_density_dv(v), fd, rtol=1e-6)


def test_beam_spread_regulates_only_near_e0() -> None:
    e0 = 100.0
    far = np.array([50.0, 70.0, 90.0])
    np.testing.assert_allclose(an.primary_density_smeared(far, e0, 0.006),
                               an.primary_density_smeared(far, e0, 0.0), rtol=2e-3)
    near = an.primary_density_smeared(np.array([99.0, 100.0, 101.0, 106.0]), e0, 0.006)
    assert np.all(np.isfinite(near)) and near[1] > near[0] > 0 and near[2] > 0 and near[3] == 0.0
    # the smeared density holds the same track length: int over E of dL/dE from 90 GeV up
    e = np.linspace(90.0, 105.0, 3001)
    smeared = np.trapezoid(an.primary_density_smeared(e, e0, 0.006), e)
    sharp = float(tl.primary_cumulative(np.log(e0 / 90.0))[0])
    assert smeared == pytest.approx(sharp, rel=5e-3)


def test_secondary_positron_laplace_transform() -> None:
    """int e^(-s v) dL_secondary = laplace_cascade - laplace_primary (closed forms of the model);
    dL/dv = E dL/dE from the spline derivative of the cumulative."""
    e0 = 100.0
    v = np.linspace(1e-6, 11.0, 22001)
    dl_dv = an.secondary_density(e0 * np.exp(-v), e0) * e0 * np.exp(-v)
    for s in (2.0, 3.0, 5.0):
        ours = np.trapezoid(np.exp(-s * v) * dl_dv, v)
        assert ours == pytest.approx(float(tl.laplace_cascade(s) - tl.laplace_primary(s)), rel=2e-3)


def test_secondary_derivative_against_finer_cascade() -> None:
    e0, energies = 100.0, np.array([88.0, 61.0, 40.0])
    v, l_all = tl.cumulative_track_length(1.5, step=0.002)
    l_sec = l_all - tl.primary_cumulative(v)
    vr = np.log(e0 / energies)
    h = 0.004
    fd = (np.interp(vr + h, v, l_sec) - np.interp(vr - h, v, l_sec)) / (2 * h) / energies
    np.testing.assert_allclose(an.secondary_density(energies, e0), fd, rtol=5e-3)


def test_positrons_are_half_the_secondaries_plus_the_beam_positron() -> None:
    e = np.array([40.0, 61.0, 88.0])
    minus = positron_track_length(e, 100.0, "e-")
    plus = positron_track_length(e, 100.0, "e+")
    np.testing.assert_allclose(minus, 0.5 * an.secondary_density(e, 100.0), rtol=1e-12)
    np.testing.assert_allclose(plus - minus, an.primary_density_smeared(e, 100.0), rtol=1e-12)
    assert np.all(positron_track_length(e, 100.0, "e-", secondaries=False) == 0.0)
    with pytest.raises(ValueError, match="e-, e\\+"):
        positron_track_length(e, 100.0, "mu-")  # type: ignore[arg-type]


# ------------------------------------------------------------------ yield against hand numbers

def test_primary_positron_yield_hand_calculation() -> None:
    """e+ beam of 100 GeV, primary only, E_R = 70 GeV: n_e X0 S dG/dv / E_R."""
    e_r = 70.0
    m = np.sqrt(2 * ME * e_r + 2 * ME**2)
    hand = N_E * X0 * 1e-36 * hand_strength(m) * hand_primary_dv(np.log(100.0 / e_r)) / e_r
    ours = annihilation_per_eot(m, 100.0, 50.0, particle="e+", secondaries=False)
    assert ours == pytest.approx(hand, rel=2e-3)
    assert hand == pytest.approx(2.33e-11, rel=0.01)  # the number itself, for the record


def test_shower_positron_yield_hand_calculation() -> None:
    """e- beam of 100 GeV at 250 MeV (E_R = 61.2 GeV): half the secondary track length,
    differentiated by finite differences of a finer cascade."""
    m = 0.25
    e_r = (m * m - 2 * ME**2) / (2 * ME)
    v, l_all = tl.cumulative_track_length(1.0, step=0.002)
    l_sec = l_all - tl.primary_cumulative(v)
    vr, h = np.log(100.0 / e_r), 0.004
    dl_de = 0.5 * (np.interp(vr + h, v, l_sec) - np.interp(vr - h, v, l_sec)) / (2 * h) / e_r
    hand = N_E * X0 * 1e-36 * hand_strength(m) * dl_de
    assert annihilation_per_eot(m, 100.0, 50.0) == pytest.approx(hand, rel=5e-3)


def test_annihilation_scales_as_epsilon_squared_and_vectorises() -> None:
    m = np.array([0.23, 0.25, 0.3])
    np.testing.assert_allclose(annihilation_per_eot(m, epsilon=3e-4) / annihilation_per_eot(m), 9.0, rtol=1e-12)
    one = [annihilation_per_eot(float(x), particle="e+") for x in m]
    # (one mass at a time the shower grid may end elsewhere: spline differences ~1e-8)
    np.testing.assert_allclose(annihilation_per_eot(m, particle="e+"), one, rtol=1e-6)
    total = yield_per_eot(m, particle="e+")
    np.testing.assert_allclose(total, bremsstrahlung_per_eot(m) + np.array(one), rtol=1e-6)


# ------------------------------------------------------------------ the resonance

def test_electron_beam_resonance_window() -> None:
    """e- 100 GeV, box threshold 50 GeV: annihilation only for sqrt(2 m_e 50) < m < sqrt(2 m_e 100)."""
    lo, hi = np.sqrt(2 * ME * 50.0 + 2 * ME**2), np.sqrt(2 * ME * 100.0 + 2 * ME**2)
    assert lo == pytest.approx(0.2261, abs=1e-4) and hi == pytest.approx(0.3197, abs=1e-4)
    outside = np.array([0.01, 0.1, 0.2, lo - 1e-4, hi + 1e-4, 0.33, 0.5, 1.0])
    assert np.all(annihilation_per_eot(outside, 100.0, 50.0) == 0.0)
    np.testing.assert_allclose(yield_per_eot(outside, 100.0, 50.0), bremsstrahlung_per_eot(outside, 100.0, 50.0),
                               rtol=1e-14)
    inside = np.linspace(lo + 1e-3, 0.30, 15)
    enhancement = yield_per_eot(inside, 100.0, 50.0) / bremsstrahlung_per_eot(inside, 100.0, 50.0)
    assert np.all(enhancement > 3.0), enhancement
    assert enhancement[0] > 20.0
    assert np.all(np.diff(enhancement) < 0)  # more positrons at lower energy


def test_positron_beam_peak_at_sqrt_2_me_e0() -> None:
    """e+ 70 GeV: the beam positron gives a sharp peak at m = sqrt(2 m_e E0) = 267.5 MeV."""
    m = np.linspace(0.255, 0.28, 101)
    ratio = yield_per_eot(m, 70.0, 35.0, particle="e+") / bremsstrahlung_per_eot(m, 70.0, 35.0)
    peak = m[np.argmax(ratio)]
    assert peak == pytest.approx(np.sqrt(2 * ME * 70.0), abs=1e-3)
    assert ratio.max() > 1000.0
    # away from the peak the beam positron still dominates the shower's positrons
    e_minus = annihilation_per_eot(0.25, 70.0, 35.0, particle="e-")
    e_plus = annihilation_per_eot(0.25, 70.0, 35.0, particle="e+")
    assert e_plus > 5.0 * e_minus > 0.0
    # a few beam RMS above E0 nothing is left
    assert annihilation_per_eot(np.sqrt(2 * ME * 70.0 * 1.06), 70.0, 35.0, particle="e+") == 0.0


def test_aprime_yield_result() -> None:
    y = aprime_yield(0.25, 100.0, None, "e-")
    assert (y.mass, y.energy, y.threshold, y.particle, y.epsilon) == (0.25, 100.0, 50.0, "e-", 1e-4)
    assert y.yield_per_eot == pytest.approx(y.bremsstrahlung_per_eot + y.annihilation_per_eot)
    assert y.annihilation_per_eot > 10 * y.bremsstrahlung_per_eot > 0
    assert y.annihilation_share == pytest.approx(y.annihilation_per_eot / y.yield_per_eot)
    # dark bremsstrahlung does not depend on the beam particle at this order
    assert aprime_yield(0.25, 100.0, None, "e+").bremsstrahlung_per_eot == y.bremsstrahlung_per_eot
    with pytest.raises(ValueError, match="beam particle"):
        aprime_yield(0.25, particle="e")  # type: ignore[arg-type]


# ------------------------------------------------------------------ sampler

@pytest.mark.parametrize(("mass", "particle"), [(0.25, "e-"), (0.3, "e-"), (0.28, "e+"), (0.1, "e+")])
def test_sampler_share_is_the_yield_ratio(mass: float, particle: str) -> None:
    n = 100_000
    x = sample_signal_fraction(mass, 100.0, n, np.random.default_rng(5), threshold_fraction=0.5,
                               particle=particle)  # type: ignore[arg-type]
    y = aprime_yield(mass, 100.0, 50.0, particle)  # type: ignore[arg-type]
    x_r = min(float(resonance_energy(mass)) / 100.0, 1.0)
    share = float(np.mean(x == x_r))
    expected = y.annihilation_per_eot / y.yield_per_eot
    assert share == pytest.approx(expected, abs=4.0 * np.sqrt(expected * (1 - expected) / n) + 1e-12)
    assert annihilation_share(mass, 100.0, 0.5, particle) == pytest.approx(expected)  # type: ignore[arg-type]
    assert x.min() >= 0.5 and x.max() <= 1.0


def test_sampler_without_annihilation_is_the_bremsstrahlung_sampler() -> None:
    from workflows.signal.aprime import sample_energy_fraction

    a = sample_signal_fraction(0.02, 100.0, 2000, np.random.default_rng(3), 0.5)
    rng = np.random.default_rng(3)
    rng.random(2000)  # the process choice
    b = sample_energy_fraction(0.02, 100.0, 2000, rng, 0.5)
    np.testing.assert_array_equal(a, b)
