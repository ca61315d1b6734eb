"""The I/O floor: events/s of plain uproot reading the branches the processors need, and
every schema branch, in as many processes as the local cluster has workers.

    .venv/bin/python benchmarks/io_floor.py [--events N] [--processes P]

The same simulated files as the other benchmarks; reading happens in already started
processes (imports excluded), in 100k-entry steps, best of ``--repeat``.
"""

from __future__ import annotations

import _common as c

from processors.quantities import SEARCH_BRANCHES
from processors.schema import BRANCHES
from workflows.runtime.cluster import default_workers


def main() -> None:
    p = c.parser(__doc__, 3_000_000)
    p.add_argument("--processes", type=int, default=default_workers())
    a = p.parse_args()
    directory, _ = c.simulate(a.data, a.events)
    files = c.files_of(directory)
    needed = list(SEARCH_BRANCHES) + ["mc_process"]
    schema = [b.name for b in BRANCHES]
    print(f"machine: {c.machine()}")
    print(f"{len(files)} files, {a.events:,} events; load average {c.load()}")
    rows = []
    for label, branches in (("needed branches", needed), ("every schema branch", schema)):
        for procs in sorted({1, a.processes}):
            c.wait_for_quiet()
            t, n = c.io_floor(files, branches, procs, a.repeat)
            rows.append((label, procs, t, n / t))
            print(f"  {label:20s} {procs} process(es): {t:6.2f} s  {n / t / 1e6:6.2f} M events/s")
    by = {(r[0], r[1]): r[2] for r in rows}
    if a.processes > 1:
        print(
            f"ratio 1 process / {a.processes} processes (every schema branch): "
            f"{by[('every schema branch', 1)] / by[('every schema branch', a.processes)]:.2f}x"
        )
    cold = c.floor_script(files, a.processes)
    print(
        f"whole plain-uproot script ({a.processes} processes, every branch, incl. interpreter "
        f"and imports): {cold:.2f} s"
    )


if __name__ == "__main__":
    main()
