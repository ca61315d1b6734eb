"""``na64 datasets``: the run periods of a catalog, and its signal samples."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from workflows.cli._common import CATALOG_HELP, console


def datasets_command(
    catalog: Path = typer.Option(Path("datasets"), "--catalog", "-c", help=CATALOG_HELP),
) -> None:
    """List the run periods of a catalog (beam, EOT, files found and events), then its
    signal samples, if any (period, mass, generated, files and events)."""
    from workflows.cli.tables import datasets_table
    from workflows.processing.catalog import load_catalog, load_signal_samples
    from workflows.processing.input_checks import count_events

    periods = load_catalog(catalog, require_files=False)
    console.print(datasets_table([(p, count_events(p.resolve_files())) for p in periods]))
    samples = load_signal_samples(catalog, require_files=False)
    if samples:
        table = Table(title="Signal samples", title_justify="left")
        table.add_column("sample", no_wrap=True, min_width=max(len(s.name) for s in samples))
        for col, justify in (("period", "left"), ("m_A' [MeV]", "right"), ("generated", "right"),
                             ("files", "right"), ("events", "right")):
            table.add_column(col, justify=justify)
        table.add_column("catalog", overflow="fold")
        for s in samples:
            files = s.period.resolve_files()
            events = count_events(files)
            table.add_row(s.name, s.data_period, f"{1e3 * s.mass:g}", f"{s.generated:,}",
                          str(len(files)), f"{events:,}" if events is not None else "?",
                          str(s.source))
        console.print(table)
