"""A' yield per particle on target (EOT) in the NA64 active ECAL target.

Definition: the yield is the expected number of A' produced, per incident beam electron
(or positron) of energy E0, with E_A' > T (the signal box E_ECAL < E0 - T; NA64: T = 0.5 E0,
i.e. E_ECAL < 50 GeV at 100 GeV): the sum of two processes.

Dark bremsstrahlung (:func:`bremsstrahlung_per_eot`), summed over the primary and all shower
e-/e+:

    n_brems(m, E0, T) = n_Pb * l_Pb * sum over shower tracks of
                        int dE (dL/dE) sigma(m, E) P(x > T/E | m, E)

* n_Pb = N_A rho_Pb / A_Pb = 3.30e22 cm^-3 (Pb atoms; A' production on the scintillator,
  ~1 % of the radiation length, is neglected);
* l_Pb = 0.554 cm of lead per X0 of the 150 x (1.5 mm Pb + 1.5 mm Sc) sandwich
  (X0_sandwich = 1.107 cm, lead fraction 1/2);
* dL/dE = differential e-/e+ track length in X0 (Tsai approximation B, all generations,
  see :mod:`track_length`); the 40.6 X0 depth is treated as infinite;
* sigma(m, E) and the x-shape from :mod:`cross_section` (ETL via K(m, E) if ``k_factor``).
  The IWW/ETL cross-section is the same for e+ and e- (charge symmetric at this order: Coulomb
  corrections are neglected), and the shower's e-/e+ track length is the same for either beam,
  so the bremsstrahlung yield does not depend on the beam particle.

Resonant annihilation e+ e- -> A' of the shower's positrons (and of the beam positron) on the
atomic electrons (:func:`annihilation.annihilation_per_eot`, formulas in :mod:`annihilation`).

Efficiencies, acceptance and the A' decay are *not* included.  Scales as epsilon^2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .annihilation import Particle, annihilation_per_eot, check_masses, check_particle, check_threshold
from .constants import EPSILON_REF, N_ATOMS_PB_CM3, PB_TO_CM2
from .cross_section import fraction_above, sigma_total_pb
from .track_length import cumulative_track_length, pb_path_per_x0_cm


def _threshold(e0: float, threshold: float | None, masses: NDArray[np.float64]) -> float:
    t = check_threshold(e0, threshold)
    if t <= 0.0:
        t = float(np.min(masses))  # no A' below its mass: integrate down to E = m
    return t


def bremsstrahlung_per_eot(
    mass: ArrayLike,
    e0: float = 100.0,
    threshold: float | None = None,
    epsilon: float = EPSILON_REF,
    k_factor: bool = True,
    secondaries: bool = True,
) -> NDArray[np.float64] | float:
    """Dark-bremsstrahlung A' with E_A' > threshold per EOT (mass, e0, threshold in GeV;
    vectorised over mass); the same for e- and e+ beams.

    ``threshold`` defaults to 0.5 * e0.  Returns a float for scalar ``mass``.
    The shower model has no ionisation loss, so keep threshold >> 10 MeV (Pb critical energy).
    """
    m, scalar = check_masses(mass)
    e0 = float(e0)
    t = _threshold(e0, threshold, m)
    v, l_cum = cumulative_track_length(np.log(e0 / t), secondaries=secondaries)
    mid = 0.5 * (v[1:] + v[:-1])
    d_l = np.diff(l_cum)                                   # X0 of e-/e+ track per cell
    energy = e0 * np.exp(-mid)                             # radiating e-/e+ energy [GeV]
    mm, ee = m[:, None], energy[None, :]
    sigma = sigma_total_pb(mm, ee, epsilon=epsilon, k_factor=k_factor)
    frac = fraction_above(t / ee, mm, ee)
    per_x0 = N_ATOMS_PB_CM3 * pb_path_per_x0_cm() * PB_TO_CM2  # [1/pb per X0 of track]
    out = per_x0 * np.sum(sigma * frac * d_l[None, :], axis=1)
    return float(out[0]) if scalar else out


def yield_per_eot(
    mass: ArrayLike,
    e0: float = 100.0,
    threshold: float | None = None,
    epsilon: float = EPSILON_REF,
    k_factor: bool = True,
    secondaries: bool = True,
    particle: Particle = "e-",
) -> NDArray[np.float64] | float:
    """All A' with E_A' > threshold per EOT: dark bremsstrahlung plus resonant annihilation,
    for a beam of ``particle`` ("e-" or "e+"); arguments as :func:`bremsstrahlung_per_eot`
    (``secondaries=False``: the primary alone, which for e- has no annihilation)."""
    particle = check_particle(particle)
    brems = bremsstrahlung_per_eot(mass, e0, threshold, epsilon, k_factor, secondaries)
    ann = annihilation_per_eot(mass, e0, threshold, epsilon, particle, secondaries)
    if isinstance(brems, float):
        return brems + float(ann)
    return np.asarray(brems + np.asarray(ann))


@dataclass(frozen=True)
class AprimeYield:
    """A' per particle on target at one mass (GeV) and beam: both production processes."""

    mass: float
    energy: float
    threshold: float
    particle: Particle
    epsilon: float
    bremsstrahlung_per_eot: float
    annihilation_per_eot: float

    @property
    def yield_per_eot(self) -> float:
        """Bremsstrahlung plus annihilation."""
        return self.bremsstrahlung_per_eot + self.annihilation_per_eot

    @property
    def annihilation_share(self) -> float:
        """Annihilation / (bremsstrahlung + annihilation); 0 when there is no A' at all."""
        total = self.yield_per_eot
        return self.annihilation_per_eot / total if total > 0 else 0.0


def aprime_yield(
    mass: float,
    energy: float = 100.0,
    threshold: float | None = None,
    particle: Particle = "e-",
    epsilon: float = EPSILON_REF,
    k_factor: bool = True,
) -> AprimeYield:
    """:class:`AprimeYield` at ``mass`` for a beam of ``particle`` of ``energy`` (GeV);
    ``threshold`` defaults to energy / 2."""
    particle = check_particle(particle)
    thr = 0.5 * float(energy) if threshold is None else float(threshold)
    return AprimeYield(
        mass=float(mass), energy=float(energy), threshold=thr, particle=particle, epsilon=float(epsilon),
        bremsstrahlung_per_eot=float(bremsstrahlung_per_eot(float(mass), float(energy), thr, epsilon, k_factor)),
        annihilation_per_eot=float(annihilation_per_eot(float(mass), float(energy), thr, epsilon, particle)),
    )


def yield_summary(
    mass: float, energy: float = 100.0, threshold: float | None = None, particle: Particle = "e-"
) -> dict[str, Any]:
    """Summary dict (``na64 yield --json``); mass, energy, threshold in GeV.

    Keys: mass, energy, threshold, particle, epsilon (1e-4), sigma_pb (ETL total
    bremsstrahlung cross-section on Pb at E0 = energy), bremsstrahlung_per_eot,
    annihilation_per_eot and their sum yield_per_eot (A' with E_A' > threshold per EOT).
    """
    y = aprime_yield(mass, energy, threshold, particle, EPSILON_REF, k_factor=True)
    sigma = float(sigma_total_pb(float(mass), float(energy), EPSILON_REF, k_factor=True))
    return {
        "mass": y.mass,
        "energy": y.energy,
        "threshold": y.threshold,
        "particle": y.particle,
        "epsilon": y.epsilon,
        "sigma_pb": sigma,
        "bremsstrahlung_per_eot": y.bremsstrahlung_per_eot,
        "annihilation_per_eot": y.annihilation_per_eot,
        "yield_per_eot": y.yield_per_eot,
    }
