"""Where the wall time of `na64 process` goes: a timeline of its phases, the CPU the client
and each worker spent in each Runner call, and (``--profile``) the workers' statistical
profile of the main pass from Dask's own sampler.

    .venv/bin/python benchmarks/phases.py [--events N] [--profile DEPTH] [-- extra na64 process args]

Runs the command in this process (the CLI entry point itself), with timestamps around
the cluster start and stop, the file checks, the reference pass, the main pass and the
outputs. Functions it cannot find (after a refactoring) are simply not timed.
"""

from __future__ import annotations

import collections
import contextlib
import os
import sys
import time

T0 = time.perf_counter()


def log(message: str) -> None:
    print(f"[{time.perf_counter() - T0:6.2f} s] {message}", flush=True)


def wrap(module, name: str) -> None:
    f = getattr(module, name, None)
    if f is None:
        return

    def timed(*a, **k):
        t = time.perf_counter()
        if name == "check_files":  # the first task that reads the files (their keys)
            log("first chunk read: the file checks start")
        try:
            return f(*a, **k)
        finally:
            log(f"{name}: {time.perf_counter() - t:.2f} s")

    setattr(module, name, timed)


def _cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _print_profile(node: dict, depth: int, total: int, max_depth: int) -> None:
    for child in sorted(node.get("children", {}).values(), key=lambda c: -c["count"]):
        if child["count"] < 0.01 * total:
            continue
        d = child["description"]
        print(
            f"    {'  ' * depth}{100 * child['count'] / total:5.1f}% {d['name']} "
            f"({d['filename'].split('/')[-1]}:{d['line_number']})"
        )
        if depth < max_depth:
            _print_profile(child, depth + 1, total, max_depth)


def instrument(profile_depth: int) -> None:
    from coffea.processor import Runner

    import workflows.processing.period as P
    import workflows.processing.periods as R

    client_cm = R.dask_client

    @contextlib.contextmanager
    def dask_client(*a, **k):
        t = time.perf_counter()
        with client_cm(*a, **k) as client:
            log(f"cluster up: {time.perf_counter() - t:.2f} s")
            yield client
            t = time.perf_counter()
        log(f"cluster closed: {time.perf_counter() - t:.2f} s")

    R.dask_client = dask_client
    for name in (
        "check_files",
        "find_duplicates",
        "derive_reference",
        "_write_outputs",
        "histograms_bytes",
    ):
        wrap(P, name)
    call = Runner.__call__

    def runner_call(self, *a, **k):
        from distributed import get_client, get_task_stream

        client = get_client()
        t, c0, w0 = time.perf_counter(), _cpu(), client.run(_cpu)
        with get_task_stream() as ts:
            out = call(self, *a, **k)
        wall = time.perf_counter() - t
        c1, w1 = _cpu(), client.run(_cpu)
        kinds = collections.Counter()
        for task in ts.data:
            for s in task["startstops"]:
                if s["action"] == "compute":
                    key = task["key"][0] if isinstance(task["key"], tuple) else str(task["key"])
                    kinds[key.rsplit("-", 1)[0][:30]] += s["stop"] - s["start"]
        log(
            f"Runner call ({len(ts.data)} tasks): {wall:.2f} s; CPU client {c1 - c0:.2f} s, workers "
            + ", ".join(f"{w1[w] - w0[w]:.2f} s" for w in w1)
            + "; task time "
            + ", ".join(f"{k} {v:.2f} s" for k, v in kinds.most_common(3))
        )
        if profile_depth and len(ts.data) > 8:
            prof = client.profile(start=time.time() - wall - 0.1)
            print("  workers' profile of this call (Dask's sampler):")
            _print_profile(prof, 0, max(prof["count"], 1), profile_depth)
        return out

    Runner.__call__ = runner_call


def main() -> None:

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import _common as c

    p = c.parser(__doc__, 3_000_000)
    p.add_argument("--profile", type=int, default=0, help="depth of the workers' profile (0: none)")
    a, extra = p.parse_known_args()
    directory, _ = c.simulate(a.data, a.events)
    cat = c.catalog(a.data, directory)
    out = a.data / "out-phases"
    import shutil

    shutil.rmtree(out, ignore_errors=True)
    global T0
    T0 = time.perf_counter()
    from workflows.cli import app
    from workflows.runtime import cluster

    log("CLI imported")
    cluster.start_fork_server()  # where `na64 process` starts it: before its own imports
    if a.profile:  # the workers' sampler is off on a local cluster unless asked for
        cluster.LOCAL_CLUSTER_CONFIG.clear()
    log("fork server started")
    instrument(a.profile)
    log("instrumented (workflows.processing.periods, coffea imported)")
    try:
        app(
            [
                "process",
                "--catalog",
                str(cat),
                "--output",
                str(out),
                *[x for x in extra if x != "--"],
            ],
            standalone_mode=False,
        )
    finally:
        log("command returned")


if __name__ == "__main__":
    main()
