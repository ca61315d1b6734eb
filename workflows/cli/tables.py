"""Rich tables for the terminal: only the command line prints."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.table import Table

from processors.cuts import describe_chain

if TYPE_CHECKING:
    from workflows.processing.catalog import Period
    from workflows.processing.period import PeriodRun
    from workflows.processing.summary import PeriodSummary
    from workflows.signal.efficiency import EfficiencyTable
    from workflows.stats.exclusion import Exclusion
    from workflows.stats.fit import FitReport, PeriodBackground


def cutflow_table(summary: PeriodSummary) -> Table:
    """The nominal cutflow of a period, with each cut's condition and its efficiency."""
    title = f"Cutflow {summary.period} ({'blinded' if summary.blinded else 'UNBLINDED'})"
    table = Table(title=title, title_justify="left")
    table.add_column("cut")
    table.add_column("condition")
    table.add_column("events", justify="right")
    table.add_column("eff. [%]", justify="right")
    conditions = dict(describe_chain(summary.thresholds, summary.beam_energy))
    previous = None
    for entry in summary.cutflow:
        n = entry.events
        eff = "" if previous in (None, 0) else f"{100.0 * n / previous:.2f}"
        table.add_row(entry.cut, conditions.get(entry.cut, "physics trigger, not calibration"),
                      f"{n:,}", eff)
        previous = n
    r = summary.regions
    table.caption = (f"sideband A: {r.A:,}   sideband C: {r.C:,}   signal box: "
                     + ("blinded" if r.box is None else f"{r.box:,}"))
    return table


def runs_table(runs: Sequence[PeriodRun]) -> Table:
    """One row per period: what was done, events, chunks, failures, speed."""
    table = Table(title="Processing", title_justify="left")
    for col, justify in (("period", "left"), ("status", "left"), ("events", "right"),
                         ("chunks", "right"), ("failed\nchunks", "right"), ("failed\nfiles", "right"),
                         ("events/s", "right"), ("s", "right")):
        table.add_column(col, justify=justify)
    for r in runs:
        status = r.status if r.complete else f"[yellow]{r.status}\n(incomplete)[/]"
        rate = f"{r.rate:,.0f}" if r.events and r.status == "processed" else "-"
        table.add_row(r.period, status, f"{r.events:,}", str(r.chunks), str(r.failed_chunks),
                      str(r.failed_files), rate, f"{r.seconds:.1f}")
    failed = [r for r in runs if r.message and not r.complete]
    if failed:
        table.caption = "\n".join(f"{r.period}: {r.message}" for r in failed)
    return table


def datasets_table(rows: Sequence[tuple[Period, int | None]]) -> Table:
    """One row per period: beam, exposure, files and events found (``?``: unreadable)."""
    table = Table(title="Run periods", title_justify="left")
    for col, justify in (("period", "left"), ("beam", "left"), ("EOT", "right"),
                         ("files", "right"), ("events", "right"), ("catalog", "left")):
        table.add_column(col, justify=justify)
    for p, events in rows:
        table.add_row(p.name, f"{p.beam.particle} {p.beam.energy:g} GeV", f"{p.eot:.3g}",
                      str(len(p.resolve_files())), f"{events:,}" if events is not None else "?",
                      str(p.source))
    return table


def background_table(backgrounds: Sequence[PeriodBackground]) -> Table:
    """Sideband counts and the box background extrapolated from C and A, per period."""
    from workflows.stats.fit import total_background

    table = Table(title="Background in the signal box, from the sidebands", title_justify="left")
    for col in ("period", "EOT", "A", "C", "from C", "from A", "total", "observed"):
        table.add_column(col, justify="left" if col == "period" else "right")
    for b in backgrounds:
        c, a = b.estimates["C"], b.estimates["A"]
        table.add_row(b.period, f"{b.eot:.3g}", str(b.a_observed), str(b.c_observed),
                      f"{c.central:.3g} ± {c.error:.2g}", f"{a.central:.3g} ± {a.error:.2g}",
                      f"{b.background:.3g} ± {b.error:.2g}",
                      "blinded" if b.box_observed is None else str(b.box_observed))
    total_b, total_e = total_background(list(backgrounds))
    table.caption = f"total expected background: {total_b:.3g} ± {total_e:.2g} events"
    return table


def limits_table(exclusion: Exclusion, every: int = 3) -> Table:
    """epsilon_90 (expected band, observed) and y_90 at every ``every``-th mass."""
    from workflows.stats.exclusion import ALPHA_D

    blinded = exclusion.eps_observed is None
    table = Table(title=f"{int(round(100 * exclusion.cl))}% CL limits ({exclusion.model} model, "
                        f"{exclusion.method}{', expected only' if blinded else ''})", title_justify="left")
    for col in ("m_A' [MeV]", "A' events (eps=1e-4)", "eps90 expected", "-1s / +1s",
                *(() if blinded else ("eps90 observed",)), *(f"y90 aD={a}" for a in ALPHA_D)):
        table.add_column(col, justify="right")
    eps_exp = exclusion.eps_expected
    eps_ref = eps_exp[2] if blinded else exclusion.eps_observed
    for i in range(0, len(exclusion.masses), every):
        row = [f"{1e3 * exclusion.masses[i]:.3g}", f"{exclusion.signal[i]:.3g}", f"{eps_exp[2, i]:.3g}",
               f"{eps_exp[1, i]:.2g} / {eps_exp[3, i]:.2g}"]
        if not blinded:
            row.append(f"{exclusion.eps_observed[i]:.3g}")
        row += [f"{exclusion.y(eps_ref[i], a):.2g}" for a in ALPHA_D]
        table.add_row(*row)
    return table


def signal_limit_line(report: FitReport) -> str:
    """The limit on the number of A' events in the box, one line."""
    n90 = report.signal_limit
    band = ", ".join(f"{x:.3g}" for x in n90.expected or ())
    what = "blinded, expected only: " if report.blinded else f"observed {n90.observed:.3g}, "
    return (f"{int(round(report.cl * 100))}% CL upper limit on A' events in the box ({n90.method}): "
            f"{what}expected [-2s, -1s, median, +1s, +2s] = [{band}]")


def efficiency_table(table: EfficiencyTable) -> Table:
    """Signal efficiency per period (rows) and A' mass (columns); with variations, a row per
    period under it with the largest relative change of any variation and its name."""
    out = Table(title="A' signal efficiency (box after all cuts / generated)", title_justify="left")
    out.add_column("period")
    for m in table.masses:
        out.add_column(f"{1e3 * m:g} MeV", justify="right")
    for period, values in table.efficiency.items():
        out.add_row(period, *(f"{v:.3f}" for v in values))
        if table.variations:
            cells = []
            for i, v in enumerate(values):
                shifts = {name: by[period][i] - v for name, by in table.variations.items()}
                name = max(shifts, key=lambda n: abs(shifts[n]))
                cells.append("-" if v == 0 else f"{100 * shifts[name] / v:+.1f}% {name}")
            out.add_row("  largest variation", *cells, style="dim")
    return out


def processing_tables(runs: Sequence[PeriodRun]) -> list[Table]:
    """What ``na64 process`` shows: the cutflow of every period processed by this run
    (not of those up to date), then the runs table."""
    cutflows = []
    for r in runs:
        if r.status == "processed" and r.summary is not None and r.summary.cutflow:
            table = cutflow_table(r.summary)
            note = prescale_note(r.summary)
            if note:
                table.caption = f"{table.caption}\n{note}" if table.caption else note
            cutflows.append(table)
    return [*cutflows, runs_table(runs)]


def prescale_note(summary: PeriodSummary) -> str | None:
    """For files simulated for an exposure (a ``simulation.json`` with prescaled strata
    beside them): what the early steps of the cutflow count."""
    import json
    from pathlib import Path

    dirs = {Path(f).parent for f in summary.files.entries}
    for d in sorted(dirs):
        info = d / "simulation.json"
        try:
            exposure = json.loads(info.read_text()).get("exposure")
        except (OSError, ValueError):
            continue
        if not exposure:
            continue
        pre = {s["stratum"]: s["prescale"] for s in exposure.get("strata", []) if s["prescale"] > 1}
        if pre:
            listed = ", ".join(f"{k} 1/{v:,}" for k, v in pre.items())
            return (f"simulated for {exposure['eot']:.3g} EOT: the early steps count prescaled "
                    f"strata ({listed}; {info}); the sidebands, the box and the events after the "
                    "selection are unprescaled")
    return None


def systematics_table(report: FitReport) -> Table | None:
    """The nuisances of the fit: each variation's effect on the total box background and
    on the signal of the merged model, and the fixed uncertainties with their source."""
    syst = report.systematics
    if syst is None or not (syst.merged or syst.fixed):
        return None
    table = Table(title="Systematic uncertainties (merged model: effect on the total)", title_justify="left")
    table.add_column("nuisance")
    table.add_column("background up/down [%]", justify="right")
    table.add_column("signal up/down [%]", justify="right")
    table.add_column("source")
    # each nuisance parameter -> what it stands for (the records list their parameters)
    source: dict[str, str] = {}
    for v in syst.variations:
        text = ("variation" + (" (one-sided, mirrored)" if v.one_sided else "")
                + ("" if v.correlated else ", per period"))
        source.update(dict.fromkeys(v.parameters, text))
    for f in syst.fixed:
        source.update(dict.fromkeys(f.parameters, f.source if len(f.source) <= 60 else f.source[:57] + "..."))

    def pct(pair: tuple[float, float] | None) -> str:
        return "" if pair is None else f"{100 * (pair[0] - 1):+.1f} / {100 * (pair[1] - 1):+.1f}"

    for n in syst.merged:
        table.add_row(n.name, pct(n.background), pct(n.signal), source.get(n.name, ""))
    return table


def yields_table(report: FitReport) -> Table | None:
    """Pre- and post-fit yields of workspace.json per channel and period (the diagnostics' fit)."""
    d = report.diagnostics
    if d is None:
        return None
    table = Table(title="Pre- and post-fit yields (workspace.json" + (", expected only)" if d.expected_only else ")"),
                  title_justify="left")
    for col in ("channel", "period", "sample"):
        table.add_column(col)
    for col in ("pre-fit", "post-fit", "data"):
        table.add_column(col, justify="right")
    for channel, label, sample, entry, data in d.yields.rows(samples=False):
        table.add_row(channel, label, sample, f"{entry.prefit:.3g} ± {entry.prefit_error:.2g}",
                      f"{entry.postfit:.3g} ± {entry.postfit_error:.2g}", f"{data:.3g}")
    return table


def impacts_table(report: FitReport, top: int = 8) -> Table | None:
    """The nuisances with the largest post-fit impact on the POI, with their pulls."""
    d = report.diagnostics
    if d is None:
        return None
    table = Table(title=f"Largest impacts on {d.poi} (post-fit; plots: pulls, ranking, correlation)",
                  title_justify="left")
    table.add_column("nuisance")
    for col in ("pull", "constraint", "impact pre-fit", "impact post-fit"):
        table.add_column(col, justify="right")
    by_name = {p.name: p for p in d.parameters}
    for i in d.ranking.top(top):
        p = by_name.get(i.name)
        pull = "free" if p is None or p.pull is None else f"{p.pull:+.2f}"
        constraint = "" if p is None or p.constraint is None else f"{p.constraint:.2f}"
        table.add_row(i.name, pull, constraint, f"{i.prefit_up:+.3g} / {i.prefit_down:+.3g}",
                      f"{i.postfit_up:+.3g} / {i.postfit_down:+.3g}")
    return table


def breakdown_table(report: FitReport) -> Table | None:
    """Expected eps_90 at the breakdown masses: all uncertainties, statistics only, and
    each source removed in turn (with the change of the limit on the signal count)."""
    b = report.breakdown
    if b is None or not b.masses:
        return None
    table = Table(title=f"Systematics breakdown of the expected limit ({b.model} model)", title_justify="left")
    table.add_column("uncertainties")
    for m in b.masses:
        table.add_column(f"eps90 at {1e3 * m.mass:g} MeV", justify="right")
    for label in b.labels():
        cells = []
        for m in b.masses:
            found = [r for r in m.limits.rows if r.label == label]
            if not found:   # the source has no parameter in this mass's model (no effect there)
                cells.append("-")
                continue
            row = found[0]
            change = "" if label == "all" else f" ({100 * row.relative_change:+.1f}% N90)"
            cells.append(f"{m.epsilon(row):.3g}{change}")
        table.add_row(label if label in ("all", "stats only") else f"without {label}", *cells)
    return table


def budget_table(report: FitReport) -> Table | None:
    """The box background by true process (MC truth of unblinded simulated samples) beside
    the sideband estimate and seeds/002 Table 1 scaled to the exposure (None: no truth)."""
    from workflows.stats.budget import PUBLISHED_EOT, background_budget

    budget = background_budget(report.backgrounds)
    if budget is None:
        return None
    table = Table(title=f"Box background by source: MC truth of {', '.join(budget.periods)} "
                        f"({budget.eot:.3g} EOT) vs published", title_justify="left")
    for col in ("mc_process", "truth (box events)", "published, scaled", "published source"):
        table.add_column(col, justify="left" if col in ("mc_process", "published source") else "right")
    for r in budget.rows:
        if r.published is None:
            pub = "-"
        elif r.published_upper:
            pub = f"< {r.published:.3g}"
        else:
            pub = f"{r.published:.3g} ± {r.published_error:.2g}"
        table.add_row(r.process, f"{r.truth} ± {r.truth_error:.2g}", pub, "; ".join(r.published_sources))
    total, error = budget.published_total
    table.add_row("total (truth)", f"{budget.truth_total} ± {math.sqrt(max(budget.truth_total, 1)):.2g}",
                  f"{total:.3g} ± {error:.2g}", "seeds/002 Table 1", style="bold")
    table.add_row("sideband estimate", f"{budget.sideband:.3g} ± {budget.sideband_error:.2g}", "", "",
                  style="bold")
    table.caption = (f"published: seeds/002 Table 1 ({PUBLISHED_EOT:.3g} EOT) x {budget.scale:.3g}; "
                     "truth from unblinded MC only")
    return table


def fit_tables(report: FitReport) -> list[Table | str]:
    """What ``na64 fit`` shows: the background table, the limit on the signal count,
    the systematics, the fit diagnostics and, with signal efficiencies, the limits per mass
    and the breakdown of the expected limit."""
    shown: list[Table | str | None] = [background_table(report.backgrounds), budget_table(report),
                                       signal_limit_line(report),
                                       systematics_table(report), yields_table(report), impacts_table(report)]
    if report.exclusion is not None:
        shown.append(limits_table(report.exclusion))
    shown.append(breakdown_table(report))
    return [x for x in shown if x is not None]
