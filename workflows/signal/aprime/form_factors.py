"""Nuclear/atomic form factors and the effective photon flux chi (BEST appendix A).

chi(t_min, t_max) = int_{t_min}^{t_max} dt (t - t_min)/t^2 G2(t)
(BEST App. A, the flux entering Eq. (A12); Kim & Tsai, PRD 8, 3109 (1973) Eq. (3.20)),
with G2 = G2_el + G2_inel from BEST Eqs. (A18) and (A19).  In the IWW approximation the
bounds are x- and angle-independent: t_min = (m^2 / (2 E0))^2, t_max = m^2 + m_e^2 (BEST,
text following Eq. (A12)).  All t in GeV^2; everything is vectorised with numpy.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .constants import (
    A_PB,
    M_ELECTRON,
    M_PROTON,
    MU_PROTON,
    NUCLEAR_D_COEFF,
    PROTON_DIPOLE_T,
    SCREENING_A_COEFF,
    SCREENING_AP_COEFF,
    Z_PB,
)

_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(160)


def screening_t(z: float = Z_PB) -> float:
    """Atomic screening scale 1/a^2 [GeV^2], a = 111 Z^(-1/3)/m_e (BEST Eq. (A18))."""
    a = SCREENING_A_COEFF * z ** (-1.0 / 3.0) / M_ELECTRON
    return 1.0 / a**2


def nuclear_t(a_mass: float = A_PB) -> float:
    """Nuclear-size scale d = 0.164 GeV^2 A^(-2/3) (BEST Eq. (A18))."""
    return NUCLEAR_D_COEFF * a_mass ** (-2.0 / 3.0)


def g2_elastic(t: ArrayLike, z: float = Z_PB, a_mass: float = A_PB) -> NDArray[np.float64]:
    """Elastic atomic + nuclear form factor G2_el(t), BEST Eq. (A18).

    G2_el = Z^2 [a^2 t / (1 + a^2 t)]^2 [1 / (1 + t/d)]^2.
    """
    t = np.asarray(t, dtype=float)
    ta, td = screening_t(z), nuclear_t(a_mass)
    return z**2 * (t / (ta + t)) ** 2 * (td / (td + t)) ** 2


def g2_inelastic(t: ArrayLike, z: float = Z_PB) -> NDArray[np.float64]:
    """Inelastic (quasi-free proton) form factor G2_inel(t), BEST Eq. (A19).

    G2_inel = Z [a'^2 t/(1 + a'^2 t)]^2 [(1 + t (mu_p^2 - 1)/(4 m_p^2)) / (1 + t/0.71)^4]^2,
    a' = 773 Z^(-2/3) / m_e.
    """
    t = np.asarray(t, dtype=float)
    ap = SCREENING_AP_COEFF * z ** (-2.0 / 3.0) / M_ELECTRON
    screen = (ap**2 * t / (1.0 + ap**2 * t)) ** 2
    pauli = 1.0 + t * (MU_PROTON**2 - 1.0) / (4.0 * M_PROTON**2)
    dipole = (1.0 + t / PROTON_DIPOLE_T) ** 4
    return z * screen * (pauli / dipole) ** 2


def iww_t_bounds(mass: ArrayLike, e0: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """IWW bounds t_min = (m^2/(2 E0))^2, t_max = m^2 + m_e^2 (BEST, after Eq. (A12))."""
    m = np.asarray(mass, dtype=float)
    e = np.asarray(e0, dtype=float)
    tmin = (m**2 / (2.0 * e)) ** 2
    tmax = m**2 + M_ELECTRON**2
    return np.broadcast_arrays(tmin, tmax)


def chi_numeric(
    tmin: ArrayLike,
    tmax: ArrayLike,
    z: float = Z_PB,
    a_mass: float = A_PB,
    inelastic: bool = True,
) -> NDArray[np.float64]:
    """chi = int dt (t - t_min)/t^2 G2(t) by Gauss-Legendre in ln t (broadcasts its bounds).

    160 nodes in ln t resolve the screening (~4e-10 GeV^2) and nuclear (~5e-3 GeV^2)
    scales to better than 1e-6 relative for 1e-16 < t < 10 GeV^2.
    """
    lo, hi = np.broadcast_arrays(np.log(np.asarray(tmin, float)), np.log(np.asarray(tmax, float)))
    half = 0.5 * (hi - lo)
    u = 0.5 * (hi + lo)[..., None] + half[..., None] * _GL_NODES
    t = np.exp(u)
    tm = np.exp(lo)[..., None]
    g2 = g2_elastic(t, z, a_mass)
    if inelastic:
        g2 = g2 + g2_inelastic(t, z)
    # dt = t du, so the integrand (t - tmin)/t^2 G2 dt becomes (t - tmin)/t G2 du.
    integrand = (t - tm) / t * g2
    out = half * np.sum(integrand * _GL_WEIGHTS, axis=-1)
    return np.where(hi > lo, out, 0.0)


def chi_elastic_analytic(
    tmin: ArrayLike, tmax: ArrayLike, z: float = Z_PB, a_mass: float = A_PB
) -> NDArray[np.float64]:
    """Closed form of chi for the elastic G2 of BEST Eq. (A18) alone.

    With a = 1/a^2 (screening), d (nuclear), c = t_min and D = d - a, partial fractions give
    int (t - c) d^2 / ((t+a)^2 (t+d)^2) dt = d^2/D^2 [ln(t+a) + (a+c)/(t+a) + ln(t+d)
    + (d+c)/(t+d)] - 2 d^2/D^3 [(d+c) ln(t+d) - (a+c) ln(t+a)]  (own derivation).
    """
    c = np.asarray(tmin, dtype=float)
    tmax = np.asarray(tmax, dtype=float)
    a, d = screening_t(z), nuclear_t(a_mass)
    dd = d - a

    def antiderivative(t: NDArray[np.float64]) -> NDArray[np.float64]:
        first = np.log(t + a) + (a + c) / (t + a) + np.log(t + d) + (d + c) / (t + d)
        second = (d + c) * np.log(t + d) - (a + c) * np.log(t + a)
        return d**2 / dd**2 * first - 2.0 * d**2 / dd**3 * second

    return z**2 * (antiderivative(tmax) - antiderivative(c))


def chi_iww(
    mass: ArrayLike,
    e0: ArrayLike,
    z: float = Z_PB,
    a_mass: float = A_PB,
    inelastic: bool = True,
) -> NDArray[np.float64]:
    """Effective photon flux chi(m, E0) with the IWW bounds (BEST App. A, Eqs. (A18)-(A19))."""
    tmin, tmax = iww_t_bounds(mass, e0)
    return chi_numeric(tmin, tmax, z, a_mass, inelastic)
