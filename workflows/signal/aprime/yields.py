"""A' yield per electron on target (EOT) in the NA64 active ECAL target.

Definition: ``yield_per_eot`` is the expected number of A' produced, per incident beam
electron of energy E0, with E_A' > T (the signal box E_ECAL < E0 - T; NA64: T = 0.5 E0,
i.e. E_ECAL < 50 GeV at 100 GeV), summed over the primary electron and all shower e-/e+:

    n_A'(m, E0, T) = n_Pb * l_Pb * sum over shower tracks of
                     int dE (dL/dE) sigma(m, E) P(x > T/E | m, E)

* n_Pb = N_A rho_Pb / A_Pb = 3.30e22 cm^-3 (Pb atoms; A' production on the scintillator,
  ~1 % of the radiation length, is neglected);
* l_Pb = 0.554 cm of lead per X0 of the 150 x (1.5 mm Pb + 1.5 mm Sc) sandwich
  (X0_sandwich = 1.107 cm, lead fraction 1/2);
* dL/dE = differential e-/e+ track length in X0 (Tsai approximation B, all generations,
  see :mod:`track_length`); the 40.6 X0 depth is treated as infinite;
* sigma(m, E) and the x-shape from :mod:`cross_section` (ETL via K(m, E) if ``k_factor``).

Efficiencies, acceptance and the A' decay are *not* included.  Scales as epsilon^2.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .constants import EPSILON_REF, N_ATOMS_PB_CM3, PB_TO_CM2
from .cross_section import fraction_above, sigma_total_pb
from .track_length import cumulative_track_length, pb_path_per_x0_cm


def _threshold(e0: float, threshold: float | None, masses: NDArray[np.float64]) -> float:
    t = 0.5 * e0 if threshold is None else float(threshold)
    if not 0.0 <= t < e0:
        raise ValueError(f"threshold must be in [0, E0), got {t} for E0={e0}")
    if t <= 0.0:
        t = float(np.min(masses))  # no A' below its mass: integrate down to E = m
    return t


def yield_per_eot(
    mass: ArrayLike,
    e0: float = 100.0,
    threshold: float | None = None,
    epsilon: float = EPSILON_REF,
    k_factor: bool = True,
    secondaries: bool = True,
) -> NDArray[np.float64] | float:
    """A' with E_A' > threshold per EOT (mass, e0, threshold in GeV; vectorised over mass).

    ``threshold`` defaults to 0.5 * e0.  Returns a float for scalar ``mass``.
    The shower model has no ionisation loss, so keep threshold >> 10 MeV (Pb critical energy).
    """
    m = np.asarray(mass, dtype=float)
    scalar = m.ndim == 0
    m = np.atleast_1d(m)
    if np.any(m <= 0):
        raise ValueError("A' mass must be positive")
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


def yield_summary(
    mass: float, energy: float = 100.0, threshold: float | None = None
) -> dict[str, Any]:
    """Summary dict (last line of ``na64 yield --json``); mass, energy, threshold in GeV.

    Keys: mass, energy, threshold, epsilon (1e-4), sigma_pb (ETL total cross-section on Pb
    at E0 = energy), yield_per_eot (A' with E_A' > threshold per EOT, ETL).
    """
    thr = 0.5 * float(energy) if threshold is None else float(threshold)
    sigma = float(sigma_total_pb(float(mass), float(energy), EPSILON_REF, k_factor=True))
    n_a = float(yield_per_eot(float(mass), float(energy), thr, EPSILON_REF, k_factor=True))
    return {
        "mass": float(mass),
        "energy": float(energy),
        "threshold": thr,
        "epsilon": EPSILON_REF,
        "sigma_pb": sigma,
        "yield_per_eot": n_a,
    }
