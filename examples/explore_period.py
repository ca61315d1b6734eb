"""Exploration: the E_HCAL of the physics events that fail only the VETO, and the shower
chi2 of the calibration electrons, of one run period, through the lazy dask-awkward
array of ``workflows.explore.open_period`` (blinded: the signal box is not in it).

    python examples/explore_period.py datasets/2022.yaml --output explore_2022.png
    python examples/explore_period.py datasets/2022.yaml --scheduler tcp://host:8786

Without ``--scheduler`` it starts the project's default local cluster.
"""

from __future__ import annotations

import argparse
import functools
import operator
from pathlib import Path

import dask
import dask_awkward as dak
import hist.dask as hda
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mplhep  # noqa: E402

from processors.cuts import CHAIN  # noqa: E402
from workflows.explore import open_period, selection_counts  # noqa: E402
from workflows.runtime.cluster import ClusterOptions  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("catalog_file", type=Path, help="a period's catalog YAML")
    parser.add_argument("--output", type=Path, default=Path("explore.png"), help="the figure")
    parser.add_argument("--scheduler", help="address of a running Dask scheduler")
    parser.add_argument("--chunksize", type=int, default=100_000)
    args = parser.parse_args()

    events = open_period(args.catalog_file, cluster=ClusterOptions(scheduler=args.scheduler),
                         chunksize=args.chunksize)
    cuts = events.cuts
    all_but_veto = functools.reduce(operator.and_, [cuts[c.name] for c in CHAIN if c.name != "veto"],
                                    events.physics)
    fail_only_veto = events[all_but_veto & ~cuts.veto]
    calibration = events[events.calibration]

    e_hcal = hda.Hist.new.Reg(40, 0, 100, name="e_hcal", label=r"$E_{HCAL}$ [GeV]").Double()
    e_hcal.fill(fail_only_veto.e_hcal)
    chi2 = hda.Hist.new.Reg(40, 0, 40, name="chi2", label=r"shower $\chi^2$").Double()
    chi2.fill(calibration.chi2)
    print("reads:", sorted(set().union(*dak.necessary_columns(e_hcal, chi2).values())))
    e_hcal, chi2 = dask.compute(e_hcal, chi2)
    counts = selection_counts(events)

    plt.style.use(mplhep.style.ROOT)
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 6))
    mplhep.histplot(e_hcal, ax=left, label="fail only the VETO")
    mplhep.histplot(chi2, ax=right, label="calibration electrons")
    for ax in (left, right):
        ax.set_yscale("log")
        ax.legend()
    fig.tight_layout()
    fig.savefig(args.output)
    print(f"events failing only the VETO: {e_hcal.sum():.0f}; calibration electrons: {chi2.sum():.0f}")
    print("cutflow (blinded):", counts.cutflow)
    print("regions:", {k: v for k, v in counts.regions.items() if k != "box"})
    print(f"figure: {args.output}")


if __name__ == "__main__":
    main()
