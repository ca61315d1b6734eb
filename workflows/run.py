"""``na64 process``: validate everything, start the cluster, process period by period."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from workflows.catalog import load_catalog
from workflows.cluster import ClusterOptions, dask_client
from workflows.process import PeriodRun, ProcessOptions, process_period, up_to_date
from workflows.report import cutflow_table, runs_table


class RunError(RuntimeError):
    """Processing cannot start or cannot go on (the message says why)."""


def _check_output(output: Path) -> None:
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunError(f"{output}: cannot create the output directory: {e.strerror or e}") from None
    if not os.access(output, os.W_OK | os.X_OK):
        raise RunError(f"{output}: the output directory is not writable")


def run_processing(
    catalog: Path,
    output: Path,
    periods: Sequence[str] | None = None,
    unblind: bool = False,
    force: bool = False,
    variations_file: Path | None = None,
    cluster: ClusterOptions | None = None,
    chunksize: int = 100_000,
    console: Console | None = None,
    progress: bool = True,
) -> list[PeriodRun]:
    """Process the periods of a catalog; configuration errors are raised before any work."""
    console = console or Console()
    selected = load_catalog(catalog, periods)
    options = ProcessOptions(output=Path(output), unblind=unblind, force=force, chunksize=chunksize,
                             progress=progress)
    if variations_file is not None:
        from workflows.variations import load_variations

        vset = load_variations(variations_file, selected)
        options.variations = vset.for_period
        options.variations_source = vset.provenance()
    _check_output(Path(output))
    cluster = cluster or ClusterOptions()
    if cluster.cluster and cluster.log_directory is None:
        from dataclasses import replace

        cluster = replace(cluster, log_directory=str(Path(output).resolve() / ".batch-logs"))
    console.print(f"[bold]na64 process[/]: {len(selected)} period(s) on {cluster.describe()}, "
                  f"{'UNBLINDED' if unblind else 'blinded'}")
    stored = {p.name: up_to_date(p, options) for p in selected}
    todo = [p for p in selected if stored[p.name] is None]
    if todo:
        with dask_client(cluster) as client:
            for period in todo:
                try:
                    run = process_period(period, options, client, console)
                except OSError as e:
                    raise RunError(f"period {period.name}: cannot write outputs: {e}") from None
                stored[period.name] = run
                if run.summary.get("cutflow"):
                    console.print(cutflow_table(period, run.summary))
                for f in run.summary.get("failed", []):
                    where = f" entries {f['entries'][0]}-{f['entries'][1]}" if "entries" in f else ""
                    console.print(f"[yellow]failed[/] {f['file']}{where}: {f['reason']}")
    for p in selected:
        if stored[p.name].status == "up to date":
            console.print(f"[bold]{p.name}[/]: up to date (provenance unchanged), not reprocessed")
    runs = [stored[p.name] for p in selected]
    console.print(runs_table(runs))
    return runs
