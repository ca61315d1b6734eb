"""The data-driven, energy-dependent reference of the lateral shower shape.

The search's shower chi2 compares the energy fractions f_j of the 3 x 3 towers around
the central one with the fractions electron showers of the same period have at the
same energy. Sampling fluctuations of the cell energies give a variance of f_j falling
like 1/E; fluctuations of the shower shape and of the impact point do not depend on E.
Hence, per tower j and shower energy E (the event's scaled E_ECAL, GeV),

    var_j(E) = c_j^2 + s_j^2 / E,        mean_j(E) = m_j + k_j / E

(the mean's 1/E term takes up what zero suppression and noise do to the smallest cells
of low-energy showers). The parameters come from the period's own electrons, never from
the simulation's parameters, in two samples the first pass reads:

* calibration-trigger electrons (SCHEMA.md trigger bit 1): finite energies, hottest tower
  central, E_ECAL within +-20 % of the beam energy E0 (which keeps a hadron or muon that
  slipped into the trigger out);
* low-energy electrons among the physics triggers: beam electrons of the low-momentum tail
  (they radiated upstream of the spectrometer), which shower with what the spectrometer
  measured: physics trigger only, a measured momentum p *below* the search's momentum
  window (p < (1 - momentum_window) E0: they fail the search's ``momentum`` cut, so none
  can ever be a signal candidate, whatever the blinding), small angle, exactly one straw
  track, ECAL pulse in time, hottest tower central, E_ECAL / p within 0.8-1.2 (the
  electron identification: a hadron leaves part of its energy and shows it in the HCAL),
  E_HCAL below the box edge, every VETO counter below its threshold, and E_ECAL below
  0.8 E0. The SRD tag is not required: the synchrotron-radiation yield falls steeply with
  the momentum, and below about E0 / 2 an electron no longer fires the three modules.

Per chunk, the pass fills sums (electrons, sum of 1/E, sums of f_j and f_j^2) in energy
bins (:data:`processors.output.REFERENCE_ENERGY_EDGES`); :func:`reference_from_output`
adds them in chunk order and fits, per tower, var_j in 1/E by non-negative weighted
least squares (scipy.optimize.nnls; c_j^2, s_j^2 >= 0) and then mean_j in 1/E by weighted
least squares (numpy.polynomial). Bins with fewer than :data:`MIN_BIN_EVENTS` electrons
are not used. The reference follows the fitted form below the lowest bin (0.005 E0)
down to :data:`ENERGY_FLOOR` x E0 (0.1 GeV at 100 GeV): there the sampling term
dominates and keeps growing like 1/E, which is the form itself (freezing the spread at
the lowest bin instead would reject a fifth of the sub-GeV recoil showers of heavy A',
and the hadron rejection does not change: measured on simulated 2022); a deposit below
the floor, a few cells above zero suppression, is evaluated at the floor.

Fallback (logged as a warning and recorded in the reference and the summary): with
fewer than :data:`MIN_FIT_BINS` usable low-energy bins, or none below
:data:`MAX_LEVER_ENERGY` times the calibration energy, the energy dependence cannot be
measured, and the spread measured at the calibration energy E_c is scaled as if it
were all sampling fluctuation, var_j(E) = var_j(E_c) E_c / E, with the mean of E_c.
For E < E_c this is the largest spread that the form above allows given var_j(E_c)
(c_j^2 + s_j^2/E <= (c_j^2 + s_j^2/E_c) E_c/E), so the cut keeps at least as many
electron showers as at the calibration energy: the signal efficiency is never
overestimated by a too tight shape, while the chi2's rejection of broad showers at low
energy is then weaker (the VETO, HCAL and SRD cuts still act on them).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from processors.cuts import Thresholds
from processors.errors import ProcessingError
from processors.output import (
    REFERENCE_SUMS_SHAPE,
    ReferenceSums,
)
from processors.schema import NEIGHBOURS

log = logging.getLogger(__name__)

#: Version of the JSON layout of :meth:`ShowerReference.to_json` (2: energy dependent).
REFERENCE_VERSION = 2
#: Window on E_ECAL / E0 for calibration electrons entering the reference.
FULL_ENERGY_WINDOW = (0.8, 1.2)
#: Window on E_ECAL / p for low-energy electrons entering the reference.
E_OVER_P_WINDOW = (0.8, 1.2)
#: The reference is evaluated at energies down to this fraction of E0 (see above).
ENERGY_FLOOR = 0.001
#: Fewer calibration electrons than this cannot define a reference.
MIN_REFERENCE_EVENTS = 100
#: An energy bin with fewer electrons does not enter the fit.
MIN_BIN_EVENTS = 20
#: The fit needs at least this many usable low-energy bins ...
MIN_FIT_BINS = 3
#: ... one of them below this fraction of the calibration energy (the lever arm in 1/E).
MAX_LEVER_ENERGY = 0.3


class ReferenceUnavailable(ProcessingError):
    """The shower reference cannot be derived (too few calibration electrons)."""


@dataclass(frozen=True)
class LowEnergySelection:
    """The thresholds the low-energy electron sample of the reference reads (the search's
    own, see the module docstring) and how E_HCAL is formed; :meth:`of` builds it."""

    momentum_window: float
    max_angle: float
    ecal_time_window: float
    straw_tracks: int
    veto_max: float
    hcal_max: float
    hcal_scale: float
    hcal_modules: tuple[int, ...]

    @classmethod
    def of(cls, t: Thresholds, hcal_scale: float = 1.0,
           hcal_modules: tuple[int, ...] = (0, 1, 2, 3)) -> LowEnergySelection:
        return cls(t.momentum_window, t.max_angle, t.ecal_time_window, t.straw_tracks,
                   t.veto_max, t.box_hcal_max, float(hcal_scale), tuple(int(m) for m in hcal_modules))

    def to_json(self) -> dict[str, Any]:
        return {"momentum_window": self.momentum_window, "max_angle": self.max_angle,
                "ecal_time_window": self.ecal_time_window, "straw_tracks": self.straw_tracks,
                "veto_max": self.veto_max, "hcal_max": self.hcal_max,
                "hcal_scale": self.hcal_scale, "hcal_modules": list(self.hcal_modules)}


@dataclass(frozen=True)
class EnergyBin:
    """What one energy bin measured: electrons, their energy (1 / <1/E>, GeV), the mean
    and the spread of the nine fractions."""

    energy: float
    n_events: int
    mean: tuple[float, ...]
    sigma: tuple[float, ...]

    def to_json(self) -> dict[str, Any]:
        return {"energy": self.energy, "n_events": self.n_events, "mean": list(self.mean),
                "sigma": list(self.sigma)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> EnergyBin:
        return cls(float(d["energy"]), int(d["n_events"]), tuple(map(float, d["mean"])),
                   tuple(map(float, d["sigma"])))


def _bin_moments(row: np.ndarray) -> EnergyBin:
    n = float(row[0])
    mean = row[2:11] / n
    var = np.maximum(row[11:20] / n - mean**2, 0.0) * n / max(n - 1, 1.0)
    return EnergyBin(float(n / row[1]), int(n), tuple(map(float, mean)), tuple(map(float, np.sqrt(var))))


@dataclass(frozen=True)
class ShowerReference:
    """The shower shape of the period's electrons as a function of the shower energy:
    per tower, mean_j(E) = mean_j + mean_slope_j / E and var_j(E) = variance_j +
    variance_slope_j / E (E in GeV, raised to ``energy_floor`` below it).

    ``n_events``: calibration electrons; ``n_low_energy``: low-energy electrons in the
    fitted bins; ``fallback``: why the energy dependence was not fitted (None: fitted);
    ``bins``: what each energy bin measured (for the record and the tests).
    """

    central_cell: tuple[int, int]
    mean: tuple[float, ...]
    mean_slope: tuple[float, ...]
    variance: tuple[float, ...]
    variance_slope: tuple[float, ...]
    energy_floor: float
    n_events: int
    n_low_energy: int = 0
    fallback: str | None = None
    bins: tuple[EnergyBin, ...] = field(default=(), compare=False)
    sources: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_sums(cls, central_cell: tuple[int, int], n: float, s1: np.ndarray,
                  s2: np.ndarray, sources: tuple[str, ...] = ()) -> ShowerReference:
        """An energy-independent reference from the sums of one sample (the spread of
        ``n`` electrons at whatever energy they had, used at every energy)."""
        _enough(n)
        mean = s1 / n
        var = np.maximum(s2 / n - mean**2, 0.0) * n / (n - 1)
        zero = (0.0,) * len(mean)
        return cls((int(central_cell[0]), int(central_cell[1])), tuple(map(float, mean)), zero,
                   tuple(map(float, var)), zero, 1e-3, int(n), 0,
                   "energy-independent reference", (), sources)

    def __post_init__(self) -> None:
        if not self.energy_floor > 0:
            raise ValueError(f"energy_floor must be positive, got {self.energy_floor}")

    # -- evaluation ------------------------------------------------------------------------
    def _arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return tuple(np.asarray(a, np.float64) for a in  # type: ignore[return-value]
                     (self.mean, self.mean_slope, self.variance, self.variance_slope))

    def _u(self, energy: np.ndarray | float) -> np.ndarray:
        e = np.maximum(np.asarray(energy, np.float64), self.energy_floor)
        return np.asarray(1.0 / e)

    def mean_at(self, energy: np.ndarray | float) -> np.ndarray:
        """The nine mean fractions at ``energy`` (GeV): shape (..., 9)."""
        m, k, _, _ = self._arrays()
        u: np.ndarray = self._u(energy)[..., None]
        out: np.ndarray = m + k * u
        return out

    def sigma_at(self, energy: np.ndarray | float) -> np.ndarray:
        """The nine spreads at ``energy`` (GeV): shape (..., 9)."""
        _, _, a, b = self._arrays()
        u: np.ndarray = self._u(energy)[..., None]
        out: np.ndarray = np.sqrt(np.maximum(a + b * u, 0.0))
        return out

    def chi2(self, fractions: np.ndarray, energy: np.ndarray) -> np.ndarray:
        """The shower chi2 of events with ``fractions`` (n, 9) and shower energies
        ``energy`` (n,) (scaled E_ECAL, GeV), the reference evaluated per event."""
        m, k, a, b = self._arrays()
        from processors.kernels import shower_chi2  # numba: only where showers are compared

        return shower_chi2(fractions, energy, m, k, a, b, self.energy_floor)

    # -- JSON ------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        x0, y0 = self.central_cell
        return {
            "schema_version": REFERENCE_VERSION,
            "central_cell": list(self.central_cell),
            "towers": [[x0 + dx, y0 + dy] for dx, dy in NEIGHBOURS],
            "form": "mean_j(E) = mean_j + mean_slope_j / E; sigma_j(E)^2 = variance_j + "
                    "variance_slope_j / E; E = scaled E_ECAL in GeV, at least energy_floor",
            "mean": list(self.mean),
            "mean_slope": list(self.mean_slope),
            "variance": list(self.variance),
            "variance_slope": list(self.variance_slope),
            "energy_floor": self.energy_floor,
            "n_events": self.n_events,
            "n_low_energy": self.n_low_energy,
            "fallback": self.fallback,
            "selection": "calibration trigger, finite energies, hottest tower central, "
                         f"E_ECAL/E0 in {list(FULL_ENERGY_WINDOW)}; physics-trigger electrons "
                         "below the momentum window, single straw track, small angle, in time, "
                         f"hottest tower central, E_ECAL/p in {list(E_OVER_P_WINDOW)}, E_HCAL "
                         "below the box edge, VETO quiet",
            "bins": [b.to_json() for b in self.bins],
            "chunks": list(self.sources),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ShowerReference:
        """The reference :meth:`to_json` wrote; ValueError for another layout (an older
        reference is derived again, not misread)."""
        if data.get("schema_version") != REFERENCE_VERSION:
            raise ValueError(f"shower reference layout {data.get('schema_version', 1)}, "
                             f"expected {REFERENCE_VERSION}")

        def nine(key: str) -> tuple[float, ...]:
            values = tuple(float(v) for v in data[key])
            if len(values) != len(NEIGHBOURS):
                raise ValueError(f"'{key}': {len(NEIGHBOURS)} numbers expected, got {len(values)}")
            return values

        cx, cy = data["central_cell"]
        return cls((int(cx), int(cy)), nine("mean"), nine("mean_slope"),
                   nine("variance"), nine("variance_slope"), float(data["energy_floor"]),
                   int(data["n_events"]), int(data.get("n_low_energy", 0)), data.get("fallback"),
                   tuple(EnergyBin.from_json(b) for b in data.get("bins", ())),
                   tuple(data.get("chunks", ())))

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=1) + "\n")

    @classmethod
    def read(cls, path: Path) -> ShowerReference:
        return cls.from_json(json.loads(path.read_text()))


def _enough(n: float) -> None:
    if n < MIN_REFERENCE_EVENTS:
        raise ReferenceUnavailable(
            f"only {int(n)} calibration-trigger electrons passed the reference selection"
            f" (at least {MIN_REFERENCE_EVENTS} are needed to derive the shower shape)"
        )


def fit_variance(u: np.ndarray, var: np.ndarray, n: np.ndarray, iterations: int = 3
                 ) -> tuple[float, float]:
    """(c^2, s^2) >= 0 of var = c^2 + s^2 u from bin variances ``var`` of ``n`` electrons at
    u = <1/E>, by weighted non-negative least squares; the weight of a bin is the inverse of
    the variance of a sample variance, 2 var^2 / (n - 1) (normal approximation), with var
    from the previous iteration's fit (the measured one at first)."""
    import scipy.optimize  # here: the workers never fit (0.4 s of their start-up)

    model = np.maximum(var, 1e-12)
    a = b = 0.0
    for _ in range(iterations):
        w = np.sqrt((n - 1) / 2.0) / model
        (a, b), _ = scipy.optimize.nnls(np.column_stack([np.ones_like(u), u]) * w[:, None], var * w)
        model = np.maximum(a + b * u, 1e-12)
    return float(a), float(b)


def fit_mean(u: np.ndarray, mean: np.ndarray, var: np.ndarray, n: np.ndarray) -> tuple[float, float]:
    """(m, k) of mean = m + k u by weighted least squares (error of a bin's mean:
    sqrt(var / n), var from the variance fit)."""
    w = np.sqrt(n / np.maximum(var, 1e-12))
    m, k = np.polynomial.polynomial.polyfit(u, mean, 1, w=w)
    return float(m), float(k)


def reference_from_bins(central_cell: tuple[int, int], beam_energy: float, total: np.ndarray,
                        sources: tuple[str, ...] = ()) -> ShowerReference:
    """The reference from the summed per-bin sums ``total`` (:data:`REFERENCE_SUMS_SHAPE`):
    fitted (see the module docstring), or the documented fallback (logged)."""
    cal = total[-1]
    _enough(cal[0])
    used = [k for k in range(len(total) - 1) if total[k, 0] >= MIN_BIN_EVENTS]
    bins = tuple(_bin_moments(total[k]) for k in [*used, len(total) - 1])
    floor = ENERGY_FLOOR * beam_energy
    cx, cy = int(central_cell[0]), int(central_cell[1])
    e_cal = bins[-1].energy
    low = [b for b in bins[:-1]]
    problem = None
    if len(low) < MIN_FIT_BINS:
        problem = (f"{len(low)} low-energy bins with at least {MIN_BIN_EVENTS} electrons "
                   f"(at least {MIN_FIT_BINS} needed)")
    elif min(b.energy for b in low) > MAX_LEVER_ENERGY * e_cal:
        problem = (f"no low-energy bin below {MAX_LEVER_ENERGY:g} x {e_cal:.3g} GeV "
                   f"(lowest: {min(b.energy for b in low):.3g} GeV)")
    n_low = int(sum(b.n_events for b in low))
    if problem is not None:
        fallback = (f"energy dependence not measurable: {problem}; the calibration spread is "
                    f"scaled as sampling fluctuations, sigma_j(E)^2 = sigma_j({e_cal:.3g} GeV)^2 "
                    f"x {e_cal:.3g} GeV / E")
        log.warning("shower reference: %s", fallback)
        var_cal = np.square(bins[-1].sigma)
        zero = (0.0,) * len(var_cal)
        return ShowerReference((cx, cy), bins[-1].mean, zero, zero,
                               tuple(map(float, var_cal * e_cal)), floor, int(cal[0]), n_low,
                               fallback, bins, sources)
    u = np.array([1.0 / b.energy for b in bins])
    n = np.array([b.n_events for b in bins], np.float64)
    means = np.array([b.mean for b in bins])
    var = np.square(np.array([b.sigma for b in bins]))
    params = []
    for j in range(means.shape[1]):
        if not np.any(var[:, j] > 0):  # a tower outside the ECAL: no spread, no chi2 term
            params.append((0.0, 0.0, 0.0, 0.0))
            continue
        a, b = fit_variance(u, var[:, j], n)
        m, k = fit_mean(u, means[:, j], a + b * u, n)
        params.append((m, k, a, b))
    m_, k_, a_, b_ = (tuple(p[i] for p in params) for i in range(4))
    return ShowerReference((cx, cy), m_, k_, a_, b_, floor, int(cal[0]), n_low, None, bins, sources)


def reference_from_output(output: ReferenceSums, central_cell: tuple[int, int],
                          beam_energy: float) -> ShowerReference:
    """Add the per-chunk sums in chunk order and build the reference."""
    sums = output.sums
    keys = sorted(sums)
    total = np.zeros(REFERENCE_SUMS_SHAPE)
    for k in keys:
        total += sums[k]
    return reference_from_bins(central_cell, beam_energy, total, tuple(keys))
