"""Resonant annihilation e+ e- -> A' of shower (and beam) positrons on the target's electrons.

Sources: M. Tanabashi et al. / PDG RPP, "Kinematics" (resonance formation, Breit-Wigner);
L. Marsicano et al., PRD 98, 015031 (2018), arXiv:1802.03794 (resonant annihilation of shower
positrons in thick targets) and PRL 121, 041802 (2018), arXiv:1807.05884; NA64, Yu.M. Andreev
et al., PRD 104, L091701 (2021), arXiv:2108.04195 (NA64e limits with the annihilation channel);
seeds/003 ("Breit-Wigner cross section maximum at M_A'^2 = 2 m_e E_e+", sigma ~ eps^2 Z alpha).

Cross-section (derived here; natural units, m = m_A', r = m_e^2 / m^2, beta = sqrt(1 - 4 r)).

* Width (vector coupling eps e to electrons):
  Gamma_ee = (alpha eps^2 m / 3) (1 + 2 r) beta.
* PDG Breit-Wigner for the formation of a spin-J resonance from spins S1, S2 with CM momentum k:
  sigma(E) = (2J+1)/((2S1+1)(2S2+1)) (4 pi / k^2) [Gamma^2/4 / ((E - m)^2 + Gamma^2/4)] B_in B_out.
  With J = 1, S1 = S2 = 1/2 (factor 3/4), B_in = Gamma_ee/Gamma, all final states summed
  (B_out -> 1), and int dE Gamma^2/4 / ((E-m)^2 + Gamma^2/4) = pi Gamma / 2 (narrow width):
  int sigma d sqrt(s) = 3 pi^2 Gamma_ee / (2 k^2) = 6 pi^2 Gamma_ee / (m^2 beta^2), k^2 = m^2 beta^2 / 4.
  (The same follows from the 2 -> 1 formula sigma = pi |M|^2 delta(s - m^2) / (s beta) with the
  spin-averaged |M|^2 = (3/4) 16 pi m Gamma_ee / beta.)
* On an electron at rest, s = 2 m_e^2 + 2 m_e E+, so d sqrt(s) / dE+ = m_e / m, and
  sigma(E+) = (m / m_e) 6 pi^2 Gamma_ee / (m^2 beta^2) delta(E+ - E_R)
            = (2 pi^2 alpha eps^2 / m_e) (1 + 2 r) / beta  delta(E+ - E_R),
  E_R = (m^2 - 2 m_e^2) / (2 m_e) ~ m^2 / (2 m_e); zero for m <= 2 m_e.  The A' takes E_R
  (plus m_e, the electron at rest: neglected).  Atomic binding and the electrons' motion
  (which smear the resonance) are neglected.

Yield per incident particle, with n_e the electron density of the Pb/Sc sandwich and
dL+/dE the positron differential track length in X0 of the sandwich per GeV:

    n_ann(m) = n_e X0_sandwich[cm] (2 pi^2 alpha eps^2 / m_e) (1 + 2 r)/beta (hbar c)^2 dL+/dE(E_R),

counted when E_R > threshold (the A' carries E_R out of the ECAL: the box E_ECAL < E0 - T).

Positron track length (Tsai approximation B, :mod:`track_length`): every secondary e-/e+
comes from a photon conversion, whose pair spectrum is symmetric in e- <-> e+, and e- and e+
radiate alike at this order, so in every generation after the primary the e+ spectrum is
half of the non-primary e-/e+ spectrum: dL+/dE = (dL_all/dE - dL_primary/dE) / 2, plus the
primary's own dL_primary/dE for a positron beam.  (The dark bremsstrahlung of a positron
equals an electron's at this order -- IWW is charge symmetric -- so only this term depends
on the beam particle.)  The cumulative track length is interpolated with a cubic spline in
v = ln(E0/E) and differentiated: dL/dE = (dL/dv) / E.

The primary's track length in approximation B is singular at E0 (dG/dv ~ 1/(b v ln^2 v)):
it is regulated by the beam's energy spread, a Gaussian of relative RMS ``beam_spread``
(default 0.6 %, the simulation's H4 beam), over which the primary's density is averaged:
dL_p/dE(E) = int dE0' g(E0') G'(ln(E0'/E)) / E = -int_0^inf G(v) d/dv[e^v g(E e^v)] dv
(by parts, G(0) = 0), a smooth integral.  This gives the sharp resonance of a positron beam
at m = sqrt(2 m_e E0), of relative width ~ beam_spread / 2 in mass; the Gaussian tail puts a
little of it at E_R slightly above the nominal E0.

Limitations: Tsai's gamma law does not conserve energy exactly (the primary's energy-weighted
track length is E0 X0 / (b ln 2) = 1.08 E0 X0 instead of E0 X0), so the shower's track length
grows slightly too fast with the generations (measured: 1.15 x Rossi's 0.437 E0/E at E0/10,
1.23 x at E0/100); at E_R ~ E0/2, where the box counts, the secondaries are mostly of the
first generation.  The 40.6 X0 depth is treated as infinite; no ionisation loss (keep the
threshold >> the 7 MeV critical energy of Pb).
"""

from __future__ import annotations

from typing import Literal, cast, get_args

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.interpolate import CubicSpline
from scipy.special import gamma as gamma_fn

from .constants import (
    A_PB,
    ALPHA_EM,
    BEAM_ENERGY_SPREAD,
    ECAL_PB_THICKNESS_CM,
    ECAL_SC_THICKNESS_CM,
    EPSILON_REF,
    GEV2_TO_PB,
    M_ELECTRON,
    N_AVOGADRO,
    PB_TO_CM2,
    RHO_PB,
    RHO_SC,
    TSAI_B,
    Z_OVER_A_SC,
    Z_PB,
)
from .track_length import (
    cumulative_track_length,
    ecal_radiation_length_cm,
    integrate_over_r,
    primary_cumulative,
)

#: The beam particle.
Particle = Literal["e-", "e+"]
PARTICLES: tuple[str, ...] = get_args(Particle)

_V_NODES, _V_WEIGHTS = np.polynomial.legendre.leggauss(8)
#: beam-energy Gaussian truncated at this many RMS
_N_SIGMA = 8.0


def check_particle(particle: str) -> Particle:
    """``particle`` if it is "e-" or "e+", else ValueError."""
    if particle not in PARTICLES:
        raise ValueError(f"beam particle must be one of {', '.join(PARTICLES)}, got {particle!r}")
    return cast(Particle, particle)


def check_masses(mass: ArrayLike) -> tuple[NDArray[np.float64], bool]:
    """``mass`` [GeV] as a 1-d array, and whether it was a scalar; ValueError unless positive."""
    m = np.asarray(mass, dtype=float)
    scalar = m.ndim == 0
    m = np.atleast_1d(m)
    if np.any(m <= 0):
        raise ValueError("A' mass must be positive")
    return m, scalar


def check_threshold(e0: float, threshold: float | None) -> float:
    """The A' energy threshold [GeV] (default 0.5 e0, the box edge); ValueError outside [0, e0)."""
    t = 0.5 * e0 if threshold is None else float(threshold)
    if not 0.0 <= t < e0:
        raise ValueError(f"threshold must be in [0, E0), got {t} for E0={e0}")
    return t


def resonance_energy(mass: ArrayLike) -> NDArray[np.float64]:
    """E_R = (m^2 - 2 m_e^2) / (2 m_e) [GeV]: positron energy that forms an A' of ``mass`` [GeV]."""
    m = np.asarray(mass, dtype=float)
    return np.asarray((m * m - 2.0 * M_ELECTRON**2) / (2.0 * M_ELECTRON), dtype=float)


def _beta(m: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.sqrt(np.clip(1.0 - 4.0 * M_ELECTRON**2 / (m * m), 0.0, None))


def width_ee(mass: ArrayLike, epsilon: float = EPSILON_REF) -> NDArray[np.float64]:
    """Gamma(A' -> e+ e-) = alpha eps^2 m / 3 (1 + 2 m_e^2/m^2) beta [GeV]."""
    m = np.asarray(mass, dtype=float)
    return np.asarray(ALPHA_EM * epsilon**2 * m / 3.0 * (1.0 + 2.0 * M_ELECTRON**2 / (m * m)) * _beta(m))


def sqrt_s_integral_pb_gev(mass: ArrayLike, epsilon: float = EPSILON_REF) -> NDArray[np.float64]:
    """int sigma(e+ e- -> A') d sqrt(s) = 6 pi^2 Gamma_ee / (m^2 beta^2) [pb GeV]; 0 for m <= 2 m_e."""
    m = np.asarray(mass, dtype=float)
    beta = _beta(m)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(beta > 0, 6.0 * np.pi**2 * width_ee(m, epsilon) / (m * m * beta * beta), 0.0)
    return np.asarray(out * GEV2_TO_PB)


def resonance_strength_pb_gev(mass: ArrayLike, epsilon: float = EPSILON_REF) -> NDArray[np.float64]:
    """S with sigma(E+) = S delta(E+ - E_R) on an electron at rest [pb GeV]:
    S = (2 pi^2 alpha eps^2 / m_e) (1 + 2 m_e^2/m^2) / beta (hbar c)^2; 0 for m <= 2 m_e."""
    m = np.asarray(mass, dtype=float)
    return np.asarray(sqrt_s_integral_pb_gev(m, epsilon) * m / M_ELECTRON)


def electron_density_cm3() -> float:
    """Mean electron density of the Pb/Sc sandwich [1/cm^3]: N_A sum_i f_i rho_i <Z/A>_i,
    f_i the thickness fractions (1.5 mm + 1.5 mm), Z/A of Pb 82/207.2 and of polystyrene
    0.53768 (PDG): 1.52e24 cm^-3."""
    layer = ECAL_PB_THICKNESS_CM + ECAL_SC_THICKNESS_CM
    per_mol = (ECAL_PB_THICKNESS_CM * RHO_PB * Z_PB / A_PB + ECAL_SC_THICKNESS_CM * RHO_SC * Z_OVER_A_SC) / layer
    return float(N_AVOGADRO * per_mol)


# --- positron track length -------------------------------------------------------------------

def primary_density_dv(v: ArrayLike, b: float = TSAI_B) -> NDArray[np.float64]:
    """dG/dv = (1/b) int_0^inf v^(r-1) e^(-v) / Gamma(r) dr: the primary's track length [X0]
    per unit v = ln(E0/E), for a beam of exactly E0 (singular, but integrable, at v -> 0)."""
    def density(r: NDArray[np.float64], vp: NDArray[np.float64]) -> NDArray[np.float64]:
        # v^(r-1) e^(-v) / Gamma(r) = r v^(r-1) e^(-v) / Gamma(r+1): finite at r -> 0
        values: NDArray[np.float64] = r * np.exp((r - 1.0) * np.log(vp) - vp) / gamma_fn(r + 1.0)
        return values

    return integrate_over_r(v, density, b, np.inf)


def primary_density_smeared(
    energy: ArrayLike, e0: float, beam_spread: float = BEAM_ENERGY_SPREAD, b: float = TSAI_B
) -> NDArray[np.float64]:
    """dL_primary/dE [X0/GeV] at ``energy`` for a beam of mean ``e0`` and Gaussian relative
    RMS ``beam_spread``: -int_0^inf G(v) d/dv[e^v g(E e^v)] dv (module docstring)."""
    energy = np.atleast_1d(np.asarray(energy, dtype=float))
    if beam_spread <= 0:
        with np.errstate(divide="ignore", invalid="ignore"):
            dens = primary_density_dv(np.log(e0 / energy), b) / energy
        return np.where(energy < e0, dens, 0.0)
    sigma = beam_spread * e0
    out = np.zeros_like(energy)
    rel = beam_spread
    for i, e in enumerate(energy):
        lo_e, hi_e = max(e0 - _N_SIGMA * sigma, e), e0 + _N_SIGMA * sigma
        if e <= 0 or hi_e <= e:
            continue
        v_lo, v_hi = np.log(lo_e / e), np.log(hi_e / e)
        n_lin = int(np.ceil((v_hi - v_lo) / (0.5 * rel))) + 1
        edges = np.linspace(v_lo, v_hi, n_lin)
        if v_lo <= 0.0:                                  # G is steep near v = 0: refine there
            geo = np.geomspace(1e-14, min(edges[1], v_hi), 30)
            edges = np.unique(np.concatenate([[0.0], geo, edges]))
        a, c = edges[:-1, None], edges[1:, None]
        v = 0.5 * (c - a) * (_V_NODES + 1.0) + a
        w = 0.5 * (c - a) * _V_WEIGHTS
        x = e * np.exp(v)                                # the beam energy E0' for this v
        g = np.exp(-0.5 * ((x - e0) / sigma) ** 2) / (np.sqrt(2.0 * np.pi) * sigma)
        dphi = np.exp(v) * g * (1.0 - x * (x - e0) / sigma**2)
        out[i] = -np.sum(w * primary_cumulative(v.ravel(), b).reshape(v.shape) * dphi)
    return out


def secondary_density(energy: ArrayLike, e0: float, b: float = TSAI_B) -> NDArray[np.float64]:
    """d(L_all - L_primary)/dE [X0/GeV]: all non-primary e- plus e+ of the shower of one
    incident e- (or e+) of energy ``e0``, at ``energy`` (GeV, 0 outside (0, e0))."""
    energy = np.atleast_1d(np.asarray(energy, dtype=float))
    out = np.zeros_like(energy)
    inside = (energy > 0) & (energy < e0)
    if not np.any(inside):
        return out
    v_r = np.log(e0 / energy[inside])
    v_max = 0.5 * np.ceil((float(np.max(v_r)) + 0.05) / 0.5)   # few distinct grids: cached showers
    v, l_all = cumulative_track_length(v_max, b=b)
    l_sec = l_all - primary_cumulative(v, b)
    spline = CubicSpline(v, l_sec)
    out[inside] = spline(v_r, 1) / energy[inside]
    return out


def positron_track_length(
    energy: ArrayLike,
    e0: float,
    particle: Particle = "e-",
    secondaries: bool = True,
    beam_spread: float = BEAM_ENERGY_SPREAD,
) -> NDArray[np.float64]:
    """dL+/dE [X0 of the sandwich per GeV] of positrons at ``energy`` per incident ``particle``
    of energy ``e0``: half the non-primary track length, plus the primary for "e+"."""
    particle = check_particle(particle)
    energy = np.atleast_1d(np.asarray(energy, dtype=float))
    out = 0.5 * secondary_density(energy, e0) if secondaries else np.zeros_like(energy)
    if particle == "e+":
        out = out + primary_density_smeared(energy, e0, beam_spread)
    return out


# --- the yield -------------------------------------------------------------------------------

def annihilation_per_eot(
    mass: ArrayLike,
    e0: float = 100.0,
    threshold: float | None = None,
    epsilon: float = EPSILON_REF,
    particle: Particle = "e-",
    secondaries: bool = True,
    beam_spread: float = BEAM_ENERGY_SPREAD,
) -> NDArray[np.float64] | float:
    """Resonant A' (e+ e- -> A') with E_A' = E_R > threshold per incident ``particle``
    (mass, e0, threshold in GeV; threshold defaults to 0.5 e0; vectorised over mass)."""
    particle = check_particle(particle)
    m, scalar = check_masses(mass)
    e0 = float(e0)
    t = check_threshold(e0, threshold)
    e_r = resonance_energy(m)
    strength = resonance_strength_pb_gev(m, epsilon)
    counted = (strength > 0) & (e_r > t)
    out = np.zeros_like(m)
    if np.any(counted):
        dens = positron_track_length(e_r[counted], e0, particle, secondaries, beam_spread)
        per_x0 = electron_density_cm3() * ecal_radiation_length_cm() * PB_TO_CM2  # [1/pb per X0]
        out[counted] = per_x0 * strength[counted] * dens
    return float(out[0]) if scalar else out
