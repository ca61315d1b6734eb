"""``na64 reproduce NAME``: a published NA64 limit recomputed with the project's own yield,
measured signal efficiencies and statistics, beside the published values."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from workflows.cli._common import CATALOG_HELP, console


def reproduce_command(
    name: str = typer.Argument(..., help="prd97-table5, na64e-2016-2018, na64e-2016-2022 or "
                                         "na64e-positron-70gev."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object (nothing else on stdout)."),
    efficiency: Path = typer.Option(None, "--efficiency",
        help="Efficiency table (signal_efficiency.json of `na64 signal`) holding the publication's "
             "periods. Default: RESULTS/signal_efficiency.json if it has them, else one measured "
             "for this publication under RESULTS/reproduce/NAME/."),
    results: Path = typer.Option(Path("results"), "--results", "-r", help="Results directory."),
    catalog: Path = typer.Option(Path("datasets"), "--catalog", "-c", help=CATALOG_HELP
        + " Its periods' beams must match the publication's; used to measure efficiencies."),
    method: str = typer.Option("exact", "--method",
        help="CLs upper limit on the signal count: exact (central background), toys or "
             "asymptotic (background uncertainty as a nuisance)."),
    events: int = typer.Option(2000, "--events", "-n", min=1000,
        help="A' per period and mass if the efficiencies must be measured here (at least 1000: "
             "the shower reference needs 100 of their ~10 % calibration triggers)."),
    markdown: bool = typer.Option(False, "--markdown", help="Print the table as Markdown (for the README)."),
    plot: Path = typer.Option(None, "--plot",
        help="Also draw NAME_epsilon.png and NAME_y.png (with the thermal relic targets) in this directory."),
) -> None:
    """Recompute a published NA64 limit: its exposure, observed count and background (from the
    seeds), the project's A' yield (bremsstrahlung, plus resonant annihilation where the
    publication has it) and measured signal efficiencies; epsilon_90 and y_90 (alpha_D = 0.1,
    0.5; m_A' = 3 m_chi) per mass beside the published values and their ratio."""
    from workflows.signal.publications import publication
    from workflows.signal.reproduce import find_efficiencies, reproduce

    pub = publication(name)
    table, path = find_efficiencies(pub, results, catalog, efficiency, events)
    result = reproduce(pub, table, str(path), method)
    figures = []
    if plot is not None:
        from workflows.plots import plot_reproduction

        figures = plot_reproduction(result, plot)
    if json_output:
        print(json.dumps(result.to_json()))
    elif markdown:
        print(markdown_table(result))
    else:
        console.print(rich_table(result))
    if figures and not json_output:
        console.print("figures: " + ", ".join(str(f) for f in figures))


def _fmt(x: float | None, spec: str = ".3g") -> str:
    return "-" if x is None else format(x, spec)


def rich_table(result):
    """The reproduction as a rich table."""
    from rich.table import Table

    p = result.publication
    table = Table(title=f"{p.name}: {p.title}\n{p.reference}", title_justify="left",
                  caption=(f"{p.particle} {p.energy:g} GeV, {p.eot:.3g} on target, E_A' > {p.threshold:g} GeV, "
                           f"{p.production}; observed {p.observed}, background {p.background:g}"
                           + ("" if p.background_error is None else f" +- {p.background_error:g}")
                           + f"; N_90 = {result.n90:.3f} ({result.limit_method}); "
                           f"efficiencies: {result.efficiency_file} "
                           f"({', '.join(s.period for s in p.periods)}); * held at the table's end; "
                           "A'/EOT at eps = 1e-4; y_90 for alpha_D (a) = 0.1, 0.5"),
                  caption_justify="left")
    for col in ("m MeV", "eff", "A'/EOT", "eps_90", "publ.", "ratio", "y a=0.1", "y a=0.5"):
        table.add_column(col, justify="right", no_wrap=True)
    for m in result.masses:
        table.add_row(f"{1e3 * m.mass:g}", _fmt(m.efficiency, ".2f") + ("*" if m.extrapolated else ""),
                      _fmt(m.yield_per_eot, ".2e"), _fmt(m.eps90, ".2e"),
                      _fmt(None if m.published is None else m.published.eps90, ".2e"),
                      _fmt(m.ratio, ".2f"), _fmt(m.y90[0.1], ".2e"), _fmt(m.y90[0.5], ".2e"))
    return table


def markdown_table(result) -> str:
    """The reproduction as a Markdown table."""
    lines = ["| m_A' [MeV] | efficiency | eps_90 ours | eps_90 published | ratio | y_90 (alpha_D = 0.1) | y_90 (0.5) |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for m in result.masses:
        lines.append(f"| {1e3 * m.mass:g} | {_fmt(m.efficiency)}{'*' if m.extrapolated else ''} | "
                     f"{_fmt(m.eps90)} | {_fmt(None if m.published is None else m.published.eps90)} | "
                     f"{_fmt(m.ratio, '.2f')} | {_fmt(m.y90[0.1])} | {_fmt(m.y90[0.5])} |")
    return "\n".join(lines)
