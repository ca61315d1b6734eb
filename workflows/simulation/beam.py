"""The incoming particle: true and measured momentum, angle, beam spot, straw tracks.

The momentum is measured by the upstream magnetic spectrometer (Delta p/p ~ 1 %,
seeds/003); NaN stands for "no single track reconstructed" (SCHEMA.md).
"""

from __future__ import annotations

import numpy as np

from .config import BeamModel, StrawModel
from .sampling import F32, normal, rayleigh, uniform_disc


def true_momentum(rng: np.random.Generator, e0: float, n: int, beam: BeamModel) -> np.ndarray:
    """Momentum of full-energy beam particles (GeV): E0 with the beam's momentum spread."""
    return (F32(e0) * (F32(1) + F32(beam.energy_spread) * normal(rng, n))).astype(F32)


def measure_momentum(rng: np.random.Generator, p_true: np.ndarray, beam: BeamModel,
                     no_track: np.ndarray | float) -> np.ndarray:
    """Spectrometer momentum (GeV, float32), NaN with probability ``no_track``
    (scalar or per event) on top of the tracking inefficiency."""
    n = len(p_true)
    p = np.asarray(p_true, F32) * (F32(1) + F32(beam.spectrometer_resolution) * normal(rng, n))
    lost_p = 1 - (1 - beam.tracking_inefficiency) * (1 - np.asarray(no_track, np.float64))
    p[rng.random(n) < lost_p] = np.nan
    return p


def angle(rng: np.random.Generator, sigma: float | np.ndarray, n: int) -> np.ndarray:
    """Incoming-track angle to the beam axis (mrad), Rayleigh distributed."""
    return rayleigh(rng, sigma, n)


def spot(rng: np.random.Generator, n: int, beam: BeamModel) -> tuple[np.ndarray, np.ndarray]:
    """Impact point on the ECAL face relative to the centre of the central cell (mm)."""
    return uniform_disc(rng, beam.spot_radius, n)


def straw_clean(rng: np.random.Generator, n: int, straw: StrawModel) -> np.ndarray:
    """Straw track segments of a clean single particle: mostly exactly one."""
    u = rng.random(n)
    out = np.ones(n, np.int16)
    out[u < straw.p_zero] = 0
    out[u > 1 - straw.p_two] = 2
    return out
