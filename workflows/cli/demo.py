"""``na64 demo``: the whole chain on built-in data.

Simulate the run periods of ``datasets/`` (seven electron, one positron) at their catalog
exposures (per-EOT rates, the abundant early-failing triggers prescaled; skipped when the
files on disk come from the same settings), list them, picture the simulated plane, process them on a
local Dask cluster (blinded, with the default systematic variations), measure the A'
signal efficiencies with the same variations, fit the background from the sidebands with
every variation a nuisance, show the fit diagnostics and the breakdown of the expected
limit, set the expected limits and write a validated HEPData submission.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.rule import Rule

from workflows.cli._common import CATALOG_HELP
from workflows.cli._common import console as stdout

if TYPE_CHECKING:
    from workflows.stats.fit import FitReport


def _simulated_already(directory: Path, n_events: int | None, seed: int, eot: float) -> bool:
    """The files on disk come from the same settings (the same size, or the same exposure)."""
    info = directory / "simulation.json"
    if not info.exists():
        return False
    d = json.loads(info.read_text())
    files_ok = all((directory / Path(f).name).exists() for f in d.get("files", []))
    exposure = d.get("exposure")
    same = (d.get("n_events") == n_events and exposure is None if n_events is not None
            else exposure is not None and exposure.get("eot") == eot)
    return d.get("seed") == seed and same and files_ok


def run_demo(catalog: Path = Path("datasets"), results: Path = Path("results"),
             events: int | None = None, seed: int = 1, signal_events: int = 2000,
             console: Console | None = None) -> FitReport:
    """The whole chain; each period simulated at its catalog exposure (or, with
    ``events``, as an enriched sample of that size)."""
    from workflows.cli.tables import efficiency_table, fit_tables, processing_tables
    from workflows.plots import plot_plane, raw_plane
    from workflows.processing.catalog import load_catalog
    from workflows.processing.periods import run_processing
    from workflows.processing.results import read_period
    from workflows.publish import hepdata_for_results
    from workflows.runtime.cluster import ClusterOptions, dask_client
    from workflows.signal.efficiency import measure
    from workflows.simulation import simulate_period
    from workflows.stats.fit import fit_results

    console = console or Console()
    start = time.perf_counter()
    periods = load_catalog(catalog, require_files=False)
    console.print(Rule("1. simulate the run periods"))
    t_sim = time.perf_counter()
    for p in periods:
        out = p.patterns()[0].parent
        if _simulated_already(out, events, seed, p.eot):
            console.print(f"{p.name}: simulated events already in {out}")
            continue
        t0 = time.perf_counter()
        if events is None:
            report = simulate_period(p, 0, out, seed=seed, eot=p.eot)
        else:
            report = simulate_period(p, events, out, seed=seed)
        console.print(f"{p.name}: {report.n_events:,} events for {report.eot_equivalent:.3g} EOT "
                      f"({p.beam.energy:g} GeV {p.beam.particle}), pile-up "
                      f"{100 * report.pileup_probability:.1f}%, expected box background "
                      f"{report.expected_box_background['total']:.2g}, {len(report.files)} file(s), "
                      f"{time.perf_counter() - t0:.1f} s")
    console.print(f"simulation: {time.perf_counter() - t_sim:.0f} s")
    plots = results / "plots"
    ref = next(p for p in periods if p.name == "2022") if any(p.name == "2022" for p in periods) else periods[0]
    path = plot_plane(raw_plane(ref.resolve_files(), ref.beam.energy, ref.calibration.ecal_scale,
                                ref.calibration.hcal_scale), ref.cuts,
                      plots / f"simulated_plane_{ref.name}.png",
                      f"Simulated {ref.name}: all physics triggers, before cuts", blinded=True,
                      regions_of_papers=True)
    console.print(f"picture of the simulated plane: {path}")

    console.print(Rule("2. process on a local Dask cluster (blinded, with systematic variations)"))
    variations = catalog / "variations.yaml" if (catalog / "variations.yaml").exists() else None
    runs = run_processing(catalog, results, variations_file=variations)
    console.print(*processing_tables(runs), sep="\n")
    for p in periods:
        r = read_period(results / p.name)
        plot_plane(r.hists["plane"][{"variation": "nominal"}], p.cuts, plots / f"plane_{p.name}.png",
                   f"{p.name}: after all cuts ({'blinded' if r.blinded else 'unblinded'})",
                   blinded=r.blinded, hcal_max=1.2 * p.beam.energy)
    console.print(f"plane plots: {plots}/plane_<period>.png")

    console.print(Rule("3. A' signal efficiency from simulated signal through the same processors, "
                       "with the same variations"))
    console.print(efficiency_table(measure(catalog, results, n_events=signal_events, variations_file=variations)))

    console.print(Rule("4. background from the sidebands, every variation a nuisance, diagnostics, "
                       "expected limits, HEPData"))

    with dask_client(ClusterOptions()) as client:
        report = fit_results(results, client=client)
    console.print(*fit_tables(report), sep="\n")
    submission = hepdata_for_results(results, results / "hepdata", simulated=True)
    console.print(f"limits table: {results / 'limits.json'}; exclusion plots: "
                  f"{plots / 'exclusion_epsilon.png'}, {plots / 'exclusion_y.png'}; "
                  f"fit diagnostics: {plots}/pulls.png, ranking.png, correlation.png; "
                  f"workspace: {results / 'workspace.json'}; HEPData submission (validated): {submission}")
    console.print(f"demo finished in {time.perf_counter() - start:.0f} s")
    return report


def demo_command(
    events: int = typer.Option(None, "--events", "-n",
        help="Simulate enriched samples of this size per period instead of each period's "
             "catalog exposure at the per-EOT rates."),
    output: Path = typer.Option(Path("results"), "--output", "-o", help="Results directory."),
    catalog: Path = typer.Option(Path("datasets"), "--catalog", "-c", help=CATALOG_HELP),
) -> None:
    """The whole chain on built-in data: simulate every period at its catalog exposure (the
    per-EOT rates, abundant early-failing triggers prescaled), process them on a local Dask
    cluster, measure signal efficiencies, fit the sidebands, set expected limits, plot."""
    run_demo(catalog, output, events, console=stdout)
