"""``na64 process``: validate everything, start the cluster, process period by period."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from workflows.catalog import load_catalog
from workflows.cluster import ClusterOptions, dask_client
from workflows.process import (CHECKPOINTS, OutputError, PeriodRun, ProcessOptions, process_period,
                               up_to_date)
from workflows.report import cutflow_table, runs_table


class RunError(RuntimeError):
    """Processing cannot start or cannot go on (the message says why)."""


def _check_output(output: Path) -> None:
    """The output directory exists and takes a file (tried, not inferred from permissions)."""
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunError(f"{output}: cannot create the output directory: {e.strerror or e}") from None
    try:
        fd, probe = tempfile.mkstemp(dir=output, prefix=".na64-write-test.")
        try:
            os.write(fd, b"0" * 4096)
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as e:
        raise RunError(f"{output}: the output directory is not writable: {e.strerror or e}") from None


def _connection_lost(error: BaseException, client) -> bool:
    """True when an error comes from losing the Dask scheduler (not from the analysis)."""
    from distributed.comm.core import CommClosedError

    if isinstance(error, (asyncio.CancelledError, CommClosedError)):
        return True
    return getattr(client, "status", "running") not in ("running", "newly-created")


def _connect_error(cluster: ClusterOptions, error: BaseException) -> RunError:
    where = f"the Dask scheduler {cluster.scheduler}" if cluster.scheduler else cluster.describe()
    return RunError(f"cannot start or reach {where}: {type(error).__name__}: {error}")


def _process(period, options: ProcessOptions, client, console: Console, output: Path) -> PeriodRun:
    """One period, with the faults that stop a run turned into a :class:`RunError`."""
    try:
        run = process_period(period, options, client, console)
    except OutputError as e:
        raise RunError(f"period {period.name}: cannot write outputs: {e}; "
                       "no summary.json was written for it") from None
    except (Exception, asyncio.CancelledError) as e:
        if not _connection_lost(e, client):
            raise
        first_line = str(e).splitlines()[0] if str(e) else ""
        raise RunError(
            f"period {period.name}: lost the connection to the Dask scheduler "
            f"({type(e).__name__}: {first_line}); finished chunks are checkpointed in "
            f"{output / period.name / CHECKPOINTS}: run the same command again to resume"
        ) from None
    if run.summary.get("cutflow"):
        console.print(cutflow_table(period, run.summary))
    for f in run.summary.get("failed", []):
        where = f" entries {f['entries'][0]}-{f['entries'][1]}" if "entries" in f else ""
        console.print(f"[yellow]failed[/] {f['file']}{where}: {f['reason']}")
    for d in run.summary.get("duplicates", {}).get("files", []):
        console.print(f"[yellow]duplicates[/] {d['file']}: {d['entries_skipped']} of {d['entries']} "
                      f"events already in {', '.join(d['copies_kept_in']) or 'the same file'}; "
                      "counted once")
    return run


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
    for p in todo:  # an existing period directory must take files too (before any cluster)
        if (Path(output) / p.name).is_dir():
            _check_output(Path(output) / p.name)
    if todo:
        with contextlib.ExitStack() as stack:
            try:
                client = stack.enter_context(dask_client(cluster))
            except (OSError, TimeoutError) as e:
                raise _connect_error(cluster, e) from None
            if cluster.dashboard and client.dashboard_link:
                console.print(f"dashboard: {client.dashboard_link}")
            for period in todo:
                stored[period.name] = _process(period, options, client, console, Path(output))
    for p in selected:
        if stored[p.name].status == "up to date":
            console.print(f"[bold]{p.name}[/]: up to date (provenance unchanged), not reprocessed")
    runs = [stored[p.name] for p in selected]
    console.print(runs_table(runs))
    return runs
