"""Multi-bin limit scan on real `na64 process` results (the demo's): the exclusion of
``na64 fit --model multibin`` (30 masses, one multi-period workspace with sidebands and the
periods' nuisances per mass), timed, with this tree's code and, with ``--compare-tree``,
another checkout's, back to back on the same inputs; the limits of the two are compared.

    .venv/bin/python benchmarks/fit_scan.py [--results results] [--methods asymptotic,auto]
        [--masses 30] [--compare-tree DIR] [--workers 2]

Each run is a fresh process (``PYTHONPATH`` = its tree) that reads the periods, builds the
inputs as ``na64 fit`` does and times :func:`workflows.stats.exclusion.multibin_exclusion`
alone (``--workers 0``: serially in the process; else on a local Dask cluster of that many
single-threaded workers, started before the clock, as ``na64 fit`` gets one).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent

# Run in the tree under test: prints one JSON line (seconds, limits).
CHILD = r"""
import json, sys, time, logging
import numpy as np
from pathlib import Path
results, method = Path(sys.argv[1]), sys.argv[2]
n_masses, workers, ntoys = (int(x) for x in sys.argv[3:6])
logging.disable(logging.WARNING)
from workflows.stats.fit import load_for_fit, period_background, model_inputs
from workflows.stats.exclusion import PeriodSignal, mass_grid, multibin_exclusion
from workflows.stats.systematics import variation_nuisances, model_systematics
from workflows.stats.systematics_file import DEFAULT_SYSTEMATICS, load_systematics
from workflows.signal.efficiency import EFFICIENCY_FILE, EfficiencyTable

def main():
    periods = load_for_fit(results, False)
    backgrounds = [period_background(p) for p in periods]
    for b in backgrounds:
        b.box_observed = None
    table = EfficiencyTable.read(results / EFFICIENCY_FILE)
    fixed = load_systematics(DEFAULT_SYSTEMATICS)
    variations = variation_nuisances(periods, table, backgrounds)
    masses = mass_grid(n_masses)
    signals = [PeriodSignal(p.name, p.summary.eot, p.summary.beam_energy, p.summary.thresholds.box_ecal_max,
                            table.at(p.name, masses), p.summary.beam_particle) for p in periods]
    client = None
    if workers:
        from distributed import Client, LocalCluster
        client = Client(LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                     dashboard_address=None))
    t0 = time.perf_counter()
    ex = multibin_exclusion(masses, signals, lambda sig: model_inputs(backgrounds, sig), blinded=True,
                            method=method, client=client, ntoys=ntoys,
                            extra_for=lambda i, ins: model_systematics(ins, variations, fixed, float(masses[i])))
    wall = time.perf_counter() - t0
    if client is not None:
        client.close()
    print(json.dumps({"seconds": wall, "method": ex.method, "periods": len(periods),
                      "mu_expected": np.asarray(ex.mu_expected).tolist()}))

if __name__ == "__main__":
    main()
"""


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def scan(tree: Path, results: Path, method: str, masses: int, workers: int, ntoys: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(CHILD)
    try:
        env = {**os.environ, "PYTHONPATH": str(tree)}
        out = subprocess.run([sys.executable, f.name, str(results.resolve()), method, str(masses),
                              str(workers), str(ntoys)], cwd=tree, env=env, capture_output=True,
                             text=True, check=False)
    finally:
        os.unlink(f.name)
    if out.returncode:
        raise SystemExit(f"{tree}: the scan failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--results", type=Path, default=REPO / "results")
    p.add_argument("--methods", default="asymptotic,auto")
    p.add_argument("--masses", type=int, default=30)
    p.add_argument("--ntoys", type=int, default=500, help="toys per point where toys are used")
    p.add_argument("--workers", type=int, default=2, help="Dask workers (0: serial)")
    p.add_argument("--compare-tree", type=Path, default=None,
                   help="also time this checkout's code (e.g. `git archive HEAD | tar -x -C DIR`)")
    a = p.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    import _common as c

    print(f"machine: {c.machine()}")
    for method in a.methods.split(","):
        new = scan(REPO, a.results, method, a.masses, a.workers, a.ntoys)
        print(f"  this tree, {method} ({new['method']}): {a.masses} masses x {new['periods']} periods "
              f"in {new['seconds']:.1f} s; load {load()}")
        line = (f"RESULT multibin scan {method}: {a.masses} masses x {new['periods']} periods, "
                f"{a.workers or 'serial'} workers: {new['seconds']:.1f} s")
        if a.compare_tree:
            old = scan(a.compare_tree, a.results, method, a.masses, a.workers, a.ntoys)
            print(f"  {a.compare_tree}, {method} ({old['method']}): {old['seconds']:.1f} s; load {load()}")
            e_new, e_old = np.array(new["mu_expected"], float), np.array(old["mu_expected"], float)
            ok = np.isfinite(e_old) & np.isfinite(e_new)
            rel = np.abs(e_new[ok] / e_old[ok] - 1.0)
            line += (f"; {a.compare_tree}: {old['seconds']:.1f} s ({old['seconds'] / new['seconds']:.1f}x); "
                     f"expected limits differ by at most {100 * rel.max():.2g} % (median "
                     f"{100 * np.median(rel):.2g} %)")
        print(line)


if __name__ == "__main__":
    main()
