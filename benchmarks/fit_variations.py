"""What the systematic variations cost `na64 fit`: the whole command on the demo's results
(processed and signal-measured with `datasets/variations.yaml`) against the same periods
processed without variations, measured side by side in one run.

    .venv/bin/python benchmarks/fit_variations.py [--results results] [--repeat 1]

The results without variations are made once from the same catalogs (`na64 process`
without `--variations`, into a scratch directory) with the demo's signal efficiency
table stripped of its variations, so both fits see the same periods, sidebands and
efficiencies; only the variation nuisances (one sideband extrapolation per variation
and period, the nuisances in every model, their rows in the breakdown and the ranking)
differ. Each fit runs as its own `na64 fit` process on the default local cluster, with
and without the diagnostics (cabinetry's fit, impact ranking and plots); the best of
``--repeat`` counts. Prints the ratios (target of issue 14: at most 2x).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from _common import NA64, REPO, machine, run, wait_for_quiet

SCRATCH = Path("/tmp/na64-bench/fit-variations")


def without_variations(results: Path, catalog: Path) -> Path:
    """The demo's periods processed without variations, with its efficiencies (nominal only)."""
    out = SCRATCH / "results"
    if not (out / "signal_efficiency.json").exists():
        done = run([NA64, "process", "--catalog", str(catalog), "--output", str(out)])
        if done.returncode != 0:
            raise SystemExit(f"na64 process failed:\n{done.stdout}\n{done.stderr}")
        table = json.loads((results / "signal_efficiency.json").read_text())
        table["variations"] = {}
        for row in table.get("details", []):
            row.pop("variations", None)
        (out / "signal_efficiency.json").write_text(json.dumps(table))
    return out


def fit_seconds(results: Path, extra: list[str], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        wait_for_quiet()
        t0 = time.perf_counter()
        done = run([NA64, "fit", "--results", str(results), *extra])
        wall = time.perf_counter() - t0
        if done.returncode != 0:
            raise SystemExit(f"na64 fit failed on {results}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        best = min(best, wall)
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", type=Path, default=REPO / "results", help="results of `make demo`")
    p.add_argument("--catalog", type=Path, default=REPO / "datasets")
    p.add_argument("--repeat", type=int, default=1)
    args = p.parse_args()
    if not (args.results / "signal_efficiency.json").exists():
        raise SystemExit(f"{args.results}: no demo results (run `make demo` first)")
    with_variations = SCRATCH / "with"
    if with_variations.exists():
        shutil.rmtree(with_variations)
    shutil.copytree(args.results, with_variations, ignore=shutil.ignore_patterns("plots", "hepdata*", "signal"))
    plain = without_variations(args.results, args.catalog)
    print(machine())
    rows = []
    for label, extra in (("with diagnostics", []), ("without diagnostics", ["--no-diagnostics"])):
        t_plain = fit_seconds(plain, extra, args.repeat)
        t_var = fit_seconds(with_variations, extra, args.repeat)
        rows.append((label, t_plain, t_var))
    print(f"{'na64 fit':24s} {'no variations':>14s} {'20 variations':>14s} {'ratio':>7s}")
    for label, a, b in rows:
        print(f"{label:24s} {a:12.1f} s {b:12.1f} s {b / a:7.2f}")


if __name__ == "__main__":
    main()
