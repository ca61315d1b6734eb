"""Synchrotron-radiation detector: three LYSO modules, energies in MeV.

An electron of energy E bending in the spectrometer magnets sends N ~ Poisson(n E/E_REF)
SR photons into each module, each with an energy from Gamma(k, theta (E/E_REF)^2)
(k = 1: exponential, see ``SrdModel.spectrum_shape``); the module energy is then
Gamma(N k, theta (E/E_REF)^2). Hadrons and muons radiate (m_e/m)^4 less,
i.e. nothing: a module only fires on knock-on electrons (fake probability, exponential
energy). :func:`tag_probability` gives the chance that all three modules fall in the
analysis window, exactly for this model, so a test can compare it with samples.
"""

from __future__ import annotations

import math

import numpy as np

from .config import E_REF, SrdModel
from .sampling import F32, gamma_cdf, normal

N_MODULES = 3


def electron(rng: np.random.Generator, energy: np.ndarray, srd: SrdModel) -> np.ndarray:
    """SRD energies (m, 3) of electrons of ``energy`` (GeV) in the magnets."""
    e = np.asarray(energy, np.float64)
    m = len(e)
    ratio = np.maximum(e / E_REF, 0.0)
    lam = np.repeat(srd.photons_per_module * ratio, N_MODULES)
    n_photons = rng.poisson(lam)
    theta = np.repeat(srd.mean_photon_energy / srd.spectrum_shape * ratio**2, N_MODULES)
    out = rng.standard_gamma(n_photons * srd.spectrum_shape) * theta
    dead = rng.random(m * N_MODULES) < srd.readout_inefficiency
    out[dead] = 0.0
    out = out.astype(F32).reshape(m, N_MODULES)
    out += F32(srd.noise) * normal(rng, (m, N_MODULES))
    return out


def non_radiating(rng: np.random.Generator, m: int, srd: SrdModel) -> np.ndarray:
    """SRD energies (m, 3) of hadrons and muons: noise, plus knock-on electron hits."""
    out = F32(srd.noise) * normal(rng, (m, N_MODULES))
    hit = rng.random((m, N_MODULES)) < srd.fake_probability
    k = int(hit.sum())
    if k:
        out[hit] += (-np.log1p(-rng.random(k)) * srd.fake_mean_energy).astype(F32)
    return out


def spray(rng: np.random.Generator, values: np.ndarray, srd: SrdModel) -> None:
    """Secondaries of an upstream interaction hitting one module (in place, dirty events)."""
    m = len(values)
    if not m:
        return
    hit = rng.random(m) < srd.spray_probability
    k = int(hit.sum())
    if k:
        module = rng.integers(0, N_MODULES, k)
        values[np.flatnonzero(hit), module] += (
            -np.log1p(-rng.random(k)) * srd.spray_mean_energy).astype(F32)


def module_window_probability(kind: str, energy: float, srd: SrdModel, lo: float, hi: float
                              ) -> float:
    """Probability that one module reads within (lo, hi) MeV (noise neglected).

    kind: "electron" (SR of an electron of ``energy`` GeV) or "hadron" (also muons).
    """
    if kind == "hadron":
        mu = srd.fake_mean_energy
        return srd.fake_probability * (math.exp(-lo / mu) - math.exp(-hi / mu))
    if kind != "electron":
        raise ValueError(f"kind must be 'electron' or 'hadron', got {kind!r}")
    ratio = energy / E_REF
    lam = srd.photons_per_module * ratio
    theta = srd.mean_photon_energy / srd.spectrum_shape * ratio**2
    n = np.arange(1, int(lam + 12 * math.sqrt(lam) + 30))
    log_pois = -lam + n * math.log(lam) - np.array([math.lgamma(k + 1) for k in n])
    a = n * srd.spectrum_shape
    inside = gamma_cdf(a, np.full(a.shape, hi / theta)) - gamma_cdf(a, np.full(a.shape, lo / theta))
    p = float(np.sum(np.exp(log_pois) * inside))
    return (1 - srd.readout_inefficiency) * p


def tag_probability(kind: str, energy: float, srd: SrdModel, lo: float = 1.0,
                    hi: float = 100.0) -> float:
    """Probability that all three modules read within (lo, hi) MeV: the analysis' SRD
    tag for an electron (efficiency) or a hadron/muon (mis-identification)."""
    return module_window_probability(kind, energy, srd, lo, hi) ** N_MODULES
