"""``na64 process``: the selection chain over run periods on a Dask cluster."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from workflows.cli._common import CATALOG_HELP, EXIT_FAILED, console


class BatchSystem(str, Enum):
    slurm = "slurm"
    htcondor = "htcondor"


def process_command(
    catalog: Path = typer.Option(Path("datasets"), "--catalog", "-c", help=CATALOG_HELP),
    output: Path = typer.Option(Path("results"), "--output", "-o",
        help="Output directory; one sub-directory per period."),
    period: list[str] = typer.Option(None, "--period", "-p", help="Process only these periods (repeatable)."),
    unblind: bool = typer.Option(False, "--unblind", help="Open the signal box (default: blinded)."),
    force: bool = typer.Option(False, "--force", help="Reprocess even if a period's provenance is unchanged."),
    variations: Path = typer.Option(None, "--variations",
        help="YAML file of systematic variations, evaluated in the same pass."),
    scheduler: str = typer.Option(None, "--scheduler",
        help="Address of an existing Dask scheduler, e.g. tcp://host:8786."),
    cluster: BatchSystem = typer.Option(None, "--cluster", help="Start workers as batch jobs (dask-jobqueue)."),
    workers: int = typer.Option(None, "--workers", "-j",
        help="Workers (local cluster: default one per core; batch: jobs)."),
    memory: str = typer.Option("2GiB", "--memory", help="Memory per batch job."),
    walltime: str = typer.Option("01:00:00", "--walltime", help="Wall time per batch job."),
    queue: str = typer.Option(None, "--queue", "--partition", help="Batch queue / Slurm partition."),
    job_extra: list[str] = typer.Option(None, "--job-extra", help="Extra batch directive (repeatable)."),
    chunksize: int = typer.Option(100_000, "--chunksize", help="Target events per chunk (aligned to TTree clusters)."),
    dashboard: bool = typer.Option(False, "--dashboard",
        help="Serve the local cluster's Dask dashboard and print its link (adds ~0.7 s of start-up)."),
) -> None:
    """Apply the selection chain to run periods on a Dask cluster and write, per period,
    summary.json (cutflow, regions A/C/box), histograms, the shower reference and provenance.

    Periods whose inputs, configuration and code are unchanged are not reprocessed. An
    interrupted run resumes from its checkpoints when the same command is run again.
    Each period is processed on its own: one that fails says why in its summary.json,
    and the others still run (exit code 1).
    """
    from workflows.runtime.cluster import ClusterOptions, prepare

    opts = ClusterOptions(scheduler=scheduler, cluster=cluster.value if cluster else None,
                          workers=workers, memory=memory, walltime=walltime, queue=queue,
                          job_extra=tuple(job_extra or ()), dashboard=dashboard)
    prepare(opts)  # local workers' imports start now, in parallel with ours

    from workflows.cli.tables import processing_tables
    from workflows.processing.periods import run_processing

    runs = run_processing(catalog, output, periods=period or None, unblind=unblind, force=force,
                          variations_file=variations, cluster=opts, chunksize=chunksize)
    console.print(*processing_tables(runs), sep="\n")
    if any(not r.complete for r in runs):
        raise typer.Exit(EXIT_FAILED)
