"""``na64 signal``: the A' signal efficiency per period and mass, through the processors."""

from __future__ import annotations

from pathlib import Path

import typer

from workflows.cli._common import CATALOG_HELP, console


def signal_command(
    catalog: Path = typer.Option(Path("datasets"), "--catalog", "-c", help=CATALOG_HELP
        + " Its signal catalogs (a 'signal:' key) are measured as they are; without any, "
          "A' samples are simulated for its data periods."),
    output: Path = typer.Option(Path("results"), "--output", "-o", help="Where signal_efficiency.json goes."),
    masses: list[float] = typer.Option(None, "--mass", "-m",
        help="A' masses in GeV (repeatable; simulation default 2, 20, 200, 900 MeV; with signal "
             "catalogs: only these of their masses)."),
    events: int = typer.Option(None, "--events", "-n", min=100,
        help="A' events per period and mass to simulate (default 2000; not with signal catalogs)."),
    period: list[str] = typer.Option(None, "--period", "-p", help="Only these data periods."),
    variations: Path = typer.Option(None, "--variations",
        help="YAML file of systematic variations (as for na64 process): efficiency per variation."),
    workers: int = typer.Option(None, "--workers", "-j", help="Local Dask workers (default one per core)."),
    seed: int = typer.Option(11, "--seed", help="Seed of the simulated samples."),
) -> None:
    """Signal efficiency per period and A' mass: the box count after all cuts over the A'
    generated, for the signal samples of the catalog's signal catalogs, or for A' -> invisible
    events simulated with each period's conditions (written with signal catalogs to
    OUTPUT/signal/catalogs/), processed unblinded by the same processors as the data."""
    from workflows.cli.tables import efficiency_table
    from workflows.runtime.cluster import ClusterOptions
    from workflows.signal.efficiency import signal_efficiency

    table = signal_efficiency(catalog, output, masses or None, events, period or None, seed,
                              ClusterOptions(workers=workers), variations)
    console.print(efficiency_table(table))
