"""The ``na64`` command line. Thin: every command calls library functions that tests call too.

Module-level imports stay light (typer, rich); the scientific stack is imported inside
the commands, so that ``na64 --help`` and ``na64 simulate`` start quickly.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer
from rich.console import Console

app = typer.Typer(
    help=(
        "Missing-energy search for light dark matter at fixed-target experiments (NA64 style).\n\n"
        "Typical session: `na64 simulate` writes run periods, `na64 datasets` lists them, "
        "`na64 process` applies the selection on a Dask cluster, `na64 fit` estimates the "
        "background and sets limits. `na64 demo` runs the whole chain on built-in data."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()

CATALOG_HELP = "Directory of run-period catalogs (one YAML per period), or one catalog file."


class BatchSystem(str, Enum):
    slurm = "slurm"
    htcondor = "htcondor"


def _fail(message: str, code: int = 2) -> None:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


@app.command()
def datasets(
    catalog: Path = typer.Option(Path("datasets"), "--catalog", "-c", help=CATALOG_HELP),
) -> None:
    """List the run periods of a catalog: beam, EOT, files found and events."""
    import uproot

    from workflows.catalog import CatalogError, load_catalog
    from workflows.report import datasets_table

    try:
        periods = load_catalog(catalog, require_files=False)
    except CatalogError as e:
        _fail(str(e))
    rows = []
    for p in periods:
        files = p.resolve_files()
        events = 0
        for f in files:
            try:
                with uproot.open(f) as fh:
                    events += fh["events"].num_entries
            except Exception:
                events = None
                break
        rows.append({"name": p.name, "beam": f"{p.beam.particle} {p.beam.energy:g} GeV", "eot": p.eot,
                     "files": len(files), "events": events, "catalog": str(p.source)})
    console.print(datasets_table(rows))


@app.command()
def process(
    catalog: Path = typer.Option(Path("datasets"), "--catalog", "-c", help=CATALOG_HELP),
    output: Path = typer.Option(Path("results"), "--output", "-o", help="Output directory; one sub-directory per period."),
    period: list[str] = typer.Option(None, "--period", "-p", help="Process only these periods (repeatable)."),
    unblind: bool = typer.Option(False, "--unblind", help="Open the signal box (default: blinded)."),
    force: bool = typer.Option(False, "--force", help="Reprocess even if a period's provenance is unchanged."),
    variations: Path = typer.Option(None, "--variations", help="YAML file of systematic variations, evaluated in the same pass."),
    scheduler: str = typer.Option(None, "--scheduler", help="Address of an existing Dask scheduler, e.g. tcp://host:8786."),
    cluster: BatchSystem = typer.Option(None, "--cluster", help="Start workers as batch jobs (dask-jobqueue)."),
    workers: int = typer.Option(None, "--workers", "-j", help="Workers (local cluster: default one per core; batch: jobs)."),
    memory: str = typer.Option("2GiB", "--memory", help="Memory per batch job."),
    walltime: str = typer.Option("01:00:00", "--walltime", help="Wall time per batch job."),
    queue: str = typer.Option(None, "--queue", "--partition", help="Batch queue / Slurm partition."),
    job_extra: list[str] = typer.Option(None, "--job-extra", help="Extra batch directive (repeatable)."),
    chunksize: int = typer.Option(100_000, "--chunksize", help="Target events per chunk (aligned to TTree clusters)."),
    dashboard: bool = typer.Option(False, "--dashboard", help="Serve the local cluster's Dask dashboard and print its link (adds ~0.7 s of start-up)."),
) -> None:
    """Apply the selection chain to run periods on a Dask cluster and write, per period,
    summary.json (cutflow, regions A/C/box), histograms, the shower reference and provenance.

    Periods whose inputs, configuration and code are unchanged are not reprocessed. An
    interrupted run resumes from its checkpoints when the same command is run again.
    """
    from workflows.cluster import ClusterOptions, prepare

    opts = ClusterOptions(scheduler=scheduler, cluster=cluster.value if cluster else None,
                          workers=workers, memory=memory, walltime=walltime, queue=queue,
                          job_extra=tuple(job_extra or ()), dashboard=dashboard)
    prepare(opts)  # local workers' imports start now, in parallel with ours

    from workflows.catalog import CatalogError
    from workflows.run import RunError, run_processing

    try:
        runs = run_processing(catalog, output, periods=period or None, unblind=unblind, force=force,
                              variations_file=variations, cluster=opts, chunksize=chunksize,
                              console=console)
    except (CatalogError, RunError) as e:
        _fail(str(e))
    except KeyboardInterrupt:
        console.print("\n[yellow]interrupted[/]: finished chunks are checkpointed; "
                      "run the same command again to resume.")
        raise typer.Exit(130) from None
    if any(not r.complete for r in runs):
        raise typer.Exit(1)


@app.command()
def fit(
    results: Path = typer.Option(Path("results"), "--results", "-r", help="Output directory of `na64 process`."),
    unblind: bool = typer.Option(False, "--unblind", help="Fit the observed box (the periods must have been processed with --unblind)."),
    cl: float = typer.Option(0.9, "--cl", min=0.5, max=0.999, help="Confidence level of the upper limits."),
    method: str = typer.Option("auto", "--method", help="auto | asymptotic | toys | exact (auto: toys or exact for low counts)."),
    model: str = typer.Option("merged", "--model", help="merged: the papers' simplified single-bin method (fast); multibin: periods as bins with sidebands, one fit per mass."),
    efficiency: Path = typer.Option(None, "--efficiency", help="Signal efficiency table (default: RESULTS/signal_efficiency.json from `na64 signal`)."),
    masses: int = typer.Option(30, "--masses", min=2, help="Number of A' masses from 1 MeV to 1 GeV."),
    ntoys: int = typer.Option(500, "--ntoys", help="Toys per hypothesis when toys are used."),
    scheduler: str = typer.Option(None, "--scheduler", help="Dask scheduler for toys and masses in parallel (default: a local cluster)."),
) -> None:
    """Background in the signal box from the sidebands, the pyhf workspace (workspace.json),
    CLs upper limits, and with signal efficiencies the exclusion in (m_A', epsilon) and (m_chi, y)
    (limits.json, plots/). Blinded results give expected limits only."""
    from workflows.cluster import ClusterOptions, dask_client
    from workflows.fit import FitError, fit_results

    try:
        with dask_client(ClusterOptions(scheduler=scheduler)) as client:
            fit_results(results, unblind=unblind, cl=cl, method=method, model=model,
                        efficiency=efficiency, n_masses=masses, ntoys=ntoys, client=client,
                        console=console)
    except (FitError, FileNotFoundError) as e:
        _fail(str(e))


@app.command()
def signal(
    catalog: Path = typer.Option(Path("datasets"), "--catalog", "-c", help=CATALOG_HELP),
    output: Path = typer.Option(Path("results"), "--output", "-o", help="Where signal_efficiency.json goes."),
    masses: list[float] = typer.Option(None, "--mass", "-m", help="A' masses in GeV (repeatable; default 2, 20, 200, 900 MeV)."),
    events: int = typer.Option(2000, "--events", "-n", min=100, help="A' events per period and mass."),
    period: list[str] = typer.Option(None, "--period", "-p", help="Only these periods."),
) -> None:
    """Signal efficiency per period and A' mass: simulate A' -> invisible events with each
    period's conditions, process them with the same processors as the data, count the box."""
    from workflows.catalog import CatalogError
    from workflows.signal_efficiency import DEFAULT_MASSES, measure

    try:
        measure(catalog, output, masses or DEFAULT_MASSES, events, period or None, console=console)
    except CatalogError as e:
        _fail(str(e))


@app.command()
def demo(
    events: int = typer.Option(200_000, "--events", "-n", help="Simulated events per run period."),
    output: Path = typer.Option(Path("results"), "--output", "-o", help="Results directory."),
    catalog: Path = typer.Option(Path("datasets"), "--catalog", "-c", help=CATALOG_HELP),
) -> None:
    """The whole chain on built-in data: simulate the seven periods, process them on a local
    Dask cluster, measure signal efficiencies, fit the sidebands, set expected limits, plot."""
    from workflows.demo import run_demo

    run_demo(catalog, output, events, console=console)


def _register_commands() -> None:
    """Commands living in their own modules (each importable on its own, light at import)."""
    from workflows.limit_command import limit_command
    from workflows.simulation.command import simulate_command
    from workflows.yield_command import yield_command

    app.command("simulate")(simulate_command)
    app.command("limit")(limit_command)
    app.command("yield")(yield_command)


_register_commands()


def main() -> None:
    """Console entry point: run the command, then leave without Python's module teardown.

    With the scientific stack loaded (~2500 modules), interpreter finalisation takes
    ~0.7 s after the last line is printed; the exit handlers (cluster, fork server) still
    run, output is flushed, and the exit code is kept.
    """
    import atexit
    import os
    import sys
    import traceback

    code = 0
    try:
        app()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except BaseException:  # an unexpected error: show it, fail
        traceback.print_exc()
        code = 1
    try:
        atexit._run_exitfuncs()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
