"""``na64 project``: expected background and expected limits of a future exposure."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from workflows.cli._common import CATALOG_HELP, console, fail


def project_command(
    eot: float = typer.Option(..., "--eot", help="The future exposure (electrons or positrons on target)."),
    periods: list[str] = typer.Option(None, "--periods", "-p",
        help="Catalog periods whose conditions the exposure is taken under, shared as their "
             "catalog EOT (repeatable or comma-separated; default: every period)."),
    catalog: Path = typer.Option(Path("datasets"), "--catalog", "-c", help=CATALOG_HELP),
    results: Path = typer.Option(Path("results"), "--results", "-r",
        help="Processed results: the measured efficiencies (signal_efficiency.json) and, "
             "where present, the periods' sideband estimates shown beside the projection."),
    efficiency: Path = typer.Option(None, "--efficiency",
        help="Signal efficiency table (default: RESULTS/signal_efficiency.json from `na64 signal`)."),
    masses: int = typer.Option(30, "--masses", min=2, help="Number of A' masses from 1 MeV to 1 GeV."),
    json_output: bool = typer.Option(False, "--json", help="Print the projection as JSON (last line)."),
) -> None:
    """Expected background and expected limits (epsilon and y, median and bands) of a future
    exposure, from the simulation's per-EOT rates and the measured signal efficiencies, with
    the assumptions printed."""
    from rich.table import Table

    from processors.errors import InputError
    from workflows.processing.catalog import load_catalog
    from workflows.signal.efficiency import EfficiencyTable
    from workflows.stats.exclusion import ALPHA_D, mass_grid
    from workflows.stats.projection import project

    if not eot > 0:
        raise fail("--eot must be > 0")
    names = [n for item in (periods or []) for n in item.split(",") if n] or None
    selected = load_catalog(catalog, periods=names, require_files=False)
    table_path = efficiency or results / "signal_efficiency.json"
    if not table_path.is_file():
        raise InputError(f"{table_path}: no signal efficiency table (run `na64 signal` first, "
                         "or give --efficiency)")
    table = EfficiencyTable.read(table_path)
    missing = [p.name for p in selected if p.name not in table.efficiency]
    if missing:
        raise InputError(f"{table_path}: no efficiency for period(s) {', '.join(missing)}")
    sideband = _sideband(results, [p.name for p in selected])
    proj = project(eot, selected, table, sideband, masses=mass_grid(masses))

    console.print(f"[bold]Projection for {eot:.3g} EOT[/bold]")
    for a in proj.assumptions:
        console.print(f"  assumption: {a}")
    bg = Table(title="Expected box background", title_justify="left")
    bg.add_column("source")
    bg.add_column("events", justify="right")
    for k, v in proj.background_by_source.items():
        bg.add_row(k, f"{v:.3g}")
    bg.add_row("total", f"{proj.background:.3g} ± {proj.background_error:.2g}", style="bold")
    if sideband is not None:
        bg.add_row("sideband estimate of the processed periods, scaled", f"{sideband * eot:.3g}",
                   style="dim")
    console.print(bg)
    ex = proj.exclusion
    lim = Table(title=f"Expected {int(round(100 * ex.cl))}% CL limits ({ex.method})", title_justify="left")
    for col in ("m_A' [MeV]", "eps90 median", "-1s / +1s", "-2s / +2s",
                *(f"y90 aD={a}" for a in ALPHA_D)):
        lim.add_column(col, justify="right")
    eps = ex.eps_expected
    for i in range(0, len(ex.masses), 3):
        lim.add_row(f"{1e3 * ex.masses[i]:.3g}", f"{eps[2, i]:.3g}", f"{eps[1, i]:.3g} / {eps[3, i]:.3g}",
                    f"{eps[0, i]:.3g} / {eps[4, i]:.3g}",
                    *(f"{ex.y(eps[2, i], a):.3g}" for a in ALPHA_D))
    console.print(lim)
    if json_output:
        print(json.dumps(proj.to_json(), allow_nan=False, default=float))


def _sideband(results: Path, names: list[str]) -> float | None:
    """Sideband background per EOT of the chosen periods processed under ``results``."""
    from processors.errors import InputError
    from workflows.processing.results import read_results
    from workflows.stats.fit import period_background
    from workflows.stats.projection import sideband_background_per_eot

    try:
        done = [r for r in read_results(results) if r.name in names]
    except InputError:
        return None
    if len(done) != len(names):
        return None
    return sideband_background_per_eot([period_background(r) for r in done])
