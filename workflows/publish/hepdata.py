"""The HEPData submission of a fit (``na64 fit --hepdata DIR``).

:func:`write_submission` turns a :class:`~workflows.stats.fit.FitReport`, the periods'
:class:`~workflows.processing.summary.PeriodSummary` and the HistFactory workspace into a
HEPData submission directory (``submission.yaml``, one YAML file per table, the
workspace), written by hepdata_lib and checked with hepdata-validator
(:func:`validate_submission`). The tables:

``Exclusion epsilon``
    the 90 % CL (the fit's CL) upper limit on the kinetic mixing epsilon per A' mass:
    the expected median with its +-1 sigma and +-2 sigma bands as asymmetric
    uncertainties (labels ``1 sigma``, ``2 sigma``), and the observed limit only when the
    box was unblinded;
``Exclusion y alphaD <a>``
    the same limits in (m_chi, y = epsilon^2 alpha_D (m_chi / m_A')^4), m_A' = 3 m_chi,
    one table per alpha_D of :data:`workflows.stats.exclusion.ALPHA_D`;
``Signal efficiency``
    the signal efficiency of each period and the expected A' events at epsilon = 1e-4,
    per A' mass (what the exclusion was computed from);
``Background``
    per period (and all periods): EOT, events in sidebands A and C, the box background
    extrapolated from them (statistical and extrapolation uncertainties) and, unblinded
    only, the events observed in the box;
``Cutflow <period>``
    events after each cut of the selection, one table per period.

Masses without a limit (no expected signal: the limit is infinite) are left out of the
exclusion tables, never written as inf or NaN; every number written is finite.

Keywords (HEPData's ``observables``, ``reactions``, ``cmenergies``, ``phrases``):

* ``reactions``: per beam particle of the periods, ``E- PB --> E- PB A'`` (or ``E+ ...``:
  A' bremsstrahlung off the lead of the active target) and ``E+ E- --> A'`` (resonant
  annihilation of shower and beam positrons on the target's electrons, part of the yield),
  with ``A' --> INVISIBLE`` for the epsilon tables and ``A' --> CHI CHIBAR`` for the y
  tables; the count tables have the beam reactions ``E- PB --> X`` (``E+ PB --> X``).
* ``cmenergies``: fixed target, so sqrt(s) of the beam electron on a nucleon at rest,
  sqrt(m_e^2 + m_N^2 + 2 E0 m_N) (13.7 GeV at E0 = 100 GeV), one per beam energy; the
  beam energy itself is a qualifier of every dependent variable.
* ``observables``: ``EPSILON`` and ``Y`` (upper limits), ``EFF`` (efficiency), ``N``
  (event counts).
* ``phrases``: dark photon, light dark matter, missing energy, fixed target, exclusion
  limit, and ``Simulated data`` when the inputs are simulated.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from processors.errors import InputError, OutputError

if TYPE_CHECKING:
    from hepdata_lib import Table, Variable

    from workflows.processing.summary import PeriodSummary
    from workflows.stats.exclusion import Exclusion
    from workflows.stats.fit import FitReport

log = logging.getLogger(__name__)

#: Nucleon and electron masses (GeV) for the fixed-target sqrt(s) of ``cmenergies``.
NUCLEON_MASS = 0.938272
ELECTRON_MASS = 0.000511
#: Significant digits written (hepdata_lib rounds every value and uncertainty to these).
DIGITS = 6
REACTION_ANNIHILATION = "E+ E- --> A'"


def reaction_aprime(particle: str) -> str:
    """A' bremsstrahlung of a beam ``particle`` (e- or e+) in HEPData's notation."""
    p = particle.upper()
    return f"{p} PB --> {p} PB A'"


def reaction_beam(particle: str) -> str:
    return f"{particle.upper()} PB --> X"


PHRASES = ["Dark photon", "Light dark matter", "Missing energy", "Fixed target", "Exclusion limit",
           "Invisible decay"]
WORKSPACE_DESCRIPTION = (
    "pyhf JSON (HistFactory) workspace of the fit: one bin per data-taking period for the signal "
    "box, with the sidebands A and C constraining the box background; signal shared among the "
    "periods in proportion to their EOT (POI mu = total number of signal events). Load it with "
    "pyhf.Workspace to refit or recompute the limits.")


class SubmissionError(OutputError):
    """The submission written does not pass hepdata-validator (the message lists why)."""


def cm_energy(beam_energy: float) -> float:
    """sqrt(s) in GeV of a beam electron of ``beam_energy`` GeV on a nucleon at rest."""
    return math.sqrt(ELECTRON_MASS**2 + NUCLEON_MASS**2 + 2.0 * beam_energy * NUCLEON_MASS)


def _safe_name(text: str) -> str:
    """``text`` usable in a table name, which is also its file name (no '/', no spaces)."""
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", text).strip("_") or "period"


def _percent(cl: float) -> str:
    return f"{100 * cl:g}%"


def _finite(*values: float | None) -> bool:
    return all(v is not None and math.isfinite(v) for v in values)


def _strict(name: str, values: Iterable[Any]) -> list[Any]:
    """``values`` unchanged: all finite (a number that is not is an error, never written)."""
    out = list(values)
    bad = [v for v in out if isinstance(v, float) and not math.isfinite(v)]
    if bad:
        raise InputError(f"HEPData table {name!r}: value {bad[0]} is not finite")
    return out


class _Context:
    """What every table shares: beam energies, CL, qualifiers, keywords."""

    def __init__(self, report: FitReport, summaries: Sequence[PeriodSummary], simulated: bool):
        self.report = report
        self.simulated = simulated
        self.cl = _percent(report.cl)
        self.beam_energies = sorted({float(s.beam_energy) for s in summaries})
        present = {s.beam_particle for s in summaries}
        particles = [p for p in ("e-", "e+") if p in present] or ["e-"]
        self.aprime_reactions = [*map(reaction_aprime, particles), REACTION_ANNIHILATION]
        self.beam_reactions = [reaction_beam(p) for p in particles]
        self.beam = " and ".join({"e-": "electrons", "e+": "positrons"}[p] for p in particles)
        self.eot = float(report.total_eot)

    def keywords(self, observables: list[str], reactions: list[str]) -> dict[str, list[Any]]:
        phrases = PHRASES + (["Simulated data"] if self.simulated else [])
        return {"observables": observables, "reactions": reactions,
                "cmenergies": [round(cm_energy(e), 2) for e in self.beam_energies],
                "phrases": phrases}

    def qualify(self, v: Variable, cl: bool = True, eot: bool = True) -> Variable:
        v.add_qualifier("RE", "; ".join(self.aprime_reactions if cl else self.beam_reactions))
        v.add_qualifier("Beam", f"{self.beam} on the lead of the active target (ECAL)")
        v.add_qualifier("$E_{beam}$", ", ".join(f"{e:g}" for e in self.beam_energies), "GeV")
        if cl:
            v.add_qualifier("CL", self.cl)
        if eot:
            v.add_qualifier("EOT", f"{self.eot:.4g}")
        if self.simulated:
            v.add_qualifier("Data", "simulated")
        return v


def _variable(name: str, units: str = "", *, independent: bool = False, values: list[Any] | None = None) -> Variable:
    from hepdata_lib import Variable

    v = Variable(name, is_independent=independent, is_binned=False, units=units,
                 zero_uncertainties_warning=False)
    v.digits = DIGITS
    v.values = _strict(name, values or [])
    return v


def _uncertainty(label: str, values: list[Any], symmetric: bool = True) -> Any:
    from hepdata_lib import Uncertainty

    u = Uncertainty(label, is_symmetric=symmetric)
    u.values = values
    return u


def _table(name: str, description: str, keywords: dict[str, list[Any]], location: str) -> Table:
    from hepdata_lib import Table

    t = Table(name)
    t.description = description
    t.location = location
    t.keywords = keywords
    return t


def limit_rows(exclusion: Exclusion) -> list[int]:
    """The masses (indices) with a limit: every number of the row (expected band, and the
    observed limit when there is one) finite; the others are left out of the tables."""
    expected = exclusion.eps_expected
    observed = exclusion.eps_observed
    rows = []
    for i in range(len(exclusion.masses)):
        values = [float(x) for x in expected[:, i]]
        if observed is not None:
            values.append(float(observed[i]))
        if _finite(*values) and all(x > 0 for x in values):
            rows.append(i)
    return rows


def _limit_variable(ctx: _Context, name: str, band: np.ndarray, rows: list[int], extra: dict[str, Any]) -> Variable:
    """The expected median of ``band`` (5 x n: -2..+2 sigma) at ``rows``, the bands as
    asymmetric uncertainties (signed: minus <= 0 <= plus)."""
    median = [float(band[2, i]) for i in rows]
    v = ctx.qualify(_variable(f"Expected {name}", values=median))
    for key, value in extra.items():
        v.add_qualifier(key, value)
    for label, lo, hi in (("1 sigma", 1, 3), ("2 sigma", 0, 4)):
        v.add_uncertainty(_uncertainty(
            label, [(float(band[lo, i] - band[2, i]), float(band[hi, i] - band[2, i])) for i in rows],
            symmetric=False))
    return v


def exclusion_tables(ctx: _Context, exclusion: Exclusion) -> list[Table]:
    """The (m_A', epsilon) table and one (m_chi, y) table per alpha_D."""
    from workflows.stats.exclusion import ALPHA_D, MASS_RATIO

    rows = limit_rows(exclusion)
    dropped = len(exclusion.masses) - len(rows)
    if dropped:
        log.info("HEPData: %d of %d masses have no limit (no expected signal): left out", dropped,
                 len(exclusion.masses))
    if not rows:
        log.warning("HEPData: the exclusion has no limit at any mass (no expected signal): no exclusion tables")
        return []
    masses = [float(exclusion.masses[i]) for i in rows]
    eps_exp = exclusion.eps_expected
    eps_obs = exclusion.eps_observed
    state = ("expected limits only: the signal box is blinded" if eps_obs is None
             else "observed and expected limits (signal box unblinded)")
    method = f"CLs, {exclusion.model} model, {exclusion.method} calculator"
    common = (f"{ctx.cl} CL upper limits, {state}. Statistical method: {method}. Masses without "
              "expected signal (no limit) are not listed."
              + (" The inputs are simulated data, not a measurement." if ctx.simulated else ""))
    location = "na64 fit: limits.json (exclusion)"
    tables = []

    t = _table("Exclusion epsilon",
               "Upper limit on the kinetic mixing $\\epsilon$ of the dark photon $A'$ decaying invisibly "
               f"(A' -> invisible), versus its mass. {common}",
               ctx.keywords(["EPSILON"], [*ctx.aprime_reactions, "A' --> INVISIBLE"]), location)
    t.add_variable(_variable("$m_{A'}$", "GeV", independent=True, values=masses))
    extra = {"Method": method}
    t.add_variable(_limit_variable(ctx, "$\\epsilon$", eps_exp, rows, extra))
    if eps_obs is not None:
        obs = ctx.qualify(_variable("Observed $\\epsilon$", values=[float(eps_obs[i]) for i in rows]))
        obs.add_qualifier("Method", method)
        t.add_variable(obs)
    tables.append(t)

    for alpha in ALPHA_D:
        y_exp = exclusion.y(eps_exp, alpha)
        t = _table(f"Exclusion y alphaD {alpha:g}",
                   "Upper limit on the dark-matter interaction strength $y = \\epsilon^2 \\alpha_D "
                   f"(m_\\chi/m_{{A'}})^4$ versus the mass of the dark-matter particle $\\chi$, for "
                   f"$\\alpha_D = {alpha:g}$ and $m_{{A'}} = {MASS_RATIO:g} m_\\chi$ (A' -> chi chibar). "
                   f"{common}",
                   ctx.keywords(["Y"], [*ctx.aprime_reactions, "A' --> CHI CHIBAR"]), location)
        t.add_variable(_variable("$m_{\\chi}$", "GeV", independent=True, values=[m / MASS_RATIO for m in masses]))
        extra = {"$\\alpha_D$": f"{alpha:g}", "$m_{A'}/m_{\\chi}$": f"{MASS_RATIO:g}", "Method": method}
        t.add_variable(_limit_variable(ctx, "$y$", y_exp, rows, extra))
        if eps_obs is not None:
            y_obs = exclusion.y(eps_obs, alpha)
            obs = ctx.qualify(_variable("Observed $y$", values=[float(y_obs[i]) for i in rows]))
            for key, value in extra.items():
                obs.add_qualifier(key, value)
            t.add_variable(obs)
        tables.append(t)
    return tables


def efficiency_table(ctx: _Context, exclusion: Exclusion, efficiencies: dict[str, list[float]]) -> Table | None:
    """Per A' mass: the expected A' events at epsilon = 1e-4 and each period's signal
    efficiency; masses where a number is missing or not finite are left out."""
    from workflows.stats.exclusion import EPSILON_REF

    n = len(exclusion.masses)
    periods = [p for p, eff in efficiencies.items() if len(eff) == n]
    rows = [i for i in range(n)
            if _finite(float(exclusion.signal[i]), *(efficiencies[p][i] for p in periods))]
    if not rows:
        return None
    t = _table("Signal efficiency",
               "Signal efficiency of the selection (A' events in the signal box over A' produced) of each "
               f"period, and the total expected number of A' events at $\\epsilon = {EPSILON_REF:g}$, "
               "versus the A' mass: the inputs of the exclusion limits."
               + (" Simulated data." if ctx.simulated else ""),
               ctx.keywords(["EFF", "N"], ctx.aprime_reactions), "na64 fit: limits.json (efficiency_at_masses)")
    t.add_variable(_variable("$m_{A'}$", "GeV", independent=True, values=[float(exclusion.masses[i]) for i in rows]))
    v = ctx.qualify(_variable(f"Expected A' events at $\\epsilon = {EPSILON_REF:g}$",
                              values=[float(exclusion.signal[i]) for i in rows]), cl=False)
    t.add_variable(v)
    for p in periods:
        v = _variable(f"Efficiency {p}", values=[float(efficiencies[p][i]) for i in rows])
        v.add_qualifier("Period", p)
        ctx.qualify(v, cl=False, eot=False)
        t.add_variable(v)
    return t


def background_table(ctx: _Context) -> Table:
    """EOT, sidebands, expected box background (stat and extrapolation uncertainties) and,
    unblinded, the observed box, per period and for all periods."""
    report = ctx.report
    bgs = report.backgrounds
    names = [b.period for b in bgs] + ["All periods"]
    stat = [math.hypot(*(e.stat_error for e in b.estimates.values())) for b in bgs]
    syst = [b.syst_error for b in bgs]
    stat.append(math.sqrt(sum(s**2 for s in stat)))
    syst.append(math.sqrt(sum(s**2 for s in syst)))
    background = [b.background for b in bgs] + [report.background]
    for name, values in (("box background", background), ("statistical uncertainty", stat),
                         ("extrapolation uncertainty", syst)):
        bad = [p for p, x in zip(names, values) if not math.isfinite(x)]
        if bad:
            raise InputError(f"HEPData: the {name} of {', '.join(bad)} is not finite")
    blinded = report.blinded
    t = _table("Background",
               "Per data-taking period: electrons on target (EOT), events in the sidebands A "
               "(low E_ECAL, high E_HCAL) and C (E_ECAL spectrum below the box), and the background "
               "expected in the signal box, extrapolated from the sidebands (uncertainties: statistical "
               "of the central fit, and the spread of the fit functions). "
               + ("The signal box is blinded: no observed box count. " if blinded
                  else "Events observed in the signal box. ")
               + ("Simulated data." if ctx.simulated else ""),
               ctx.keywords(["N"], ctx.beam_reactions), "na64 fit: limits.json (periods)")
    t.add_variable(_variable("Period", independent=True, values=names))
    t.add_variable(ctx.qualify(_variable("EOT", values=[float(b.eot) for b in bgs] + [float(report.total_eot)]),
                               cl=False, eot=False))
    t.add_variable(ctx.qualify(_variable("Events in sideband A", values=[int(b.a_observed) for b in bgs]
                                         + [sum(int(b.a_observed) for b in bgs)]), cl=False, eot=False))
    t.add_variable(ctx.qualify(_variable("Events in sideband C", values=[int(b.c_observed) for b in bgs]
                                         + [sum(int(b.c_observed) for b in bgs)]), cl=False, eot=False))
    v = ctx.qualify(_variable("Expected background in the signal box", values=background), cl=False, eot=False)
    v.add_uncertainty(_uncertainty("stat", stat))
    v.add_uncertainty(_uncertainty("sys,extrapolation", syst))
    t.add_variable(v)
    if not blinded:
        boxes = [b.box_observed for b in bgs]
        if any(x is None for x in boxes):
            raise InputError("HEPData: an unblinded fit report without the box count of every period")
        counts = [int(x or 0) for x in boxes]
        t.add_variable(ctx.qualify(_variable("Events observed in the signal box", values=counts + [sum(counts)]),
                                   cl=False, eot=False))
    return t


def cutflow_tables(ctx: _Context, summaries: Sequence[PeriodSummary]) -> list[Table]:
    """Events after each cut, one table per period."""
    tables = []
    used: set[str] = set()
    for s in summaries:
        name = f"Cutflow {_safe_name(s.period)}"[:64]
        while name.lower() in used:
            name = name[:60] + f"_{len(used)}"
        used.add(name.lower())
        t = _table(name,
                   f"Events of period {s.period} ({s.eot:.4g} EOT, {s.beam_energy:g} GeV beam) left after each "
                   "cut of the selection, in chain order."
                   + (" Blinded: events in the signal box are excluded at every step." if s.blinded else "")
                   + (" Simulated data." if ctx.simulated else ""),
                   ctx.keywords(["N"], ctx.beam_reactions), "na64 process: summary.json (cutflow)")
        t.add_variable(_variable("Cut", independent=True, values=[c.cut for c in s.cutflow]))
        v = _variable("Events", values=[int(c.events) for c in s.cutflow])
        v.add_qualifier("Period", s.period)
        v.add_qualifier("EOT", f"{s.eot:.4g}")
        v.add_qualifier("$E_{beam}$", f"{s.beam_energy:g}", "GeV")
        v.add_qualifier("Blinded", "yes" if s.blinded else "no")
        if ctx.simulated:
            v.add_qualifier("Data", "simulated")
        t.add_variable(v)
        tables.append(t)
    return tables


def submission_comment(report: FitReport, summaries: Sequence[PeriodSummary], simulated: bool) -> str:
    periods = ", ".join(b.period for b in report.backgrounds)
    energies = ", ".join(f"{e:g}" for e in sorted({s.beam_energy for s in summaries})) or "100"
    limit = report.signal_limit
    n90 = ""
    if limit.expected is not None and math.isfinite(limit.expected[2]):
        n90 = f" The expected {_percent(report.cl)} CL upper limit on the number of signal events is " \
              f"{limit.expected[2]:.3g}"
        if not report.blinded and math.isfinite(limit.observed):
            n90 += f" (observed: {limit.observed:.3g})"
        n90 += "."
    return (
        ("SIMULATED DATA: this submission was made from simulated events (the na64-invisible "
         "analysis framework ships a simulation), not from NA64 data; it is not a physics result. "
         if simulated else "")
        + "Search for a dark photon A' decaying invisibly (A' -> chi chibar) in the missing-energy "
        f"channel: {energies} GeV electrons hit the active lead target (ECAL) of an NA64-like "
        f"fixed-target setup; a signal event has a scattered electron with E_ECAL below the signal "
        "box edge and no activity in the vetoes and the HCAL. Periods "
        f"{periods}, {report.total_eot:.4g} electrons on target (EOT) in total. The background in the "
        "signal box is extrapolated per period from the sidebands A and C; the limits are CLs upper "
        f"limits at {_percent(report.cl)} CL from a HistFactory model (the workspace is attached). "
        + ("The signal box is blinded: only expected limits are given. " if report.blinded
           else "The signal box is unblinded: observed and expected limits are given. ")
        + f"Expected box background {report.background:.3g} +- {report.background_error:.3g} events."
        + n90
    )


def check_directory(directory: Path) -> None:
    """Refuse (:class:`OutputError`) a ``directory`` that exists and is neither empty nor an
    earlier submission: writing replaces it, and a user's files are never deleted."""
    directory = Path(directory)
    if directory.exists() and (not directory.is_dir() or (any(directory.iterdir())
                                                          and not (directory / "submission.yaml").exists())):
        raise OutputError(f"{directory}: exists and is not a HEPData submission; choose a new or empty directory")


def write_submission(report: FitReport, summaries: Sequence[PeriodSummary], workspace: Path,
                     directory: Path, simulated: bool = True) -> Path:
    """Write the HEPData submission of ``report`` to ``directory`` and return it.

    ``summaries``: the periods' summaries (their cutflows); ``workspace``: the workspace
    JSON, copied in as an additional resource of the submission; ``simulated``: the inputs
    are simulated (said in the comment, the phrases and the qualifiers). The archive
    hepdata_lib makes is written beside the directory as ``<directory>.tar.gz``. A previous
    submission in ``directory`` is replaced; any other non-empty directory is refused
    (:class:`OutputError`). The result is validated: :class:`SubmissionError` with the
    validator's messages if it does not pass.
    """
    import warnings

    with warnings.catch_warnings():
        # hepdata_lib imports ROOT when it is installed (the roostats extra), and the PyPI
        # ROOT warns on import that it is an alpha release: not the user's concern here.
        warnings.simplefilter("ignore", UserWarning)
        from hepdata_lib import Submission

    directory = Path(directory).resolve()
    workspace = Path(workspace).resolve()  # hepdata_lib runs in a scratch working directory
    if not workspace.is_file():
        raise InputError(f"{workspace}: no workspace to attach to the HEPData submission")
    check_directory(directory)
    by_period = {s.period: s for s in summaries}
    missing = [b.period for b in report.backgrounds if b.period not in by_period]
    if missing:
        raise InputError(f"HEPData: no period summary for {', '.join(missing)}")
    ordered = [by_period[b.period] for b in report.backgrounds]
    ctx = _Context(report, ordered, simulated)

    submission = Submission()
    submission.comment = submission_comment(report, ordered, simulated)
    submission.add_additional_resource(WORKSPACE_DESCRIPTION, str(workspace), copy_file=True,
                                       file_type="HistFactory")
    tables: list[Table] = []
    if report.exclusion is not None:
        tables += exclusion_tables(ctx, report.exclusion)
        eff = efficiency_table(ctx, report.exclusion, report.efficiency_at_masses)
        if eff is not None:
            tables.append(eff)
    tables.append(background_table(ctx))
    tables += cutflow_tables(ctx, ordered)
    for t in tables:
        submission.add_table(t)

    tarball = directory.parent / f"{directory.name}.tar.gz"
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        # hepdata_lib writes its archive into the working directory: a private one.
        with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):
            submission.create_files(str(directory), validate=False, remove_old=True)
            shutil.move(Path(tmp) / "submission.tar.gz", tarball)
    except OSError as e:
        raise OutputError(f"{directory}: the HEPData submission cannot be written: {e}") from e
    problems = validate_submission(directory)
    if problems:
        raise SubmissionError(f"{directory}: the HEPData submission is not valid:\n"
                              + "".join(f"  {p}\n" for p in problems))
    log.info("HEPData submission: %s (%d tables; archive %s)", directory, len(tables), tarball)
    return directory


def validate_submission(directory: Path) -> list[str]:
    """hepdata-validator's messages on the submission in ``directory`` (``file: message``,
    file names relative to it); empty when it is valid."""
    from hepdata_validator.full_submission_validator import FullSubmissionValidator

    directory = Path(directory)
    validator = FullSubmissionValidator()
    valid = validator.validate(directory=str(directory))
    messages = []
    for file, found in validator.get_messages().items():
        name = Path(file).name if Path(file).parent == directory else str(file)
        messages += [f"{name}: {m.message}" if m.level == "error" else f"{name}: {m.level}: {m.message}"
                     for m in found]
    if not valid and not messages:
        messages.append(f"{directory}: not valid (the validator gave no reason)")
    return messages


def hepdata_for_results(results: Path, directory: Path, simulated: bool = True) -> Path:
    """The HEPData submission of the fit in ``results`` (its ``limits.json``, the periods'
    ``summary.json`` and the workspace) written to ``directory`` (:func:`write_submission`)."""
    from workflows.processing.results import SUMMARY, load_json, period_directories, read_summary
    from workflows.stats.fit import LIMITS_FILE, FitReport

    results = Path(results)
    limits = results / LIMITS_FILE
    if not limits.is_file():
        raise InputError(f"{limits}: no fit results; run `na64 fit` first")
    report = FitReport.from_json(load_json(limits), limits)
    summaries = [read_summary(d / SUMMARY) for d in period_directories(results) if (d / SUMMARY).exists()]
    workspace = report.workspace
    if not workspace.is_file():
        workspace = results / workspace.name
    return write_submission(report, summaries, workspace, directory, simulated=simulated)
