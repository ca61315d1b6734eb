"""``na64 simulate``: the typer command of the fast simulation.

Only typer is imported at module level: the whole CLI imports this module at start-up,
numpy, uproot and the simulation itself are imported when the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from workflows.cli._common import console

if TYPE_CHECKING:  # pragma: no cover
    from rich.table import Table

    from workflows.simulation.exposure import ExposurePlan


def simulate_command(
    period: Annotated[str, typer.Option(
        "--period", "-p", help="Run period to simulate, by its catalog name (e.g. 2022).")],
    output: Annotated[Path, typer.Option(
        "--output", "-o", file_okay=False,
        help="Directory for the ROOT shards and simulation.json (earlier shards of the "
             "same period there are replaced).")],
    events: Annotated[int | None, typer.Option(
        "--events", "-n", min=0,
        help="Background events to write (physics + calibration triggers), with the "
             "enriched demo composition (10 % calibration, 1000 EOT each).")] = None,
    eot: Annotated[float | None, typer.Option(
        "--eot", min=0.0,
        help="Instead of --events: the sample of this exposure (electrons or positrons on "
             "target) at the per-EOT rates.")] = None,
    catalog_eot: Annotated[bool, typer.Option(
        "--catalog-eot", help="Instead of --events: the sample of the period's catalog EOT.")] = False,
    prescale: Annotated[int | None, typer.Option(
        min=1, help="With --eot: one prescale for every prescaled stratum (default: each its "
                    "own, keeping them at ~20k written events).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same events.")] = 1,
    catalog: Annotated[Path, typer.Option(
        help="Catalog directory (or file) holding the period.")] = Path("datasets"),
    events_per_shard: Annotated[int, typer.Option(
        min=1, help="Events per ROOT file at most (a file never spans two runs).")] = 250_000,
    truth: Annotated[bool, typer.Option(
        "--truth/--no-truth",
        help="Write the MC-truth branches mc_process and mc_emiss.")] = True,
    jobs: Annotated[int, typer.Option(
        min=1, help="Processes generating events in parallel (the events do not change).")] = 1,
    signal_mass: Annotated[float | None, typer.Option(
        min=0.0, help="Also write A' -> invisible events of this A' mass (GeV).")] = None,
    signal_events: Annotated[int, typer.Option(
        min=0, help="Number of A' signal events (with --signal-mass).")] = 0,
) -> None:
    """Write simulated NA64-style events of one run period as ROOT files.

    The events follow shared/SCHEMA.md: physics triggers (in-time ECAL energy below
    ~80 GeV: upstream interactions, electron showers, hadron electroproduction, dimuons,
    beam hadrons and pile-up) and 10 % calibration triggers (unbiased beam electrons,
    each standing for 1000 electrons on target). The period's beam energy, intensity
    (pile-up) and energy calibration come from its catalog. Point the catalog's
    files: at OUTPUT to analyse the result.

    Example: na64 simulate --period 2022 --events 200000 --output datasets/data/2022

    With --eot N (or --catalog-eot) the sample is that of an exposure instead: every
    process at its per-EOT rate (workflows.simulation.config.RateModel, sources named
    there), the strata that can reach the sidebands or the box at their true rate, the
    abundant rest (beam hadrons without SRD tag, the low-momentum tail, dirty upstream
    interactions, charged electroproduction, dimuons) prescaled; the prescales are in
    simulation.json and in the branch mc_prescale.

    With --signal-mass M --signal-events N it also writes N A' -> invisible events
    (mc_process 6, with their own calibration triggers) in separate files, the A' energy
    drawn above the box threshold (E_A' > E0 - box edge) from dark bremsstrahlung and
    resonant annihilation in proportion to their yields (workflows.signal.aprime).
    """
    import time

    from rich.table import Table

    from workflows.processing.catalog import load_catalog
    from workflows.signal.aprime import sample_signal_fraction
    from workflows.simulation.simulate import SignalSpec, simulate_period

    start = time.perf_counter()
    if signal_mass is None and signal_events:
        raise typer.BadParameter("--signal-events needs --signal-mass", param_hint="--signal-events")
    modes = (events is not None) + (eot is not None) + catalog_eot
    if modes != 1:
        raise typer.BadParameter("give exactly one of --events, --eot and --catalog-eot",
                                 param_hint="--events/--eot")
    if prescale is not None and events is not None:
        raise typer.BadParameter("--prescale goes with --eot or --catalog-eot", param_hint="--prescale")
    if eot is not None and eot <= 0:
        raise typer.BadParameter("the exposure must be > 0", param_hint="--eot")
    (p,) = load_catalog(catalog, periods=[period], require_files=False)
    exposure = p.eot if catalog_eot else eot
    signal = None
    if signal_mass is not None:
        if signal_events <= 0:
            raise typer.BadParameter("give the number of signal events (> 0)",
                                     param_hint="--signal-events")
        mass, e0 = signal_mass, p.beam.energy
        x_min = 1.0 - p.cuts.box_ecal_max / e0  # A' that can make a signal event, as `na64 signal`
        signal = SignalSpec(mass, signal_events, lambda n, rng: sample_signal_fraction(
            mass, e0, n, rng, threshold_fraction=x_min, particle=p.beam.particle))
    report = simulate_period(p, events or 0, output, seed=seed, events_per_shard=events_per_shard,
                             truth=truth, signal=signal, jobs=jobs, eot=exposure, prescale=prescale)
    wall = time.perf_counter() - start

    table = Table(title=f"na64 simulate: period {p.name}, {p.beam.energy:g} GeV {p.beam.particle}",
                  show_header=True, header_style="bold")
    table.add_column("physics-trigger process")
    table.add_column("events", justify="right")
    table.add_column("share", justify="right")
    n_phys = sum(report.physics_events.values())
    for name, k in report.physics_events.items():
        table.add_row(name, f"{k:,}", f"{k / n_phys:.1%}" if n_phys else "-")
    table.add_row("calibration trigger", f"{report.calibration_events:,}", "", style="dim")
    console.print(table)
    if report.exposure is not None:
        console.print(strata_table(report.exposure))
    total = report.n_events + (report.signal["written_events"] if report.signal else 0)
    console.print(
        f"{len(report.files)} file(s) in {report.output}  |  equivalent EOT "
        f"{report.eot_equivalent:.3g}  |  pile-up {report.pileup_probability:.1%}  |  "
        f"expected box background {report.expected_box_background['total']:.2g}")
    if report.signal:
        s = report.signal
        console.print(f"A' signal (m = {s['mass']:g} GeV): {s['signal_events']:,} events "
                      f"(+{s['calibration_events']:,} calibration), trigger acceptance "
                      f"{s['trigger_acceptance']:.3f}")
    console.print(f"{total:,} events in {wall:.2f} s ({total / wall:,.0f} events/s)")


def strata_table(plan: ExposurePlan) -> Table:
    """The strata of a sample for an exposure: rate, expectation, prescale, written."""
    from rich.table import Table

    t = Table(title=f"strata for {plan.eot:.3g} EOT (prescaled strata cannot reach the "
                    "sidebands or the box; sources: simulation.json)", header_style="bold")
    for col in ("stratum", "mc_process", "rate / EOT", "expected", "prescale", "written"):
        t.add_column(col, justify="left" if col == "stratum" else "right")
    for s in plan.strata:
        t.add_row(s.rate.stratum.name, str(s.rate.stratum.process), f"{s.rate.per_eot:.3g}",
                  f"{s.expected:.4g}", f"{s.prescale:,}", f"{s.generated:,}")
    return t


def _unwrap(doc: str) -> str:
    """Join the lines of each paragraph: typer keeps single line breaks of the help text."""
    import inspect

    return "\n\n".join(" ".join(p.split()) for p in inspect.cleandoc(doc).split("\n\n"))


simulate_command.__doc__ = _unwrap(simulate_command.__doc__ or "")
