"""``na64 fit``: background from the sidebands, the pyhf workspace, limits and exclusion."""

from __future__ import annotations

from pathlib import Path

import typer

from workflows.cli._common import console


def fit_command(
    results: Path = typer.Option(Path("results"), "--results", "-r", help="Output directory of `na64 process`."),
    unblind: bool = typer.Option(False, "--unblind",
        help="Fit the observed box (the periods must have been processed with --unblind)."),
    cl: float = typer.Option(0.9, "--cl", min=0.5, max=0.999, help="Confidence level of the upper limits."),
    method: str = typer.Option("auto", "--method",
        help="auto | asymptotic | toys | exact (auto: toys or exact for low counts)."),
    model: str = typer.Option("merged", "--model",
        help=("merged: the papers' simplified single-bin method (fast); "
              "multibin: periods as bins with sidebands, one fit per mass.")),
    efficiency: Path = typer.Option(None, "--efficiency",
        help="Signal efficiency table (default: RESULTS/signal_efficiency.json from `na64 signal`)."),
    masses: int = typer.Option(30, "--masses", min=2, help="Number of A' masses from 1 MeV to 1 GeV."),
    ntoys: int = typer.Option(500, "--ntoys", help="Toys per hypothesis when toys are used."),
    scheduler: str = typer.Option(None, "--scheduler",
        help="Dask scheduler for toys and masses in parallel (default: a local cluster)."),
    systematics: Path = typer.Option(None, "--systematics",
        help="Fixed uncertainties (YAML; default: datasets/systematics.yaml)."),
    diagnostics: bool = typer.Option(True, "--diagnostics/--no-diagnostics",
        help="Pulls, impacts, pre-/post-fit yields and correlations of workspace.json (cabinetry)."),
    hepdata: Path = typer.Option(None, "--hepdata",
        help="Also write a HEPData submission (validated) into this directory."),
) -> None:
    """Background in the signal box from the sidebands, the pyhf workspace (workspace.json),
    CLs upper limits, and with signal efficiencies the exclusion in (m_A', epsilon) and (m_chi, y)
    (limits.json, plots/). Every variation the periods were processed with is a nuisance on
    background and signal; the fixed uncertainties come from --systematics. With the fit
    diagnostics (plots/pulls.png, ranking.png, correlation.png) and the breakdown of the
    expected limit by source; --hepdata writes a HEPData submission. Blinded results give
    expected limits only."""
    from workflows.cli.tables import fit_tables
    from workflows.runtime.cluster import ClusterOptions, dask_client
    from workflows.stats.fit import fit_results, load_for_fit
    from workflows.stats.systematics_file import DEFAULT_SYSTEMATICS, load_systematics

    periods = load_for_fit(results, unblind)  # unusable results are refused before a cluster starts
    load_systematics(systematics or DEFAULT_SYSTEMATICS)  # so is a bad systematics file
    if hepdata is not None:
        from workflows.publish import check_directory

        check_directory(hepdata.resolve())  # and a directory the submission may not replace
    with dask_client(ClusterOptions(scheduler=scheduler)) as client:
        report = fit_results(results, unblind=unblind, cl=cl, method=method, model=model,
                             efficiency=efficiency, n_masses=masses, ntoys=ntoys, client=client,
                             periods=periods, systematics=systematics, diagnostics=diagnostics)
    console.print(*fit_tables(report), sep="\n")
    if hepdata is not None:
        from workflows.publish import hepdata_for_results

        # Summaries with MC truth (a per-process cutflow) come from simulated samples.
        simulated = any(p.summary.cutflow_by_process is not None for p in periods)
        console.print(f"HEPData submission: {hepdata_for_results(results, hepdata, simulated=simulated)}")
