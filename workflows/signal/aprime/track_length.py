"""Differential track length of e-/e+ in the electromagnetic shower of a thick target.

Approximation B of Tsai (RMP 46, 815 (1974); Rossi's approximation A -- no ionisation, complete
screening -- plus Tsai's gamma-law for the electron energy distribution):

* a charged particle created with energy E' is found at depth t [X0] with energy E with the
  density I_e(E', E, t) = [ln(E'/E)]^(b t - 1) / (E' Gamma(b t)), b = 4/3 (Tsai);
* it radiates photons with the complete-screening spectrum per X0
  dN/dk = (1/k) (4/3 - 4/3 y + y^2), y = k/E (Tsai's complete-screening bremsstrahlung,
  as quoted in PDG RPP "Passage of particles through matter"; (Z^2+Z)/9 term dropped);
* photons convert with probability 7/9 per X0 into pairs whose electron (and positron)
  carry a fraction w with density 1 - 4/3 w (1 - w) (Tsai's complete-screening pair
  production, PDG RPP, same approximation).

No ionisation loss, so all kernels depend only on energy ratios.  In v = ln(E0/E) they are
translation invariant.  Integrating I_e over all depths (the 40 X0 NA64 ECAL is "infinite"
for particles above a few GeV) gives the cumulative primary track length between E0 and
E0 e^(-v) (in X0):

    G(v) = (1/b) int_0^inf P(r, v) dr,   P = regularised lower incomplete gamma.

Secondary e-/e+ from converted photons, and all later generations, are added by iterating
the cascade on a grid in v.  The result ``L(v)`` is the depth-integrated track length (in X0
of the medium) of all e-/e+ with energy between E0 e^(-v) and E0, per incident electron.
Laplace transforms (exact statements of this model, used by the tests):
primary  int e^(-s v) dL_p = 1/(b ln(1+s));  all generations  = g/(1 - g p h/(7/9)) with
g = 1/(b ln(1+s)), h = 4/3/s - 4/3/(s+1) + 1/(s+2), p = 2 [1/(s+1) - 4/3/(s+2) + 4/3/(s+3)].
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import gammainc

from .constants import (
    ECAL_N_LAYERS,
    ECAL_PB_THICKNESS_CM,
    ECAL_SC_THICKNESS_CM,
    PAIR_SIGMA_X0,
    TSAI_B,
    X0_PB_CM,
    X0_SC_CM,
)

_R_NODES, _R_WEIGHTS = np.polynomial.legendre.leggauss(96)


def integrate_over_r(
    v: ArrayLike,
    integrand: Callable[[NDArray[np.float64], NDArray[np.float64]], NDArray[np.float64]],
    b: float,
    at_zero: float,
) -> NDArray[np.float64]:
    """(1/b) int_0^inf integrand(r, v) dr for every v > 0 (``at_zero`` where v <= 0), with
    r = b t the Gamma-law shape of the primary after t X0.

    Gauss-Legendre in r on [0, R(v)], R chosen so that the Gamma-law integrands
    (P(r, v) and its v-derivative) are below 1e-12 beyond it. ``integrand`` gets r as
    (m, nodes) and v as (m, 1).
    """
    v = np.atleast_1d(np.asarray(v, dtype=float))
    out = np.full_like(v, at_zero)
    pos = v > 0
    vp = v[pos]
    big = vp + 20.0 + 8.0 * np.sqrt(vp)
    with np.errstate(divide="ignore"):
        small = np.where(vp < 0.05, 36.0 / np.log(1.0 / vp), np.inf)
    r_max = np.minimum(big, small)
    r = 0.5 * r_max[:, None] * (_R_NODES + 1.0)
    out[pos] = 0.5 * r_max * np.sum(integrand(r, vp[:, None]) * _R_WEIGHTS, axis=1) / b
    return out


def primary_cumulative(v: ArrayLike, b: float = TSAI_B) -> NDArray[np.float64]:
    """G(v) = (1/b) int_0^inf P(r, v) dr: primary track length [X0] with E > E0 e^(-v)."""
    return integrate_over_r(v, gammainc, b, 0.0)


def _photon_kernel(d: NDArray[np.float64]) -> NDArray[np.float64]:
    """Photons per X0 per unit v_k emitted at v_k = v + d by a charged particle at v."""
    return 4.0 / 3.0 - 4.0 / 3.0 * np.exp(-d) + np.exp(-2.0 * d)


def _pair_kernel(d: NDArray[np.float64]) -> NDArray[np.float64]:
    """e- plus e+ per X0 of photon track, per unit v, at v = v_gamma + d (complete screening)."""
    w = np.exp(-d)
    return 2.0 * w * (1.0 - 4.0 / 3.0 * w * (1.0 - w))


def v_grid(v_max: float, step: float = 0.01) -> NDArray[np.float64]:
    """Grid in v: 0, then geometric from 1e-10 to ~0.02, then uniform with ``step``."""
    v_a = min(0.02, 0.25 * v_max)
    geo = np.geomspace(1e-10, v_a, 40)
    n = max(int(np.ceil((v_max - v_a) / step)), 1)
    uni = np.linspace(v_a, v_max, n + 1)[1:]
    return np.concatenate([[0.0], geo, uni])


@lru_cache(maxsize=32)
def _cascade(
    v_max: float, step: float, b: float, secondaries: bool
) -> tuple[np.ndarray, np.ndarray]:
    v = v_grid(v_max, step)
    l_total = primary_cumulative(v, b)
    if not secondaries:
        return v, l_total
    # tables of G and of its integral G2(d) = int_0^d G for product integration
    d_tab = np.unique(np.concatenate([[0.0], np.geomspace(1e-14, 0.05, 300),
                                      np.linspace(0.05, v_max + step, int(v_max / 0.004) + 2)]))
    g_tab = primary_cumulative(d_tab, b)
    g2_tab = np.concatenate([[0.0], np.cumsum(0.5 * (g_tab[1:] + g_tab[:-1]) * np.diff(d_tab))])
    mid = 0.5 * (v[1:] + v[:-1])
    diff_node_mid = v[:, None] - mid[None, :]            # node i minus cell-mid j
    below = diff_node_mid > 0
    photon_k = np.where(below, _photon_kernel(np.clip(diff_node_mid, 0, None)), 0.0)
    diff_nodes = v[:, None] - v[None, :]
    pair_k = np.where(diff_nodes >= 0, _pair_kernel(np.clip(diff_nodes, 0, None)), 0.0)
    dv = np.diff(v)
    trap = np.zeros((len(v), len(v)))                     # trapezoid weights for int_0^{v_i}
    for i in range(1, len(v)):
        trap[i, :i] += 0.5 * dv[:i]
        trap[i, 1 : i + 1] += 0.5 * dv[:i]
    # product integration of int_0^{v_i} S(v') G(v_i - v') dv' with S at cell mid-points
    upper = np.clip(v[:, None] - v[None, :-1], 0, None)
    lower = np.clip(v[:, None] - v[None, 1:], 0, None)
    g2_cell = np.interp(upper, d_tab, g2_tab) - np.interp(lower, d_tab, g2_tab)
    generation = l_total.copy()
    for _ in range(400):
        d_l = np.diff(generation)
        photon_track = photon_k @ d_l / PAIR_SIGMA_X0         # photon track per unit v
        source = np.sum(trap * pair_k * photon_track[None, :], axis=1)  # new e+- per unit v
        source_mid = 0.5 * (source[1:] + source[:-1])
        generation = g2_cell @ source_mid
        l_total = l_total + generation
        if np.max(np.abs(generation)) <= 1e-12 * np.max(np.abs(l_total)):
            break
    return v, l_total


def cumulative_track_length(
    v_max: float, step: float = 0.01, b: float = TSAI_B, secondaries: bool = True
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Grid v and L(v): track length [X0] of e-/e+ with E0 e^(-v) < E <= E0, per incident e-.

    ``secondaries=False`` keeps the primary electron only (Tsai's thick-target I_e).
    """
    v, l_cum = _cascade(float(v_max), float(step), float(b), bool(secondaries))
    return v.copy(), l_cum.copy()


def laplace_primary(s: ArrayLike, b: float = TSAI_B) -> NDArray[np.float64]:
    """Closed form int_0^inf e^(-s v) dL_primary(v) = 1/(b ln(1+s)) (approximation B)."""
    s = np.asarray(s, dtype=float)
    return 1.0 / (b * np.log1p(s))


def laplace_cascade(s: ArrayLike, b: float = TSAI_B) -> NDArray[np.float64]:
    """Closed form of int_0^inf e^(-s v) dL_all(v) for s > 1 (all generations)."""
    s = np.asarray(s, dtype=float)
    g = laplace_primary(s, b)
    h = 4.0 / 3.0 / s - 4.0 / 3.0 / (s + 1.0) + 1.0 / (s + 2.0)
    p = 2.0 * (1.0 / (s + 1.0) - 4.0 / 3.0 / (s + 2.0) + 4.0 / 3.0 / (s + 3.0))
    return g / (1.0 - g * p * h / PAIR_SIGMA_X0)


# --- the NA64 ECAL as a homogeneous medium -------------------------------------------------

def ecal_radiation_length_cm() -> float:
    """X0 of the Pb/Sc sandwich [cm]: 1/X0 = sum_i f_i / X0_i, f_i thickness fractions (PDG)."""
    layer = ECAL_PB_THICKNESS_CM + ECAL_SC_THICKNESS_CM
    return 1.0 / (ECAL_PB_THICKNESS_CM / layer / X0_PB_CM + ECAL_SC_THICKNESS_CM / layer / X0_SC_CM)


def ecal_depth_x0() -> float:
    """Total ECAL depth in X0 (150 layers of 1.5 mm Pb + 1.5 mm Sc: 40.6 X0)."""
    layer = ECAL_PB_THICKNESS_CM + ECAL_SC_THICKNESS_CM
    return ECAL_N_LAYERS * layer / ecal_radiation_length_cm()


def pb_path_per_x0_cm() -> float:
    """Centimetres of lead traversed per X0 of ECAL track (= 0.987 X0_Pb = 0.554 cm)."""
    layer = ECAL_PB_THICKNESS_CM + ECAL_SC_THICKNESS_CM
    return ecal_radiation_length_cm() * ECAL_PB_THICKNESS_CM / layer
