"""``na64 datasets``: the run periods of a catalog."""

from __future__ import annotations

from pathlib import Path

import typer

from workflows.cli._common import CATALOG_HELP, console


def datasets_command(
    catalog: Path = typer.Option(Path("datasets"), "--catalog", "-c", help=CATALOG_HELP),
) -> None:
    """List the run periods of a catalog: beam, EOT, files found and events."""
    from workflows.cli.tables import datasets_table
    from workflows.processing.catalog import load_catalog
    from workflows.processing.input_checks import count_events

    periods = load_catalog(catalog, require_files=False)
    console.print(datasets_table([(p, count_events(p.resolve_files())) for p in periods]))
