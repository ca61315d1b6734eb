"""Simulation speed: events/s per core of `na64 simulate`, generation and ROOT writing
included, with 1 job and with one job per core.

    .venv/bin/python benchmarks/simulation.py [--events N] [--repeat R]

Times the whole command (interpreter and imports included) and the simulation's own
wall time (``simulate_period``, as the command prints it); the per-core rate divides
by the number of jobs.
"""

from __future__ import annotations

import re
import shutil
import time

import _common as c

from workflows.runtime.cluster import default_workers


def simulate_once(data, events: int, jobs: int) -> tuple[float, float]:
    out = data / f"sim-bench-{jobs}"
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    r = c.run_simulate(out, events, c.PERIOD, jobs, c.EVENTS_PER_SHARD)
    wall = time.perf_counter() - t0
    if r.returncode:
        raise SystemExit(r.stdout + r.stderr)
    m = re.search(r"events in ([0-9.]+) s", r.stdout)
    inner = float(m.group(1)) if m else wall
    written = sum(p.stat().st_size for p in out.glob("*.root"))
    shutil.rmtree(out, ignore_errors=True)
    return wall, inner if written else float("nan")


def main() -> None:
    p = c.parser(__doc__, 2_000_000)
    a = p.parse_args()
    a.data.mkdir(parents=True, exist_ok=True)
    cores = default_workers()
    print(f"machine: {c.machine()}")
    res = {}
    for jobs in sorted({1, cores}):
        runs = []
        for _ in range(a.repeat):
            c.wait_for_quiet()
            runs.append(simulate_once(a.data, a.events, jobs))
        wall = min(r[0] for r in runs)
        inner = min(r[1] for r in runs)
        res[jobs] = (wall, inner)
        print(
            f"  --jobs {jobs}: command {wall:.2f} s, simulation {inner:.2f} s -> "
            f"{a.events / inner / jobs:,.0f} events/s per core ({a.events / wall / jobs:,.0f} "
            f"with start-up); load {c.load()}"
        )
    print(f"RESULT simulation, 1 core: {a.events / res[1][1]:,.0f} events/s (writing included)")
    if cores > 1:
        print(
            f"RESULT simulation, {cores} jobs: {a.events / res[cores][1] / cores:,.0f} events/s per core; "
            f"speed-up {res[1][1] / res[cores][1]:.2f}x"
        )


if __name__ == "__main__":
    main()
