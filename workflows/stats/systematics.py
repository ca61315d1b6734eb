"""Nuisance parameters of the fit: the selection variations and the fixed uncertainties.

Variations (``na64 process --variations``)
    Every entry of the variations file (``ecal_scale`` with ``ecal_scale_up`` and
    ``ecal_scale_down``) is ONE nuisance parameter named after the entry, shared by all
    periods, or one per period (``<name>_<period>``) when the entry says
    ``correlated: false``. Its effects:

    * box background: the sideband extrapolation is redone on the variation's own
      sideband histograms with the variation's thresholds (the same shapes and fit
      ranges as the nominal, :func:`workflows.stats.background.estimate_box_background`),
      giving the up and down box background of each period, a ``normsys`` up/nominal,
      down/nominal on that period's box background. Not a ``histosys``: each period is
      its own sample filling its own bin, so per-sample ``normsys`` factors already give
      every period (bin) its own variation, i.e. the full shape across periods, while
      keeping the yield positive (exponential interpolation) where a ``histosys`` would
      interpolate linearly and could go negative for large shifts;
    * signal: the efficiency ratio variation/nominal of each period at the mass of the
      model (``EfficiencyTable.variations``), a ``normsys`` on the signal sample under
      the SAME name, so the parameter moves signal and background together.

    One-sided entries (only ``NAME_up``, e.g. ``sideband_c_edge``, or only ``NAME_down``) are symmetrised as
    cabinetry does, but multiplicatively: down factor = 1 / up factor (cabinetry mirrors
    linearly, 2 - up; the two agree to O(shift^2) and the multiplicative mirror cannot go
    negative, in line with the log-normal hi = k, lo = 1/k of every other nuisance).

    A varied estimate of 0 (its sideband fits failed) while the nominal is not is floored
    at :data:`FACTOR_FLOOR` times the nominal, with a warning (a normsys factor must be
    positive); so are efficiency ratios.

Fixed uncertainties (``datasets/systematics.yaml``, :mod:`workflows.stats.systematics_file`)
    a log-normal factor 1 + value (down 1 / (1 + value)) on the signal or box background
    of each period, named after the key (``<key>_<period>`` when not correlated).

The merged counting model (one bin) gets the same names (:func:`counting_nuisances`):
backgrounds summed over the periods the parameter moves; the signal factor depends on
the mass (the periods' shares of the signal and their efficiency ratios change with it)
while N_90 is computed once, so the factor taken is the conservative envelope over the
mass grid: at each mass, the signal-weighted mean factor over the periods; then the
mass where the factor is farthest from 1 (largest |ln f| of up or down) gives both hi
and lo. ``workspace.json`` (signal shared by EOT, not tied to a mass) takes the signal
ratios at :data:`REFERENCE_MASS`, recorded in ``limits.json``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from processors.jsonio import Reader
from processors.variations import NOMINAL
from workflows.stats.background import estimate_box_background
from workflows.stats.exclusion import CountingNuisance
from workflows.stats.fit import FitError

if TYPE_CHECKING:
    from processors.cuts import Thresholds
    from workflows.processing.results import PeriodResult
    from workflows.signal.efficiency import EfficiencyTable
    from workflows.stats.fit import PeriodBackground
    from workflows.stats.model import PeriodInputs, Systematic
    from workflows.stats.systematics_file import SystematicsFile

log = logging.getLogger(__name__)

#: The A' mass (GeV) whose efficiency ratios the signal of ``workspace.json`` carries:
#: 20 MeV, one of the masses ``na64 signal`` simulates by default (no interpolation),
#: inside the region where the limits are strongest (estimate: a representative mass).
REFERENCE_MASS = 0.02
#: Smallest factor a variation may apply (a varied estimate of 0: see the module docstring).
FACTOR_FLOOR = 1e-3
_SUFFIXES = ("_up", "_down")


def _fit_error(message: str) -> FitError:
    return FitError(message)


@dataclass(frozen=True)
class PeriodShift:
    """Box background of one period, nominal and with a variation up and down (events);
    ``down`` is the symmetrised one (nominal^2 / up) for a one-sided variation."""

    period: str
    nominal: float
    up: float
    down: float

    def factors(self) -> tuple[float, float] | None:
        """(up/nominal, down/nominal), floored; None when the nominal is 0 (nothing to scale)."""
        if self.nominal <= 0:
            return None
        return (max(self.up / self.nominal, FACTOR_FLOOR), max(self.down / self.nominal, FACTOR_FLOOR))

    def to_json(self) -> dict[str, Any]:
        return {"period": self.period, "nominal": self.nominal, "up": self.up, "down": self.down}

    @classmethod
    def read(cls, r: Reader) -> PeriodShift:
        return cls(r.text("period"), r.number("nominal"), r.number("up"), r.number("down"))


@dataclass(frozen=True)
class VariationNuisance:
    """One entry of the variations file as a nuisance of the fit (module docstring).

    ``background``: the periods' box backgrounds nominal/up/down (fit order);
    ``efficiency``: the table whose ``variations`` give the signal ratios (None: the
    variation does not move the signal).
    """

    name: str
    correlated: bool
    #: the directions the processing evaluated (``("up", "down")``, or one of them:
    #: the other is the mirror image)
    measured: tuple[str, ...]
    background: tuple[PeriodShift, ...]
    efficiency: EfficiencyTable | None = None

    @property
    def one_sided(self) -> bool:
        return len(self.measured) == 1

    @property
    def periods(self) -> list[str]:
        return [b.period for b in self.background]

    def parameter(self, period: str) -> str:
        return self.name if self.correlated else f"{self.name}_{period}"

    @property
    def parameters(self) -> list[str]:
        return list(dict.fromkeys(self.parameter(p) for p in self.periods))

    def signal_ratios(self, period: str, masses: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Efficiency ratios (up/nominal, down/nominal) of ``period`` at ``masses`` (1 where
        the nominal efficiency is 0, or without a table), floored at :data:`FACTOR_FLOOR`."""
        m = np.atleast_1d(np.asarray(masses, dtype=float))
        if self.efficiency is None:
            return np.ones_like(m), np.ones_like(m)
        nominal = self.efficiency.at(period, m)
        ratios = {}
        with np.errstate(divide="ignore", invalid="ignore"):
            for d in self.measured:
                ratios[d] = np.where(nominal > 0, self.efficiency.at(period, m, f"{self.name}_{d}") / nominal, 1.0)
        if any((r <= 0).any() for r in ratios.values()):
            log.warning("%s, period %s: the variation leaves no signal efficiency at some mass; "
                        "its factor is floored at %g", self.name, period, FACTOR_FLOOR)
        ratios = {d: np.maximum(r, FACTOR_FLOOR) for d, r in ratios.items()}
        up = ratios.get("up", 1.0 / ratios.get("down", 1.0))
        down = ratios.get("down", 1.0 / up)
        return np.asarray(up), np.asarray(down)


def _group(names: Sequence[str], periods: str) -> dict[str, list[str]]:
    """Entry name -> its directions present (``up``, ``down``)."""
    out: dict[str, list[str]] = {}
    for name in names:
        suffix = next((s for s in _SUFFIXES if name.endswith(s)), None)
        if suffix is None:
            raise _fit_error(f"periods {periods}: variation {name!r} is neither NAME_up nor NAME_down; "
                             "reprocess with a variations file (na64 process --variations FILE)")
        out.setdefault(name[: -len(suffix)], []).append(suffix[1:])
    return out


def check_variations(periods: Sequence[PeriodResult]) -> dict[str, tuple[bool, tuple[str, ...]]]:
    """The variation entries all ``periods`` share: name -> (correlated, directions evaluated).

    :class:`FitError` when a summary lacks the variations' thresholds (written before
    they were recorded) or the periods were processed with different variation sets.
    """
    old = [p.name for p in periods
           if any(v.thresholds is None for v in (p.summary.variations or {}).values())]
    if old:
        raise _fit_error(f"periods {', '.join(old)}: summary.json has variations without their "
                         "thresholds (processed by an older version); rerun `na64 process --variations "
                         f"FILE --period ...` for {', '.join(old)}")
    sets: dict[tuple[tuple[str, bool], ...], list[str]] = {}
    for p in periods:
        key = tuple(sorted((n, v.correlated) for n, v in (p.summary.variations or {}).items()))
        sets.setdefault(key, []).append(p.name)
    if len(sets) > 1:
        described = "; ".join(
            f"periods {', '.join(names)}: "
            + (", ".join(f"{n}{'' if c else ' (uncorrelated)'}" for n, c in key) or "no variations")
            for key, names in sets.items())
        raise _fit_error("the periods were processed with different variation sets (" + described
                         + "); reprocess them all with the same file: na64 process --variations FILE")
    if not periods:
        return {}
    variations = periods[0].summary.variations or {}
    grouped = _group(list(variations), ", ".join(p.name for p in periods))
    return {name: (variations[f"{name}_{dirs[0]}"].correlated, tuple(dirs))
            for name, dirs in grouped.items()}


def _period_boxes(spectra: dict[str, Any], thresholds: list[Thresholds], beam_energy: float,
                  names: list[str]) -> list[tuple[float, list[str]]]:
    """The box background of each variation of one period (and the messages of its
    sidebands that could not be fitted): one task of the cluster."""
    out = []
    for name, t in zip(names, thresholds, strict=True):
        estimates = estimate_box_background(spectra, t, beam_energy, variation=name)
        out.append((sum(e.central for e in estimates.values()),
                    [e.message for e in estimates.values() if not e.fitted and e.n_sideband]))
    return out


def _boxes(periods: Sequence[PeriodResult], names: list[str], client: Any = None) -> dict[tuple[str, str], float]:
    """(period, variation) -> the variation's box background, the periods in parallel on
    ``client`` (a ``distributed.Client``) when given: each is ~2 x 9 sideband fits per
    variation, ~360 per period with the default variations."""
    args = []
    for p in periods:
        s = p.summary
        thresholds = []
        for n in names:
            t = (s.variations or {})[n].thresholds
            assert t is not None  # check_variations refused it otherwise
            thresholds.append(t)
        spectra = {k: p.hists[k] for k in ("ecal_sideband_c", "hcal_sideband_a")}
        args.append((spectra, thresholds, s.beam_energy, names))
    if client is not None and len(args) > 1:
        results = client.gather([client.submit(_period_boxes, *a, pure=False) for a in args])
    else:
        results = [_period_boxes(*a) for a in args]
    out = {}
    for p, rows in zip(periods, results, strict=True):
        for name, (box, messages) in zip(names, rows, strict=True):
            for m in messages:
                log.info("%s, %s: %s", p.name, name, m)
            out[(p.name, name)] = box
    return out


def variation_nuisances(periods: Sequence[PeriodResult], table: EfficiencyTable | None,
                        backgrounds: Sequence[PeriodBackground] | None = None,
                        client: Any = None) -> list[VariationNuisance]:
    """One :class:`VariationNuisance` per variation entry of the processed ``periods``.

    ``backgrounds``: the nominal estimates already made (:func:`workflows.stats.fit.period_background`),
    else they are redone. With a ``table`` that has ``variations``, every variation
    of the periods must be in it (:class:`FitError` otherwise: rerun ``na64 signal
    --variations``); a table without variations leaves the signal unmoved (a warning).
    ``client``: the periods' extrapolations run in parallel on it.
    """
    entries = check_variations(periods)
    if not entries:
        return []
    if backgrounds is not None:
        nominal = {b.period: b.background for b in backgrounds}
    else:
        nominal = {p.name: sum(e.central for e in estimate_box_background(
            p.hists, p.summary.thresholds, p.summary.beam_energy, NOMINAL).values()) for p in periods}
    efficiency = table
    if table is not None and not table.variations:
        log.warning("the signal efficiency table has no variations: they move the background only; "
                    "`na64 signal --variations FILE` measures their effect on the signal")
        efficiency = None
    if efficiency is not None:
        names = [f"{n}_{d}" for n, (_, measured) in entries.items() for d in measured]
        missing = [n for n in names if n not in efficiency.variations]
        lacking = sorted({p for n in names if n in efficiency.variations for p in
                          [r.name for r in periods] if p not in efficiency.variations[n]})
        if missing or lacking:
            raise _fit_error("the signal efficiency table lacks "
                             + (f"variations {', '.join(missing)}" if missing else "")
                             + (" and " if missing and lacking else "")
                             + (f"periods {', '.join(lacking)} in its variations" if lacking else "")
                             + "; rerun `na64 signal --variations FILE` with the processing's variations file")
    boxes = _boxes(periods, [f"{n}_{d}" for n, (_, measured) in entries.items() for d in measured], client)
    out = []
    for name, (correlated, measured) in entries.items():
        shifts = []
        for p in periods:
            b = nominal[p.name]
            varied = {d: boxes[(p.name, f"{name}_{d}")] for d in measured}
            if b > 0 and any(x <= 0 for x in varied.values()):
                log.warning("%s, period %s: a varied background estimate is 0 (its sideband fits "
                            "failed); its factor is floored at %g", name, p.name, FACTOR_FLOOR)
            if len(measured) == 1:  # the mirror image: other / nominal = nominal / measured
                (d, x), = varied.items()
                varied["down" if d == "up" else "up"] = b * b / x if x > 0 else b / FACTOR_FLOOR
            shifts.append(PeriodShift(p.name, b, varied["up"], varied["down"]))
        out.append(VariationNuisance(name, correlated, measured, tuple(shifts), efficiency))
    return out


def check_names(variations: Sequence[VariationNuisance], fixed: SystematicsFile | None,
                periods: Sequence[str], source: str | Path = "systematics file") -> None:
    """:class:`FitError` when two nuisances would share a name by accident."""
    names: dict[str, str] = {}
    for v in variations:
        for n in v.parameters:
            names[n] = f"variation {v.name}"
    for key, s in (fixed.active().items() if fixed else []):
        for n in ([key] if s.correlated else [f"{key}_{p}" for p in periods]):
            if n in names:
                raise _fit_error(f"{source}: key '{key}': nuisance {n} is also the name of "
                                 f"{names[n]}; rename one of them")
            names[n] = f"key {key}"


def model_systematics(inputs: Sequence[PeriodInputs], variations: Sequence[VariationNuisance],
                      fixed: SystematicsFile | None, mass: float | None) -> dict[str, list[Systematic]]:
    """The ``extra_systematics`` of :func:`workflows.stats.model.build_workspace` for these
    ``inputs`` (one per period, same order as the variations' periods): the variations
    with the signal ratios at ``mass`` (GeV; None: the signal is not moved) and the fixed
    uncertainties."""
    from workflows.stats.model import Systematic

    out: dict[str, list[Systematic]] = {}
    n = len(inputs)
    for v in variations:
        if v.periods != [p.name for p in inputs]:
            raise ValueError(f"variation {v.name}: periods {v.periods} != model periods "
                             f"{[p.name for p in inputs]}")
        for param in v.parameters:
            b_up = [p.background for p in inputs]
            b_dn = list(b_up)
            s_up = [p.signal for p in inputs]
            s_dn = list(s_up)
            for i, (p, shift) in enumerate(zip(inputs, v.background, strict=True)):
                if v.parameter(p.name) != param:
                    continue
                f = shift.factors()
                if f is not None:
                    b_up[i], b_dn[i] = p.background * f[0], p.background * f[1]
                if mass is not None:
                    r_up, r_dn = v.signal_ratios(p.name, mass)
                    s_up[i], s_dn[i] = p.signal * float(r_up[0]), p.signal * float(r_dn[0])
            out[param] = [Systematic("background", b_up, b_dn)]
            if v.efficiency is not None and mass is not None:
                out[param].append(Systematic("signal", s_up, s_dn))
    for key, s in (fixed.active().items() if fixed else []):
        k = 1.0 + s.value
        params = [key] if s.correlated else [f"{key}_{p.name}" for p in inputs]
        for param in params:
            nominal = [p.signal if s.sample == "signal" else p.background for p in inputs]
            up, down = list(nominal), list(nominal)
            for i, p in enumerate(inputs):
                if s.parameter(key, p.name) == param:
                    up[i], down[i] = nominal[i] * k, nominal[i] / k
            out[param] = [Systematic(s.sample, up, down)]
    assert len({len(x.up) for xs in out.values() for x in xs} | {n}) == 1
    return out


def _envelope(factors_up: np.ndarray, factors_down: np.ndarray,
              masses: np.ndarray | None) -> tuple[tuple[float, float], float | None]:
    """(hi, lo) at the mass farthest from 1 (largest |ln| of up or down), and that mass
    (None when the factors do not depend on the mass)."""
    size = np.maximum(np.abs(np.log(factors_up)), np.abs(np.log(factors_down)))
    j = int(np.argmax(size))
    constant = np.ptp(factors_up) < 1e-12 and np.ptp(factors_down) < 1e-12
    return (float(factors_up[j]), float(factors_down[j])), (None if masses is None or constant else float(masses[j]))


def counting_nuisances(backgrounds: Sequence[float], variations: Sequence[VariationNuisance],
                       fixed: SystematicsFile | None, periods: Sequence[str],
                       signal: np.ndarray | None = None,
                       masses: np.ndarray | None = None) -> list[CountingNuisance]:
    """The named nuisances of the merged counting model (module docstring).

    ``backgrounds``: nominal box background per period; ``signal``: expected signal per
    period and mass, shape (n_periods, n_masses), at ``masses`` (GeV); without masses
    (no efficiency table) one column of signal shares, e.g. by EOT, and the variations
    do not move the signal. Without ``signal`` a fixed signal uncertainty moves the total
    signal by its full value (as if one period held all of it).
    """
    b = np.asarray(backgrounds, dtype=float)
    total_b = float(b.sum())
    weights: np.ndarray | None = None
    live_masses: np.ndarray | None = None
    if signal is not None:
        total_s = signal.sum(axis=0)
        live = total_s > 0
        weights = signal[:, live] / total_s[live]
        live_masses = None if masses is None else np.asarray(masses)[live]
    out: list[CountingNuisance] = []

    def signal_factor(ratio_up: np.ndarray, ratio_down: np.ndarray) -> tuple[tuple[float, float], float | None]:
        """``ratio_*``: (n_periods, n_live) per-period factors; signal-weighted, then the envelope."""
        assert weights is not None
        return _envelope((weights * ratio_up).sum(axis=0), (weights * ratio_down).sum(axis=0), live_masses)

    for v in variations:
        for param in v.parameters:
            moved = [i for i, p in enumerate(periods) if v.parameter(p) == param]
            bkg: tuple[float, float] | None = None
            if total_b > 0:
                up = total_b + sum(b[i] * ((v.background[i].factors() or (1.0, 1.0))[0] - 1) for i in moved)
                dn = total_b + sum(b[i] * ((v.background[i].factors() or (1.0, 1.0))[1] - 1) for i in moved)
                bkg = (max(float(up) / total_b, FACTOR_FLOOR), max(float(dn) / total_b, FACTOR_FLOOR))
            sig: tuple[float, float] | None = None
            mass: float | None = None
            if v.efficiency is not None and weights is not None and live_masses is not None:
                r_up = np.ones_like(weights)
                r_dn = np.ones_like(weights)
                for i in moved:
                    r_up[i], r_dn[i] = v.signal_ratios(periods[i], live_masses)
                sig, mass = signal_factor(r_up, r_dn)
            out.append(CountingNuisance(param, sig, bkg, mass))
    for key, s in (fixed.active().items() if fixed else []):
        k = 1.0 + s.value
        params = [key] if s.correlated else [f"{key}_{p}" for p in periods]
        for param in params:
            moved = [i for i, p in enumerate(periods) if s.parameter(key, p) == param]
            if s.sample == "background":
                if total_b <= 0:
                    continue
                hi = 1.0 + s.value * float(sum(b[i] for i in moved)) / total_b
                out.append(CountingNuisance(param, background=(hi, 1.0 / hi)))
            elif weights is None:
                out.append(CountingNuisance(param, signal=(k, 1.0 / k)))
            else:
                r_up = np.ones_like(weights)
                r_dn = np.ones_like(weights)
                r_up[moved], r_dn[moved] = k, 1.0 / k
                sig, mass = signal_factor(r_up, r_dn)
                out.append(CountingNuisance(param, signal=sig, mass=mass))
    return out


@dataclass(frozen=True)
class VariationRecord:
    """What ``limits.json`` says about one variation nuisance: its parameters, the
    periods' backgrounds nominal/up/down, and the signal ratios at the reference mass."""

    name: str
    correlated: bool
    one_sided: bool
    parameters: list[str]
    background: list[PeriodShift]
    signal_ratios: dict[str, tuple[float, float]]  # period -> (up, down) at the reference mass

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "correlated": self.correlated, "one_sided": self.one_sided,
                "parameters": self.parameters, "background": [b.to_json() for b in self.background],
                "signal_ratios": {k: list(v) for k, v in self.signal_ratios.items()}}

    @classmethod
    def read(cls, r: Reader) -> VariationRecord:
        ratios = r.obj("signal_ratios")
        pairs = {}
        for k in ratios.keys():
            a = ratios.numbers(k)
            if a.shape != (2,):
                raise ratios.error(k, f"two ratios (up, down) expected, got {a.size}")
            pairs[k] = (float(a[0]), float(a[1]))
        return cls(r.text("name"), r.flag("correlated"), r.flag("one_sided"), r.texts("parameters"),
                   [PeriodShift.read(b) for b in r.objects("background")], pairs)


@dataclass(frozen=True)
class FixedRecord:
    """A fixed uncertainty as used: key, sample, relative value, correlated, source, parameters."""

    name: str
    sample: str
    value: float
    correlated: bool
    source: str
    parameters: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "sample": self.sample, "value": self.value,
                "correlated": self.correlated, "source": self.source, "parameters": self.parameters}

    @classmethod
    def read(cls, r: Reader) -> FixedRecord:
        return cls(r.text("name"), r.text("sample"), r.number("value"), r.flag("correlated"),
                   r.text("source"), r.texts("parameters"))


@dataclass
class SystematicsReport:
    """The systematics of a fit, for ``limits.json`` (:class:`workflows.stats.fit.FitReport`).

    ``merged``: the nuisances of the merged counting model as used for N_90 (signal
    factors at the envelope's mass).
    """

    file: str | None
    reference_mass: float
    variations: list[VariationRecord] = field(default_factory=list)
    fixed: list[FixedRecord] = field(default_factory=list)
    merged: list[CountingNuisance] = field(default_factory=list)

    @classmethod
    def build(cls, file: Path | None, variations: Sequence[VariationNuisance], fixed: SystematicsFile | None,
              periods: Sequence[str], merged: Sequence[CountingNuisance]) -> SystematicsReport:
        records = []
        for v in variations:
            ratios = {}
            if v.efficiency is not None:
                for p in v.periods:
                    up, dn = v.signal_ratios(p, REFERENCE_MASS)
                    ratios[p] = (float(up[0]), float(dn[0]))
            records.append(VariationRecord(v.name, v.correlated, v.one_sided, v.parameters,
                                           list(v.background), ratios))
        fixed_records = [FixedRecord(k, s.sample, s.value, s.correlated, s.source,
                                     ([k] if s.correlated else [f"{k}_{p}" for p in periods]) if s.value > 0 else [])
                         for k, s in (fixed.systematics.items() if fixed else [])]
        return cls(None if file is None else str(file), REFERENCE_MASS, records, fixed_records, list(merged))

    @property
    def parameters(self) -> list[str]:
        return [n for v in self.variations for n in v.parameters] + [n for f in self.fixed for n in f.parameters]

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "reference_mass": self.reference_mass,
                "variations": [v.to_json() for v in self.variations],
                "fixed": [f.to_json() for f in self.fixed],
                "merged": [m.to_json() for m in self.merged]}

    @classmethod
    def read(cls, r: Reader) -> SystematicsReport:
        file = None if r.value("file") is None else r.text("file")
        return cls(file, r.number("reference_mass"), [VariationRecord.read(v) for v in r.objects("variations")],
                   [FixedRecord.read(f) for f in r.objects("fixed")],
                   [CountingNuisance.read(m) for m in r.objects("merged")])


__all__ = [
    "FACTOR_FLOOR", "REFERENCE_MASS", "FixedRecord", "PeriodShift", "SystematicsReport",
    "VariationNuisance", "VariationRecord", "check_names", "check_variations", "counting_nuisances",
    "model_systematics", "variation_nuisances",
]
