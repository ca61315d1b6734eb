"""``na64 signal``: the A' signal efficiency per period and mass, through the processors."""

from __future__ import annotations

from pathlib import Path

import typer

from workflows.cli._common import CATALOG_HELP, console


def signal_command(
    catalog: Path = typer.Option(Path("datasets"), "--catalog", "-c", help=CATALOG_HELP),
    output: Path = typer.Option(Path("results"), "--output", "-o", help="Where signal_efficiency.json goes."),
    masses: list[float] = typer.Option(None, "--mass", "-m",
        help="A' masses in GeV (repeatable; default 2, 20, 200, 900 MeV)."),
    events: int = typer.Option(2000, "--events", "-n", min=100, help="A' events per period and mass."),
    period: list[str] = typer.Option(None, "--period", "-p", help="Only these periods."),
) -> None:
    """Signal efficiency per period and A' mass: simulate A' -> invisible events with each
    period's conditions, process them with the same processors as the data, count the box."""
    from workflows.cli.tables import efficiency_table
    from workflows.signal.efficiency import DEFAULT_MASSES, measure

    table = measure(catalog, output, masses or DEFAULT_MASSES, events, period or None)
    console.print(efficiency_table(table))
