"""Sampling of x = E_A'/E0 for the fast simulation of A' -> invisible events.

Bremsstrahlung (:func:`sample_energy_fraction`): the density is the NA64-style dsigma/dx of
:mod:`cross_section` (BEST Eq. (A14) shape; the ETL K-factor is x-independent, so it does not
change the shape).  Inverse-CDF sampling on a fine grid in w = -ln(1 - x), which resolves the
peak at x -> 1 (width ~ m_e^2/m^2).

Both processes (:func:`sample_signal_fraction`): an event is a resonant annihilation with
probability annihilation / (bremsstrahlung + annihilation) of :mod:`yields` at that mass,
beam energy, threshold and beam particle, and then the A' takes x = E_R / E0 (the rest of
the shower stays in the ECAL); otherwise x is drawn from the bremsstrahlung spectrum.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from .annihilation import Particle, check_particle, resonance_energy
from .cross_section import a14_shape, x_limits
from .yields import aprime_yield

_N_GRID = 4000


@lru_cache(maxsize=256)
def _inverse_cdf_table(
    mass: float, e0: float, threshold_fraction: float
) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = (float(a) for a in x_limits(mass, e0))
    lo = max(lo, threshold_fraction)
    if lo >= hi:
        raise ValueError(f"no phase space: x in [{lo}, {hi}] for m={mass}, E0={e0}")
    w = np.linspace(-np.log1p(-lo), -np.log1p(-hi), _N_GRID)
    x = -np.expm1(-w)
    dens = a14_shape(x, np.float64(mass)) * np.exp(-w)       # dsigma/dw = dsigma/dx (1 - x)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(w))])
    return cdf / cdf[-1], w


def sample_energy_fraction(
    mass: float,
    e0: float,
    n: int,
    rng: np.random.Generator,
    threshold_fraction: float = 0.0,
) -> NDArray[np.float64]:
    """Draw ``n`` values of x = E_A'/E0 from dsigma/dx at A' mass ``mass`` [GeV], beam ``e0``.

    Only x > threshold_fraction is generated (the spectrum truncated there and renormalised).
    """
    if n < 0:
        raise ValueError("n must be non-negative")
    cdf, w = _inverse_cdf_table(float(mass), float(e0), float(threshold_fraction))
    u = rng.random(n)
    return -np.expm1(-np.interp(u, cdf, w))


@lru_cache(maxsize=256)
def annihilation_share(mass: float, e0: float, threshold_fraction: float, particle: Particle) -> float:
    """Annihilation / (bremsstrahlung + annihilation) of A' with x > threshold_fraction
    (threshold_fraction = 0: all A', the bremsstrahlung integrated down to E = mass)."""
    return aprime_yield(mass, e0, threshold_fraction * e0, check_particle(particle)).annihilation_share


def sample_signal_fraction(
    mass: float,
    e0: float,
    n: int,
    rng: np.random.Generator,
    threshold_fraction: float = 0.0,
    particle: Particle = "e-",
) -> NDArray[np.float64]:
    """Draw ``n`` values of x = E_A'/E0 from bremsstrahlung and resonant annihilation in
    the proportion of their yields for a beam of ``particle`` (module docstring); x > threshold_fraction.

    The annihilation x = E_R/E0 is capped at 1 (E_R above the nominal E0 comes from the beam's
    energy spread).
    """
    if n < 0:
        raise ValueError("n must be non-negative")
    share = annihilation_share(float(mass), float(e0), float(threshold_fraction), check_particle(particle))
    resonant = rng.random(n) < share
    x = np.empty(n)
    x[resonant] = min(float(resonance_energy(mass)) / e0, 1.0)
    n_brems = int(np.count_nonzero(~resonant))
    if n_brems:
        x[~resonant] = sample_energy_fraction(mass, e0, n_brems, rng, threshold_fraction)
    return x
