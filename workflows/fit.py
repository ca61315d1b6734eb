"""``na64 fit``: from processed periods to the background table, the workspace and limits.

1. For each processed period, the box background is extrapolated from sidebands C
   (E_ECAL spectrum) and A (E_HCAL spectrum) (:mod:`workflows.background`), with one
   plot per sideband.
2. The periods become the bins of one HistFactory model (:mod:`workflows.model`):
   box with signal and background, sidebands A and C constraining the background.
3. CLs upper limits (:mod:`workflows.limits`). Without a signal model the POI is the
   total number of signal events, shared among periods in proportion to their EOT
   (a model-independent limit: 2.3 events at 90 % CL for an empty box). With the A'
   model (:mod:`workflows.exclusion`) the signal is EOT x efficiency x yield per EOT.

Blinded results give expected limits only (the box data are the background expectation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from processors.cuts import Thresholds
from workflows.background import SidebandEstimate, estimate_box_background
from workflows.results import PeriodResult, read_results, write_json


class FitError(RuntimeError):
    """The fit cannot be done with these inputs (the message says why)."""


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

    @property
    def background(self) -> float:
        return sum(e.central for e in self.estimates.values())

    @property
    def error(self) -> float:
        return math.hypot(*(e.error for e in self.estimates.values()))

    @property
    def syst_error(self) -> float:
        return math.hypot(*(e.syst_error for e in self.estimates.values()))

    def to_json(self) -> dict:
        return {
            "period": self.period, "eot": self.eot, "blinded": self.blinded,
            "box_observed": self.box_observed, "A": self.a_observed, "C": self.c_observed,
            "background": self.background, "background_error": self.error,
            "sidebands": {k: e.to_json() for k, e in self.estimates.items()},
        }


def period_background(result: PeriodResult, plots: Path | None = None) -> PeriodBackground:
    """Extrapolate one period's sidebands into its box (and plot the fits)."""
    s = result.summary
    thresholds = Thresholds(**s["thresholds"])
    estimates = estimate_box_background(result.hists, thresholds, s["beam_energy"])
    if plots is not None:
        from workflows.plots import plot_sideband_fits

        spectra = {"C": result.hists["ecal_sideband_c"], "A": result.hists["hcal_sideband_a"]}
        for name, est in estimates.items():
            plot_sideband_fits(spectra[name][{"variation": "nominal"}], est,
                               plots / f"sideband_{name}_{result.name}.png",
                               f"{result.name}: sideband {name} extrapolated into the box")
    r = s["regions"]
    return PeriodBackground(result.name, float(s["eot"]), result.blinded, r["box"], int(r["A"]),
                            int(r["C"]), estimates)


def model_inputs(backgrounds: list[PeriodBackground], signal: dict[str, float]) -> list:
    """One :class:`workflows.model.PeriodInputs` per period."""
    from workflows.model import PeriodInputs

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


def background_table(backgrounds: list[PeriodBackground]) -> Table:
    table = Table(title="Background in the signal box, from the sidebands", title_justify="left")
    for col in ("period", "EOT", "A", "C", "from C", "from A", "total", "observed"):
        table.add_column(col, justify="left" if col == "period" else "right")
    for b in backgrounds:
        c, a = b.estimates["C"], b.estimates["A"]
        table.add_row(b.period, f"{b.eot:.3g}", str(b.a_observed), str(b.c_observed),
                      f"{c.central:.3g} ± {c.error:.2g}", f"{a.central:.3g} ± {a.error:.2g}",
                      f"{b.background:.3g} ± {b.error:.2g}",
                      "blinded" if b.box_observed is None else str(b.box_observed))
    total_b = sum(b.background for b in backgrounds)
    total_e = math.sqrt(sum(b.error**2 for b in backgrounds))
    table.caption = f"total expected background: {total_b:.3g} ± {total_e:.2g} events"
    return table


def load_for_fit(results: Path, unblind: bool) -> list[PeriodResult]:
    periods = read_results(results)
    if unblind:
        blinded = [p.name for p in periods if p.blinded]
        if blinded:
            raise FitError(f"periods {', '.join(blinded)} were processed blinded; "
                           "run `na64 process --unblind` first to fit the observed box")
    incomplete = [p.name for p in periods if not p.complete]
    if incomplete:
        Console(stderr=True).print(f"[yellow]warning[/]: periods {', '.join(incomplete)} are incomplete "
                                   "(see 'failed' in their summary.json)")
    return periods


def limits_table(exclusion, every: int = 3) -> Table:
    from workflows.exclusion import ALPHA_D

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


def fit_results(
    results: Path,
    output: Path | None = None,
    unblind: bool = False,
    cl: float = 0.9,
    method: str = "auto",
    client=None,
    console: Console | None = None,
    ntoys: int = 500,
    efficiency: Path | None = None,
    model: str = "merged",
    n_masses: int = 30,
) -> dict:
    """Background table, workspace, limit on the signal count and, with a signal
    efficiency table, the exclusion in (m_A', epsilon) and (m_chi, y)."""
    import numpy as np

    from workflows.exclusion import (PeriodSignal, mass_grid, merged_counting_workspace,
                                     merged_exclusion, multibin_exclusion, signal_rel_error)
    from workflows.limits import upper_limit
    from workflows.model import build_workspace, write_workspace
    from workflows.plots import plot_exclusion, plot_y
    from workflows.signal_efficiency import EFFICIENCY_FILE, EfficiencyTable

    if model not in ("merged", "multibin"):
        raise FitError(f"unknown model {model!r}: use 'merged' or 'multibin'")
    console = console or Console()
    results = Path(results)
    output = Path(output or results)
    periods = load_for_fit(results, unblind)
    plots = output / "plots"
    backgrounds = [period_background(p, plots) for p in periods]
    if not unblind:
        for b in backgrounds:
            b.box_observed = None
    console.print(background_table(backgrounds))

    # The multi-period HistFactory workspace (signal shared by EOT), for anyone to refit.
    total_eot = sum(b.eot for b in backgrounds)
    shares = {b.period: b.eot / total_eot for b in backgrounds}
    ws_path = write_workspace(build_workspace(model_inputs(backgrounds, shares)), output / "workspace.json")

    # Limit on the number of signal events: the simplified (merged) counting model.
    background = sum(b.background for b in backgrounds)
    background_error = math.sqrt(sum(b.error**2 for b in backgrounds))
    observed = None if not unblind else sum(int(b.box_observed) for b in backgrounds)
    n90 = upper_limit(merged_counting_workspace(observed, background, background_error, signal_rel_error()),
                      cl=cl, method=method, client=client, ntoys=ntoys)
    band = ", ".join(f"{x:.3g}" for x in n90.expected)
    what = f"observed {n90.observed:.3g}, " if unblind else "blinded, expected only: "
    console.print(f"{int(round(cl * 100))}% CL upper limit on A' events in the box ({n90.method}): "
                  f"{what}expected [-2s, -1s, median, +1s, +2s] = [{band}]")
    report = {
        "blinded": not unblind, "cl": cl,
        "background": {"total": background, "error": background_error},
        "observed_box": observed,
        "signal_events_limit": {"method": n90.method, "expected": list(n90.expected),
                                "observed": n90.observed if unblind else None},
        "workspace": str(ws_path),
        "periods": [b.to_json() for b in backgrounds],
    }

    eff_path = Path(efficiency) if efficiency else results / EFFICIENCY_FILE
    if eff_path.exists():
        table = EfficiencyTable.read(eff_path)
        masses = mass_grid(n_masses)
        missing = [b.period for b in backgrounds if b.period not in table.efficiency]
        if missing:
            raise FitError(f"{eff_path}: no signal efficiency for periods {', '.join(missing)}")
        signals = [PeriodSignal(p.name, float(p.summary["eot"]), float(p.summary["beam_energy"]),
                                float(p.summary["thresholds"]["box_ecal_max"]), table.at(p.name, masses))
                   for p in periods]
        if model == "merged":
            exclusion, _ = merged_exclusion(masses, signals, observed, background, background_error,
                                            cl=cl, limit=n90)
        else:
            exclusion = multibin_exclusion(masses, signals, lambda sig: model_inputs(backgrounds, sig),
                                           blinded=not unblind, cl=cl, method=method, client=client)
        console.print(limits_table(exclusion))
        tag = "expected" if not unblind else "observed"
        plot_exclusion(exclusion, plots / "exclusion_epsilon.png",
                       f"NA64-style A' -> invisible, {len(backgrounds)} periods, {total_eot:.3g} EOT ({tag})")
        plot_y(exclusion, plots / "exclusion_y.png", f"Light dark matter, {total_eot:.3g} EOT ({tag})")
        report["exclusion"] = {"model": exclusion.model, "method": exclusion.method,
                               "efficiency": str(eff_path), "masses": exclusion.table()}
        report["efficiency_at_masses"] = {b.period: [float(x) for x in np.round(table.at(b.period, masses), 4)]
                                          for b in backgrounds}
    else:
        console.print(f"[yellow]no signal efficiency table ({eff_path})[/]: limits on A' events only; "
                      "`na64 signal` measures the efficiencies")
    write_json(output / "limits.json", report)
    return report
