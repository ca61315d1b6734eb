"""``na64 fit``: from processed periods to the background table, the workspace and limits.

1. For each processed period, the box background is extrapolated from sidebands C
   (E_ECAL spectrum) and A (E_HCAL spectrum) (:mod:`workflows.stats.background`), with one
   plot per sideband.
2. The periods become the bins of one HistFactory model (:mod:`workflows.stats.model`):
   box with signal and background, sidebands A and C constraining the background.
3. CLs upper limits (:mod:`workflows.stats.limits`). Without a signal model the POI is the
   total number of signal events, shared among periods in proportion to their EOT
   (a model-independent limit: 2.3 events at 90 % CL for an empty box). With the A'
   model (:mod:`workflows.stats.exclusion`) the signal is EOT x efficiency x yield per EOT.
4. Systematics (:mod:`workflows.stats.systematics`): every variation the periods were
   processed with is one nuisance on the box background (the extrapolation redone on
   the variation's sidebands) and on the signal (efficiency ratios of the table), the
   same parameter in both; the fixed uncertainties come from ``--systematics``
   (``datasets/systematics.yaml``). Both models and ``workspace.json`` carry them by name;
   ``limits.json`` records them (:class:`workflows.stats.systematics.SystematicsReport`).

Blinded results give expected limits only (the box data are the background expectation).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from processors.errors import StatisticsError
from processors.jsonio import Reader, open_document
from workflows.processing.results import PeriodResult, read_results, write_json
from workflows.stats.background import SidebandEstimate, estimate_box_background
from workflows.stats.budget import background_budget

if TYPE_CHECKING:
    from workflows.stats.diagnostics import FitDiagnostics
    from workflows.stats.exclusion import Exclusion
    from workflows.stats.fit_breakdown import SystematicsBreakdown
    from workflows.stats.limits import LimitResult
    from workflows.stats.model import PeriodInputs
    from workflows.stats.systematics import SystematicsReport

log = logging.getLogger(__name__)

#: Version of the ``limits.json`` layout written by :meth:`FitReport.to_json` (2: with
#: ``systematics``; version 1 files are still read, without it).
FIT_REPORT_VERSION = 2
LIMITS_FILE = "limits.json"


class FitError(StatisticsError):
    """The fit cannot be done with these inputs (the message says why)."""

    exit_code = 2


@dataclass
class PeriodBackground:
    """Sideband counts and the extrapolated box background of one period."""

    period: str
    eot: float
    blinded: bool
    box_observed: int | None
    a_observed: int
    c_observed: int
    estimates: dict[str, SidebandEstimate]
    #: box events by true process (MC truth of an unblinded simulated sample), else None
    truth_box: dict[str, int] | None = None

    @property
    def background(self) -> float:
        return sum(e.central for e in self.estimates.values())

    @property
    def error(self) -> float:
        return math.hypot(*(e.error for e in self.estimates.values()))

    @property
    def syst_error(self) -> float:
        return math.hypot(*(e.syst_error for e in self.estimates.values()))

    def to_json(self) -> dict[str, Any]:
        return {
            "period": self.period, "eot": self.eot, "blinded": self.blinded,
            "box_observed": self.box_observed, "A": self.a_observed, "C": self.c_observed,
            "background": self.background, "background_error": self.error,
            "sidebands": {k: e.to_json() for k, e in self.estimates.items()},
            **({"truth_box_by_process": self.truth_box} if self.truth_box is not None else {}),
        }

    @classmethod
    def from_json(cls, data: Any, source: str = "period background") -> PeriodBackground:
        """The period :meth:`to_json` wrote (``background`` and its error follow from the
        sidebands: not read); :class:`InputError` naming ``source`` and the key if malformed."""
        return cls.read(Reader(data, source))

    @classmethod
    def read(cls, r: Reader) -> PeriodBackground:
        """The period in the object ``r`` reads."""
        box = r.optional_integer("box_observed")
        sidebands = r.obj("sidebands")
        truth = None
        if "truth_box_by_process" in r:
            t = r.obj("truth_box_by_process")
            truth = {k: t.integer(k) for k in t.keys()}
        return cls(r.text("period"), r.number("eot"), r.flag("blinded"), box, r.integer("A"), r.integer("C"),
                   {k: SidebandEstimate.read(sidebands.obj(k)) for k in sidebands.keys()}, truth)


def period_background(result: PeriodResult, plots: Path | None = None) -> PeriodBackground:
    """Extrapolate one period's sidebands into its box (and plot the fits)."""
    s = result.summary
    estimates = estimate_box_background(result.hists, s.thresholds, s.beam_energy)
    if plots is not None:
        from workflows.plots import plot_sideband_fits

        spectra = {"C": result.hists["ecal_sideband_c"], "A": result.hists["hcal_sideband_a"]}
        for name, est in estimates.items():
            plot_sideband_fits(spectra[name][{"variation": "nominal"}], est,
                               plots / f"sideband_{name}_{result.name}.png",
                               f"{result.name}: sideband {name} extrapolated into the box")
    r = s.regions
    return PeriodBackground(result.name, s.eot, result.blinded, r.box, r.A, r.C, estimates,
                            s.truth_box_by_process)


def model_inputs(backgrounds: list[PeriodBackground], signal: dict[str, float]) -> list[PeriodInputs]:
    """One :class:`workflows.stats.model.PeriodInputs` per period."""
    from workflows.stats.model import PeriodInputs

    return [
        PeriodInputs(
            name=b.period, eot=b.eot, background=b.background,
            # With sideband counts in the model, only the extrapolation (systematic) error
            # enters as a nuisance; the sideband statistics come from the Poisson terms.
            background_error=b.syst_error if (b.a_observed + b.c_observed) else b.error,
            signal=signal[b.period], box_observed=b.box_observed,
            a_observed=b.a_observed, c_observed=b.c_observed,
        )
        for b in backgrounds
    ]


def load_for_fit(results: Path, unblind: bool) -> list[PeriodResult]:
    """Every period below ``results``; all must be usable (see :func:`read_results`)."""
    periods = read_results(results)
    if unblind:
        blinded = [p.name for p in periods if p.blinded]
        if blinded:
            raise FitError(f"periods {', '.join(blinded)} were processed blinded; "
                           "run `na64 process --unblind` first to fit the observed box")
    for p in periods:
        if p.unfinished:
            log.warning("%s: %s", p.name, p.unfinished)
    incomplete = [p.name for p in periods if not p.complete]
    if incomplete:
        log.warning("periods %s are incomplete (see 'failed' in their summary.json)",
                    ", ".join(incomplete))
    return periods


def total_background(backgrounds: list[PeriodBackground]) -> tuple[float, float]:
    """The box background of all periods and its error (the periods' errors in quadrature)."""
    return (sum(b.background for b in backgrounds),
            math.sqrt(sum(b.error**2 for b in backgrounds)))


def observed_box(backgrounds: list[PeriodBackground]) -> int:
    """Events observed in the signal boxes of all periods (they must have been counted)."""
    missing = [b.period for b in backgrounds if b.box_observed is None]
    if missing:
        raise FitError(f"periods {', '.join(missing)} have no box count (processed blinded?)")
    return sum(int(b.box_observed or 0) for b in backgrounds)


@dataclass
class FitReport:
    """What ``na64 fit`` found: backgrounds, the limit on the signal count, the exclusion.

    :meth:`to_json` is the ``limits.json`` document (``schema_version`` =
    :data:`FIT_REPORT_VERSION`), :meth:`from_json` rebuilds the report from it.
    """

    blinded: bool
    cl: float
    backgrounds: list[PeriodBackground]
    signal_limit: LimitResult
    workspace: Path
    exclusion: Exclusion | None = None
    efficiency_file: Path | None = None
    efficiency_at_masses: dict[str, list[float]] = field(default_factory=dict)
    systematics: SystematicsReport | None = None
    #: pulls, impacts, pre-/post-fit yields and correlations of the fit of workspace.json
    diagnostics: FitDiagnostics | None = None
    #: the expected limit with all uncertainties, statistics only and each source removed
    breakdown: SystematicsBreakdown | None = None

    @property
    def background(self) -> float:
        return total_background(self.backgrounds)[0]

    @property
    def background_error(self) -> float:
        return total_background(self.backgrounds)[1]

    @property
    def observed(self) -> int | None:
        if self.blinded:
            return None
        return observed_box(self.backgrounds)

    @property
    def total_eot(self) -> float:
        return sum(b.eot for b in self.backgrounds)

    def to_json(self) -> dict[str, Any]:
        """The ``limits.json`` document.

        ``signal_events_limit`` holds ``method``, ``expected`` (empty: not computed) and
        ``observed`` (null while blinded), then the rest of the :class:`LimitResult`
        (:meth:`LimitResult.to_json`), with the limit computed on the workspace's data under
        ``limit_on_data`` (blinded, the box count there is the background expectation: no
        observation). ``exclusion`` is :meth:`Exclusion.to_json` with the ``efficiency``
        table's path.
        """
        n90 = self.signal_limit
        limit = n90.to_json()
        out: dict[str, Any] = {
            "schema_version": FIT_REPORT_VERSION,
            "blinded": self.blinded, "cl": self.cl,
            "background": {"total": self.background, "error": self.background_error},
            "observed_box": self.observed,
            "signal_events_limit": {"method": n90.method, "expected": list(n90.expected or ()),
                                    "observed": None if self.blinded else n90.observed,
                                    **{k: v for k, v in limit.items() if k not in ("method", "expected", "observed")},
                                    "limit_on_data": limit["observed"]},
            "workspace": str(self.workspace),
            "periods": [b.to_json() for b in self.backgrounds],
        }
        if self.exclusion is not None:
            exclusion = self.exclusion.to_json()
            out["exclusion"] = {"model": exclusion.pop("model"), "method": exclusion.pop("method"),
                                "efficiency": str(self.efficiency_file), **exclusion}
            out["efficiency_at_masses"] = self.efficiency_at_masses
        if self.systematics is not None:
            out["systematics"] = self.systematics.to_json()
        if self.diagnostics is not None:
            out["diagnostics"] = self.diagnostics.to_json()
        if self.breakdown is not None:
            out["breakdown"] = self.breakdown.to_json()
        budget = background_budget(self.backgrounds)
        if budget is not None:
            out["background_budget"] = budget.to_json()
        return out

    @classmethod
    def from_json(cls, data: Any, source: str | Path = LIMITS_FILE) -> FitReport:
        """The report of a ``limits.json`` document; ``source`` names it in errors.

        Refused (:class:`InputError` naming ``source``, and the key if one is wrong): no
        ``schema_version`` or a newer one than :data:`FIT_REPORT_VERSION`, a missing key or
        a value of the wrong type. ``efficiency_at_masses`` is read with the exclusion (it
        is written only with one).
        """
        from workflows.stats.diagnostics import FitDiagnostics
        from workflows.stats.exclusion import Exclusion
        from workflows.stats.fit_breakdown import SystematicsBreakdown
        from workflows.stats.limits import LimitResult
        from workflows.stats.systematics import SystematicsReport

        r, _ = open_document(data, source, "fit report (limits.json)", FIT_REPORT_VERSION)
        report = cls(blinded=r.flag("blinded"), cl=r.number("cl"),
                     backgrounds=[PeriodBackground.read(p) for p in r.objects("periods")],
                     signal_limit=LimitResult.read(r.obj("signal_events_limit"), observed="limit_on_data"),
                     workspace=Path(r.text("workspace")))
        if "exclusion" in r:
            exclusion = r.obj("exclusion")
            report.exclusion = Exclusion.read(exclusion)
            report.efficiency_file = Path(exclusion.text("efficiency"))
            at_masses = r.obj("efficiency_at_masses")
            report.efficiency_at_masses = {k: at_masses.numbers(k, null=None).tolist() for k in at_masses.keys()}
        if "systematics" in r:
            report.systematics = SystematicsReport.read(r.obj("systematics"))
        if "diagnostics" in r:
            report.diagnostics = FitDiagnostics.from_json(r.value("diagnostics"), f"{source}: diagnostics")
        if "breakdown" in r:
            report.breakdown = SystematicsBreakdown.from_json(r.value("breakdown"), f"{source}: breakdown")
        return report


def _diagnostics(spec: dict[str, Any], plots: Path, names: list[str]) -> FitDiagnostics | None:
    """The fit diagnostics of the workspace, or None (with a warning) when its fit does not
    converge: the diagnostics must never cost the limits."""
    import pyhf

    from workflows.stats.diagnostics import fit_diagnostics

    try:
        return fit_diagnostics(spec, plots, periods=names)
    except pyhf.exceptions.FailedMinimization as err:
        log.warning("fit diagnostics left out: the fit of workspace.json did not converge (%s)", err)
        return None


def fit_results(
    results: Path,
    output: Path | None = None,
    unblind: bool = False,
    cl: float = 0.9,
    method: str = "auto",
    client: Any = None,
    ntoys: int = 500,
    efficiency: Path | None = None,
    model: str = "merged",
    n_masses: int = 30,
    periods: list[PeriodResult] | None = None,
    systematics: Path | None = None,
    diagnostics: bool = True,
    breakdown_masses: Sequence[float] | None = None,
) -> FitReport:
    """Background table, workspace, limit on the signal count and, with a signal
    efficiency table, the exclusion in (m_A', epsilon) and (m_chi, y); ``limits.json``
    and the plots are written below ``output`` (default: ``results``); ``periods``: those of
    ``results`` when already read (:func:`load_for_fit`); ``systematics``: the fixed
    uncertainties (default ``datasets/systematics.yaml``), with the periods' variations
    the nuisances of both models (:mod:`workflows.stats.systematics`); ``diagnostics``:
    the cabinetry fit diagnostics of ``workspace.json`` (:mod:`workflows.stats.diagnostics`;
    plots ``pulls.png``, ``ranking.png``, ``correlation.png``); ``breakdown_masses``: where
    the expected limit is broken down by uncertainty source (:mod:`workflows.stats.fit_breakdown`;
    default its ``BREAKDOWN_MASSES``; none without an efficiency table, or when empty)."""
    import numpy as np

    from workflows.plots import plot_exclusion, plot_y
    from workflows.signal.efficiency import EFFICIENCY_FILE, EfficiencyTable
    from workflows.stats.exclusion import (
        PeriodSignal,
        combine_counting_nuisances,
        mass_grid,
        merged_counting_workspace,
        merged_exclusion,
        multibin_exclusion,
    )
    from workflows.stats.fit_breakdown import BREAKDOWN_MASSES, systematics_breakdown
    from workflows.stats.limits import upper_limit
    from workflows.stats.model import build_workspace, write_workspace
    from workflows.stats.systematics import (
        REFERENCE_MASS,
        SystematicsReport,
        check_names,
        counting_nuisances,
        model_systematics,
        variation_nuisances,
    )
    from workflows.stats.systematics_file import DEFAULT_SYSTEMATICS, load_systematics

    if model not in ("merged", "multibin"):
        raise FitError(f"unknown model {model!r}: use 'merged' or 'multibin'")
    results = Path(results)
    output = Path(output or results)
    systematics_path = Path(systematics) if systematics is not None else DEFAULT_SYSTEMATICS
    fixed = load_systematics(systematics_path)
    if periods is None:
        periods = load_for_fit(results, unblind)
    plots = output / "plots"
    backgrounds = [period_background(p, plots) for p in periods]
    if not unblind:
        for b in backgrounds:
            b.box_observed = None
    names = [b.period for b in backgrounds]

    eff_path = Path(efficiency) if efficiency else results / EFFICIENCY_FILE
    table = None
    if eff_path.exists():
        table = EfficiencyTable.read(eff_path)
        missing = [n for n in names if n not in table.efficiency]
        if missing:
            raise FitError(f"{eff_path}: no signal efficiency for periods {', '.join(missing)}")
    else:
        log.warning("no signal efficiency table (%s): limits on A' events only; "
                    "`na64 signal` measures the efficiencies", eff_path)
    variations = variation_nuisances(periods, table, backgrounds, client=client)
    check_names(variations, fixed, names, systematics_path)

    # The multi-period HistFactory workspace (signal shared by EOT, its variation ratios
    # at REFERENCE_MASS), for anyone to refit.
    total_eot = sum(b.eot for b in backgrounds)
    shares = {b.period: b.eot / total_eot for b in backgrounds}
    inputs = model_inputs(backgrounds, shares)
    extra = model_systematics(inputs, variations, fixed, REFERENCE_MASS if table is not None else None)
    spec = build_workspace(inputs, extra_systematics=extra)
    ws_path = write_workspace(spec, output / "workspace.json")
    fit_checks = _diagnostics(spec, plots, names) if diagnostics else None

    # Limit on the number of signal events: the simplified (merged) counting model.
    background, background_error = total_background(backgrounds)
    observed = observed_box(backgrounds) if unblind else None
    masses = mass_grid(n_masses)
    signals = [PeriodSignal(p.name, p.summary.eot, p.summary.beam_energy,
                            p.summary.thresholds.box_ecal_max, table.at(p.name, masses),
                            p.summary.beam_particle)
               for p in periods] if table is not None else []
    if signals:
        per_period = np.array([s.events(masses) for s in signals])
        merged = counting_nuisances([b.background for b in backgrounds], variations, fixed, names,
                                    per_period, masses)
    else:
        merged = counting_nuisances([b.background for b in backgrounds], variations, fixed, names,
                                    np.array([[shares[n]] for n in names]))
    # (the named nuisances combined into two: the same likelihood, toys ~15x faster)
    import pyhf

    try:
        n90 = upper_limit(merged_counting_workspace(observed, background, background_error, 0.0,
                                                    combine_counting_nuisances(merged)),
                          cl=cl, method=method, client=client, ntoys=ntoys)
    except pyhf.exceptions.FailedMinimization as err:
        raise StatisticsError(
            f"the limit on the signal count did not converge ({err}): the box background "
            f"{background:.3g} +- {background_error:.3g} events and its nuisances (limits.json is not "
            "written) are too ill-defined for the merged model; look at plots/sideband_*.png and "
            "the statistics of the sidebands") from None
    report = FitReport(blinded=not unblind, cl=cl, backgrounds=backgrounds, signal_limit=n90,
                       workspace=ws_path,
                       systematics=SystematicsReport.build(systematics_path, variations, fixed, names, merged),
                       diagnostics=fit_checks)

    if table is not None:
        if model == "merged":
            exclusion, _ = merged_exclusion(masses, signals, observed, background, background_error,
                                            cl=cl, limit=n90)
        else:
            exclusion = multibin_exclusion(
                masses, signals, lambda sig: model_inputs(backgrounds, sig),
                blinded=not unblind, cl=cl, method=method, client=client,
                extra_for=lambda i, ins: model_systematics(ins, variations, fixed, float(masses[i])))
        tag = "expected" if not unblind else "observed"
        plot_exclusion(exclusion, plots / "exclusion_epsilon.png",
                       f"NA64-style A' -> invisible, {len(backgrounds)} periods, {total_eot:.3g} EOT ({tag})")
        plot_y(exclusion, plots / "exclusion_y.png", f"Light dark matter, {total_eot:.3g} EOT ({tag})")
        report.exclusion = exclusion
        report.efficiency_file = eff_path
        report.efficiency_at_masses = {
            b.period: [float(x) for x in np.round(table.at(b.period, masses), 4)] for b in backgrounds}
        if breakdown_masses is None:
            breakdown_masses = BREAKDOWN_MASSES
        if len(breakdown_masses):
            at = [float(x) for x in breakdown_masses]
            at_masses = [replace(s, efficiency=table.at(s.name, np.array(at))) for s in signals]
            report.breakdown = systematics_breakdown(model, at, at_masses, backgrounds, variations, fixed, cl=cl,
                                                     client=client)
    write_json(output / LIMITS_FILE, report.to_json())
    return report
