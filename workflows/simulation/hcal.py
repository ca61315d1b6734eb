"""HCAL response: four Fe/Sc modules of 3 x 3 cells, the beam on cell (1, 1).

Hadron showers are split over the modules by a Gamma longitudinal profile in nuclear
interaction lengths and over the cells by the same two-component radial profile as the
ECAL (closed-form cell integrals, :mod:`ecal`), with broader radii; muons leave Moyal
(Landau-like) ionisation losses module by module until they stop.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .config import HcalModel
from .ecal import LateralTable
from .sampling import F32, gamma_cdf, gamma_cdf_at, moyal, normal

N_MODULES = 4


def _edges(cell: float) -> np.ndarray:
    return (np.arange(4, dtype=F32) - F32(1.5)) * F32(cell)


def module_fractions(energy: np.ndarray, hcal: HcalModel, start: np.ndarray | float = 0.0
                     ) -> np.ndarray:
    """Share of a hadron shower of ``energy`` in each module (m, 4); what passes the last
    module is lost. ``start``: depth (lambda) at which the shower already is when it enters.

    PDG: t_max ~ 0.2 ln(E/GeV) + 0.7 lambda; Gamma profile with slope b per lambda.
    """
    e = np.maximum(np.asarray(energy, np.float64), 0.1)
    b = hcal.longitudinal_b
    a = 1 + b * (0.2 * np.log(e) + 0.7)
    start = np.broadcast_to(np.asarray(start, np.float64), e.shape)
    fresh = not np.any(start)
    if fresh:   # the usual case: tabulated CDF at the module boundaries
        done = np.zeros(e.shape)
        bounds = [gamma_cdf_at(a, b * k * hcal.module_lambda) for k in range(1, N_MODULES + 1)]
    else:
        done = gamma_cdf(a, b * start)
        bounds = [gamma_cdf(a, b * (start + k * hcal.module_lambda))
                  for k in range(1, N_MODULES + 1)]
    cdf = np.stack([done, *bounds], axis=1)
    frac = np.diff(cdf, axis=1) / np.maximum(1 - done, 1e-12)[:, None]
    return frac.astype(F32)


@lru_cache(maxsize=16)
def _lateral_table(hcal: HcalModel) -> LateralTable:
    return LateralTable(_edges(hcal.cell_x), _edges(hcal.cell_y),
                        (hcal.core_radius, hcal.tail_radius), hcal.core_weight)


@lru_cache(maxsize=16)
def _containment(hcal: HcalModel) -> float:
    """Mean lateral containment of a hadron shower in the 3 x 3 cells (~0.94): the HCAL
    energy scale is calibrated so that hadrons at the beam axis read their energy."""
    return float(_lateral_table(hcal)(np.zeros(1, F32), np.zeros(1, F32)).sum())


class HcalSignal:
    """Analog signal and variance (n, 4, 3, 3)."""

    def __init__(self, n: int, hcal: HcalModel):
        self.model = hcal
        self.s = np.zeros((n, N_MODULES, 3, 3), F32)
        self.v = np.zeros((n, N_MODULES, 3, 3), F32)

    def add_shower(self, idx: np.ndarray, energy: np.ndarray, x0: np.ndarray, y0: np.ndarray,
                   start: np.ndarray | float = 0.0) -> None:
        """Hadronic (or leaked EM) energy entering the HCAL at transverse (x0, y0) mm."""
        if len(idx) == 0:
            return
        h = self.model
        table = _lateral_table(h)
        lat = table(x0, y0)                                                    # (m, 3, 3)
        lat *= F32(1 / _containment(h))          # calibrated with hadrons at the centre
        lon = module_fractions(energy, h, start) * np.asarray(energy, F32)[:, None]
        dep = lon[:, :, None, None] * lat[:, None, :, :]
        self.s[idx] += dep
        self.v[idx] += F32(h.stochastic ** 2) * dep

    def add_muons(self, idx: np.ndarray, energy: np.ndarray, cell: np.ndarray,
                  rng: np.random.Generator) -> np.ndarray:
        """Muons of ``energy`` entering the HCAL in cell ``cell`` (0..8, x*3+y); each module
        takes a Moyal loss until the muon stops. Returns the energy each muon carries out."""
        if len(idx) == 0:
            return np.zeros(0, F32)
        h = self.model
        remaining = np.asarray(energy, F32).copy()
        loss = F32(h.muon_mpv) + F32(h.muon_width) * moyal(rng, (N_MODULES, len(idx)))
        loss = np.maximum(loss, 0)
        cx, cy = np.divmod(np.asarray(cell, np.int64), 3)
        for k in range(N_MODULES):
            d = np.minimum(loss[k], remaining)
            remaining -= d
            np.add.at(self.s, (idx, k, cx, cy), d)
        return remaining


def muon_cells(rng: np.random.Generator, n: int, hcal: HcalModel) -> np.ndarray:
    """Cell (x*3+y) a muon crosses: the central one, else a random neighbour."""
    cell = np.full(n, 4, np.int8)
    off = rng.random(n) >= hcal.muon_central
    k = int(off.sum())
    if k:
        neighbours = np.array([0, 1, 2, 3, 5, 6, 7, 8], np.int8)
        cell[off] = neighbours[rng.integers(0, 8, k)]
    return cell


def readout(sig: HcalSignal, rng: np.random.Generator) -> np.ndarray:
    """Measured cell energies (GeV, true scale), noise and zero suppression.

    Cells without signal only see noise: instead of drawing a normal for each, the few
    that cross the zero-suppression threshold are drawn from the Gaussian tail directly
    (same distribution, a fraction of the cost).
    """
    h = sig.model
    out = np.zeros_like(sig.s)
    hit = sig.s > 0
    if hit.any():
        s, v = sig.s[hit], sig.v[hit]
        out[hit] = s + np.sqrt(v + F32(h.noise ** 2)) * normal(rng, s.shape)
    if h.noise > 0:
        a = h.zero_suppression / h.noise
        n_quiet = hit.size - int(np.count_nonzero(hit))
        k = rng.binomial(n_quiet, _normal_tail(a)) if n_quiet else 0
        if k:
            quiet = np.flatnonzero(~hit.reshape(-1))
            chosen = quiet[rng.integers(0, quiet.size, k)]
            out.reshape(-1)[chosen] = F32(h.noise) * _tail_sample(rng, a, k)
    out[out < F32(h.zero_suppression)] = 0
    return out


def _normal_tail(a: float) -> float:
    """P(Z > a) for a standard normal Z."""
    import math

    return 0.5 * math.erfc(a / math.sqrt(2))


def _tail_sample(rng: np.random.Generator, a: float, n: int) -> np.ndarray:
    """Standard normal values conditioned on Z > a (Marsaglia's exponential rejection)."""
    out = np.empty(0, F32)
    while out.size < n:
        k = 2 * (n - out.size) + 8
        x = a - np.log1p(-rng.random(k)) / a
        ok = rng.random(k) < np.exp(-0.5 * (x - a) ** 2)
        out = np.concatenate([out, x[ok].astype(F32)])
    return out[:n]
