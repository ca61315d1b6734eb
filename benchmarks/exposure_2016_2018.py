"""The 2016-2018-like exposure against seeds/002: the periods 2016, 2017 and 2018 under
their catalog conditions, their exposures scaled to 2.95e11 EOT (times FACTOR), simulated
at the per-EOT rates, processed unblinded; prints the events after the selection, the
sidebands, the sideband estimate, the model's expected box background and the truth box
budget by mc_process.

    .venv/bin/python benchmarks/exposure_2016_2018.py [FACTOR] [WORKDIR]
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

if __name__ == "__main__":
    from workflows.processing.catalog import load_catalog
    from workflows.processing.periods import run_processing
    from workflows.processing.results import read_results
    from workflows.simulation.simulate import simulate_period
    from workflows.stats.budget import PUBLISHED_EOT, background_budget
    from workflows.stats.fit import period_background

    factor = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    work = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("/tmp/na64_exposure_2016_2018")
    catalog = work / "catalog"
    catalog.mkdir(parents=True, exist_ok=True)
    datasets = Path(__file__).resolve().parents[1] / "datasets"
    periods = load_catalog(datasets, periods=["2016", "2017", "2018"], require_files=False)
    scale = PUBLISHED_EOT / sum(p.eot for p in periods) * factor
    t0 = time.perf_counter()
    expected: dict[str, float] = {}
    for p in periods:
        data = work / "data" / p.name
        eot = p.eot * scale
        text = (datasets / f"{p.name}.yaml").read_text().replace(f"data/{p.name}/*.root",
                                                                 str(data / "*.root"))
        (catalog / f"{p.name}.yaml").write_text(re.sub(r"^eot: .*$", f"eot: {eot:.6e}", text,
                                                       flags=re.MULTILINE))
        report = simulate_period(p, 0, data, seed=1, eot=eot, jobs=2)
        for k, v in report.expected_box_background.items():
            expected[k] = expected.get(k, 0.0) + v
        print(f"{p.name}: {eot:.3g} EOT, {report.n_events:,} events")
    print(f"simulation {time.perf_counter() - t0:.1f} s; expected box background (model): "
          + ", ".join(f"{k} {v:.3g}" for k, v in expected.items()))
    run_processing(catalog, work / "results", unblind=True, force=True, progress=False)
    results = read_results(work / "results")
    backgrounds = [period_background(r) for r in results]
    for r, b in zip(results, backgrounds, strict=True):
        s = r.summary
        print(f"{r.name}: after the selection {s.cutflow[-1].events}, A {s.regions.A}, "
              f"C {s.regions.C}, box {s.regions.box}, sideband estimate {b.background:.3g} "
              f"+- {b.error:.2g}")
    budget = background_budget(backgrounds)
    print(json.dumps(None if budget is None else budget.to_json(), indent=1))
