"""Dark bremsstrahlung e Z -> e Z A' on lead: dsigma/dx and sigma in the IWW approximation,
with the exact-tree-level (ETL) correction applied through K-factors as NA64/DMG4 do.

x = E_A'/E0.  Conventions (all energies in GeV, cross-sections in pb):

* ``dsigma_dx_a14_pb``: BEST Eq. (A14), the angle-integrated IWW spectrum with constant chi,
  dsigma/dx = 4 alpha^3 eps^2 chi beta (1 - x + x^2/3) / (m^2 (1-x)/x + m_e^2 x),
  beta = sqrt(1 - m^2/E0^2).
* ``sigma_iww_estimate_pb``: BEST Eqs. (A15)-(A16), the integrated IWW estimate
  sigma = (4/3) alpha^3 eps^2 chi beta ln(1/delta) / m^2, delta = max(m_e^2/m^2, m^2/E0^2).
  This is the total that NA64's simulations (DMG4; the earlier DPhMC package) normalise to,
  and the denominator of the ETL K-factor K = sigma_IWW / sigma_ETL (arXiv:1712.05706).
* ``sigma_total_pb`` / ``dsigma_dx``: the public, NA64-style model.  The total is the
  (A15) estimate, divided by K(m, E0) when ``k_factor=True``; the x-shape is that of (A14)
  normalised to this total (DMG4 likewise samples x from the IWW-type dsigma/dx and
  normalises with the K-corrected total).  Hence int dsigma_dx dx == sigma_total_pb.

Everything scales as eps^2.  Valid for 1 MeV <= m <= 1 GeV (the K-table range); below 1 MeV
the (A15) estimate breaks down (delta -> 1), so the total is continued with the shape of the
(A14) integral, anchored at 1 MeV, and K is frozen at its 1 MeV value.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .constants import ALPHA_EM, EPSILON_REF, GEV2_TO_PB, M_ELECTRON
from .form_factors import chi_iww
from .k_factors import k_factor as _k_factor

_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(128)
#: below this mass the (A15) estimate is replaced by the anchored (A14) integral [GeV].
_LOW_MASS_ANCHOR = 1.0e-3


def _broadcast(*args: ArrayLike) -> list[NDArray[np.float64]]:
    """Float arrays broadcast against each other."""
    return np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in args))


def x_limits(mass: ArrayLike, e0: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Kinematic range of x: E_A' >= m_A' and E_e' >= m_e, i.e. [m/E0, 1 - m_e/E0]."""
    m, e = np.broadcast_arrays(np.asarray(mass, float), np.asarray(e0, float))
    return m / e, 1.0 - M_ELECTRON / e


def _beta(mass: NDArray[np.float64], e0: NDArray[np.float64]) -> NDArray[np.float64]:
    """A' velocity factor beta = sqrt(1 - m^2/E0^2) (BEST Eqs. (A14), (A15))."""
    return np.sqrt(np.clip(1.0 - (mass / e0) ** 2, 0.0, None))


def a14_shape(x: NDArray[np.float64], mass: NDArray[np.float64]) -> NDArray[np.float64]:
    """x-dependent part of BEST Eq. (A14): (1 - x + x^2/3) / (m^2 (1-x)/x + m_e^2 x)."""
    return (1.0 - x + x**2 / 3.0) / (mass**2 * (1.0 - x) / x + M_ELECTRON**2 * x)


def shape_integral(
    x_a: ArrayLike, x_b: ArrayLike, mass: ArrayLike
) -> NDArray[np.float64]:
    """int_{x_a}^{x_b} of the (A14) x-shape [GeV^-2], by Gauss-Legendre in w = -ln(1-x).

    The substitution resolves the peak of width ~max(m_e^2/m^2, m_e/E0) at x -> 1.
    """
    xa, xb, m = np.broadcast_arrays(
        np.asarray(x_a, float), np.asarray(x_b, float), np.asarray(mass, float)
    )
    xb = np.clip(xb, 0.0, np.nextafter(1.0, 0.0))
    xa = np.clip(xa, 0.0, xb)  # empty range (e.g. E0 < m) integrates to zero
    wa, wb = -np.log1p(-xa), -np.log1p(-xb)
    half = 0.5 * (wb - wa)
    w = 0.5 * (wb + wa)[..., None] + half[..., None] * _GL_NODES
    one_minus_x = np.exp(-w)
    x = -np.expm1(-w)
    integrand = a14_shape(x, m[..., None]) * one_minus_x
    out = half * np.sum(integrand * _GL_WEIGHTS, axis=-1)
    return np.where(wb > wa, out, 0.0)


def dsigma_dx_a14_pb(
    x: ArrayLike, mass: ArrayLike, e0: ArrayLike, epsilon: float = EPSILON_REF
) -> NDArray[np.float64]:
    """Raw IWW spectrum dsigma/dx [pb], BEST Eq. (A14) with chi of BEST (A18)-(A19)."""
    x, m, e = _broadcast(x, mass, e0)
    lo, hi = x_limits(m, e)
    inside = (x >= lo) & (x <= hi)
    xs = np.where(inside, x, 0.5)
    pref = 4.0 * ALPHA_EM**3 * epsilon**2 * chi_iww(m, e) * _beta(m, e) * GEV2_TO_PB
    return np.where(inside, pref * a14_shape(xs, m), 0.0)


def sigma_iww_a14_pb(
    mass: ArrayLike, e0: ArrayLike, epsilon: float = EPSILON_REF
) -> NDArray[np.float64]:
    """Numerical integral of BEST Eq. (A14) over the kinematic x range [pb]."""
    m, e = np.broadcast_arrays(np.asarray(mass, float), np.asarray(e0, float))
    lo, hi = x_limits(m, e)
    pref = 4.0 * ALPHA_EM**3 * epsilon**2 * chi_iww(m, e) * _beta(m, e) * GEV2_TO_PB
    return pref * shape_integral(lo, hi, m)


def sigma_iww_estimate_pb(
    mass: ArrayLike, e0: ArrayLike, epsilon: float = EPSILON_REF
) -> NDArray[np.float64]:
    """BEST Eqs. (A15)-(A16): (4/3) alpha^3 eps^2 chi beta ln(1/delta)/m^2 [pb].

    delta = max(m_e^2/m^2, m^2/E0^2); clipped at zero where delta > 1 (m < m_e).
    """
    m, e = np.broadcast_arrays(np.asarray(mass, float), np.asarray(e0, float))
    delta = np.maximum((M_ELECTRON / m) ** 2, (m / e) ** 2)
    log_term = np.clip(-np.log(delta), 0.0, None)
    return (
        4.0 / 3.0 * ALPHA_EM**3 * epsilon**2 * chi_iww(m, e) * _beta(m, e) * log_term / m**2
        * GEV2_TO_PB
    )


def _iww_total_pb(
    m: NDArray[np.float64], e: NDArray[np.float64], epsilon: float
) -> NDArray[np.float64]:
    """IWW normalisation: (A15) above 1 MeV; below, (A14) integral anchored at 1 MeV."""
    est = sigma_iww_estimate_pb(m, e, epsilon)
    low = m < _LOW_MASS_ANCHOR
    if not np.any(low):
        return est
    anchor = np.full_like(m, _LOW_MASS_ANCHOR)
    scale = sigma_iww_estimate_pb(anchor, e, epsilon) / sigma_iww_a14_pb(anchor, e, epsilon)
    return np.where(low, sigma_iww_a14_pb(m, e, epsilon) * scale, est)


def k_factor(mass: ArrayLike, e0: ArrayLike) -> NDArray[np.float64]:
    """K = sigma_IWW/sigma_ETL (arXiv:1712.05706 via the DMG4 table), see :mod:`k_factors`."""
    return _k_factor(mass, e0)


def sigma_total_pb(
    mass: ArrayLike, e0: ArrayLike, epsilon: float = EPSILON_REF, k_factor: bool = True
) -> NDArray[np.float64]:
    """Total A' production cross-section on Pb [pb] at mixing ``epsilon`` (scales as eps^2).

    k_factor=False: IWW (BEST A15-A16); k_factor=True: ETL = IWW / K(m, E0).
    """
    m, e = np.broadcast_arrays(np.asarray(mass, float), np.asarray(e0, float))
    sigma = _iww_total_pb(m, e, epsilon)
    if k_factor:
        sigma = sigma / _k_factor(m, e)
    return sigma


def fraction_above(x_cut: ArrayLike, mass: ArrayLike, e0: ArrayLike) -> NDArray[np.float64]:
    """Fraction of the (A14)-shaped spectrum with x > x_cut (1 below x_min, 0 above x_max)."""
    xc, m, e = _broadcast(x_cut, mass, e0)
    lo, hi = x_limits(m, e)
    total = shape_integral(lo, hi, m)
    start = np.clip(xc, lo, hi)
    part = shape_integral(start, hi, m)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(total > 0, part / total, 0.0)
    return np.clip(frac, 0.0, 1.0)


def dsigma_dx(
    x: ArrayLike,
    mass: ArrayLike,
    e0: ArrayLike,
    k_factor: bool = True,
    epsilon: float = EPSILON_REF,
) -> NDArray[np.float64]:
    """NA64-style dsigma/dx [pb] (x = E_A'/E0): (A14) shape normalised to ``sigma_total_pb``."""
    x, m, e = _broadcast(x, mass, e0)
    lo, hi = x_limits(m, e)
    inside = (x >= lo) & (x <= hi)
    xs = np.where(inside, x, 0.5)
    norm = sigma_total_pb(m, e, epsilon, k_factor) / shape_integral(lo, hi, m)
    return np.where(inside, norm * a14_shape(xs, m), 0.0)
