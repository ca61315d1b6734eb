"""VETO: three scintillator layers behind the ECAL, read in units of a MIP."""

from __future__ import annotations

import numpy as np

from .config import VetoModel
from .sampling import F32, moyal, normal

N_COUNTERS = 3


def readout(charged: np.ndarray, rng: np.random.Generator, veto: VetoModel) -> np.ndarray:
    """Signals (n, 3) in MIP of ``charged`` particles crossing every layer.

    n particles give n MIP (most probable) plus a Moyal (Landau-like) fluctuation of width
    w sqrt(n); every counter has Gaussian noise.
    """
    n = len(charged)
    c = np.asarray(charged, F32)[:, None]
    out = F32(veto.noise) * normal(rng, (n, N_COUNTERS))
    hit = np.flatnonzero(c[:, 0] > 0)
    if hit.size:
        ch = c[hit]
        out[hit] += ch + F32(veto.mip_width) * np.sqrt(ch) * moyal(rng, (hit.size, N_COUNTERS))
    return out
