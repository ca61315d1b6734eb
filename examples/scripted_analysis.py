"""Scripted analysis: process the periods of a catalog, measure the A' signal efficiency,
fit the backgrounds and set the limits (on the signal count, and on epsilon), through the Python functions that ``na64
process``, ``na64 signal`` and ``na64 fit`` call (blinded).

    python examples/scripted_analysis.py datasets --results results
    python examples/scripted_analysis.py datasets --results results --scheduler tcp://host:8786
"""

from __future__ import annotations

import argparse
from pathlib import Path

from workflows.processing.periods import run_processing
from workflows.processing.results import read_period
from workflows.runtime.cluster import ClusterOptions
from workflows.signal.efficiency import signal_efficiency
from workflows.stats.fit import fit_results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("catalog", type=Path, help="catalog directory (one YAML per period)")
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--scheduler", help="address of a running Dask scheduler")
    parser.add_argument("--masses", type=float, nargs="+", default=[0.002, 0.02, 0.2], help="GeV")
    parser.add_argument("--signal-events", type=int, default=2000,
                        help="A' simulated per period and mass (0: no signal efficiency)")
    args = parser.parse_args()
    cluster = ClusterOptions(scheduler=args.scheduler)

    runs = run_processing(args.catalog, args.results, cluster=cluster, progress=False)
    for run in runs:
        summary = read_period(args.results / run.period).summary
        print(f"{run.period}: {run.status}, {run.events} events; after all cuts "
              f"{summary.cutflow[-1].events}; sidebands A {summary.regions.A}, C {summary.regions.C}")

    if args.signal_events:  # simulated A' through the same processors
        table = signal_efficiency(args.catalog, args.results, masses=args.masses,
                                  n_events=args.signal_events, cluster=cluster)
        for period, values in table.efficiency.items():
            print(f"{period}: signal efficiency", ", ".join(f"{m * 1e3:g} MeV {e:.3f}"
                                                             for m, e in zip(table.masses, values)))

    # without an efficiency table (--signal-events 0): the limit on the signal count only
    report = fit_results(args.results, method="asymptotic", n_masses=8, diagnostics=False,
                         breakdown_masses=[])
    print(f"background in the box: {report.background:.3g} +- {report.background_error:.2g} events")
    assert report.signal_limit.expected is not None
    print(f"N90 (signal events, expected median): {report.signal_limit.expected[2]:.2f}")
    for row in report.exclusion.table() if report.exclusion is not None else ():
        print(f"m_A' = {row['m_aprime'] * 1e3:g} MeV: eps90 expected {row['eps90_expected'][2]:.3g}")


if __name__ == "__main__":
    main()
