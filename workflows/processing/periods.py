"""Many periods: validate everything, start the cluster once, process period by period."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from processors.errors import NA64Error
from workflows.processing.catalog import load_catalog
from workflows.processing.period import (
    CHECKPOINTS,
    OutputError,
    PeriodRun,
    ProcessOptions,
    process_period,
    up_to_date,
)
from workflows.runtime.cluster import ClusterOptions, dask_client

log = logging.getLogger(__name__)


class RunError(NA64Error):
    """Processing cannot start or cannot go on (the message says why)."""

    exit_code = 2


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


def _process(period, options: ProcessOptions, client, output: Path) -> PeriodRun:
    """One period, with the faults that stop a run turned into a :class:`RunError`."""
    try:
        run = process_period(period, options, client)
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
    summary = run.summary
    for f in summary.failed if summary is not None else ():
        where = f" entries {f.entries[0]}-{f.entries[1]}" if f.entries is not None else ""
        if f.stage == "reference":
            where += " (shower reference pass)"
        log.warning("%s: failed %s%s: %s", period.name, f.file, where, f.reason)
    for d in summary.duplicates.files if summary is not None else ():
        log.warning("%s: duplicates in %s: %d of %d events already in %s; counted once",
                    period.name, d.file, d.entries_skipped, d.entries,
                    ", ".join(d.copies_kept_in) or "the same file")
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
    progress: bool = True,
) -> list[PeriodRun]:
    """Process the periods of a catalog; configuration errors are raised before any work."""
    selected = load_catalog(catalog, periods)
    options = ProcessOptions(output=Path(output), unblind=unblind, force=force, chunksize=chunksize,
                             progress=progress)
    if variations_file is not None:
        from workflows.processing.variations import load_variations

        vset = load_variations(variations_file, selected)
        options.variations = vset.for_period
        options.variations_source = vset.provenance()
    _check_output(Path(output))
    cluster = cluster or ClusterOptions()
    if cluster.cluster and cluster.log_directory is None:
        from dataclasses import replace

        cluster = replace(cluster, log_directory=str(Path(output).resolve() / ".batch-logs"))
    log.info("%d period(s) on %s, %s", len(selected), cluster.describe(),
             "UNBLINDED" if unblind else "blinded")
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
                log.info("dashboard: %s", client.dashboard_link)
            for period in todo:
                stored[period.name] = _process(period, options, client, Path(output))
    for p in selected:
        if stored[p.name].status == "up to date":
            log.info("%s: up to date (provenance unchanged), not reprocessed", p.name)
    return [stored[p.name] for p in selected]
