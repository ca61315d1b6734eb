"""Scaling and memory of `na64 process`: 1 worker against 2 on the same files, and the peak
memory of each worker at two dataset sizes (it must follow the chunk size, not the
dataset size).

    .venv/bin/python benchmarks/scaling.py [--events N] [--large-events M] [--repeat R]

The speed-up is given for the whole command and for the period's processing alone
(``seconds`` of summary.json: file checks, reference pass, main pass). Memory is the
peak resident set (RSS) of each worker process, sampled every 50 ms; it includes the
pages a forked worker shares with the fork server (the imported libraries).
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time

import _common as c
import psutil


def _tree_peaks(root: psutil.Process, stop: threading.Event, peaks: dict) -> None:
    """Peak RSS of every descendant process of ``root`` (pid -> (peak bytes, role))."""
    while not stop.is_set():
        try:
            kids = root.children(recursive=True)
        except psutil.Error:
            break
        for k in kids:
            try:
                rss = k.memory_info().rss
                parent = k.parent()
                role = (
                    "worker"
                    if parent is not None
                    and parent.pid != root.pid
                    and "forkserver" in " ".join(parent.cmdline())
                    else "other"
                )
                if role == "other" and "spawn_main" in " ".join(k.cmdline()):
                    role = "worker"
            except psutil.Error:
                continue
            old = peaks.get(k.pid, (0, role))
            peaks[k.pid] = (max(old[0], rss), role)
        stop.wait(0.05)


def run_with_memory(catalog, output, *extra) -> tuple[float, dict, list[int], int]:
    """Wall time, summary, peak RSS of each worker, peak RSS of the client."""
    shutil.rmtree(output, ignore_errors=True)
    cmd = [c.NA64, "process", "--catalog", str(catalog), "--output", str(output), *extra]
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=c.REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    root = psutil.Process(proc.pid)
    peaks: dict = {}
    client_peak = 0
    stop = threading.Event()
    sampler = threading.Thread(target=_tree_peaks, args=(root, stop, peaks), daemon=True)
    sampler.start()
    while proc.poll() is None:
        try:
            client_peak = max(client_peak, root.memory_info().rss)
        except psutil.Error:
            pass
        time.sleep(0.05)
    wall = time.perf_counter() - t0
    stop.set()
    sampler.join()
    log = proc.stdout.read()
    if proc.returncode:
        raise SystemExit(f"na64 process failed:\n{log[-3000:]}")
    import json

    summary = json.loads((output / c.PERIOD / "summary.json").read_text())
    workers = sorted((v[0] for v in peaks.values() if v[1] == "worker"), reverse=True)
    return wall, summary, workers, client_peak


def main() -> None:
    p = c.parser(__doc__, 3_000_000)
    p.add_argument("--small-events", type=int, default=1_000_000)
    p.add_argument("--large-events", type=int, default=10_000_000)
    a = p.parse_args()
    print(f"machine: {c.machine()}")
    directory, _ = c.simulate(a.data, a.events)
    cat = c.catalog(a.data, directory)
    walls = {1: [], 2: []}
    periods = {1: [], 2: []}
    for i in range(a.repeat):
        for w in (1, 2):
            c.wait_for_quiet()
            wall, summaries = c.process_command(
                cat, a.data / f"out-workers{w}", "--workers", str(w)
            )
            walls[w].append(wall)
            periods[w].append(summaries[c.PERIOD]["seconds"])
        print(
            f"  run {i + 1}: 1 worker {walls[1][-1]:.2f} s (period {periods[1][-1]:.2f} s), "
            f"2 workers {walls[2][-1]:.2f} s (period {periods[2][-1]:.2f} s); load {c.load()}"
        )
    print(f"{a.events:,} events")
    print(
        f"RATIO 1 worker / 2 workers, whole command: {min(walls[1]) / min(walls[2]):.2f}x (target >= 1.7)"
    )
    print(
        f"RATIO 1 worker / 2 workers, period processing: {min(periods[1]) / min(periods[2]):.2f}x"
    )

    rows = []
    for n in (a.small_events, a.large_events):
        d, _ = c.simulate(a.data, n)
        cat_n = c.catalog(a.data, d)
        c.wait_for_quiet()
        wall, _, workers, client = run_with_memory(cat_n, a.data / f"out-memory-{n}")
        rows.append((n, workers, client, wall))
        print(
            f"  {n:>12,} events: {wall:6.2f} s; peak RSS per worker "
            + ", ".join(f"{w / 2**20:.0f} MiB" for w in workers)
            + f"; client {client / 2**20:.0f} MiB"
        )
    small, large = rows
    if small[1] and large[1]:
        print(
            f"RATIO peak worker RSS {large[0]:,} / {small[0]:,} events: "
            f"{max(large[1]) / max(small[1]):.2f} (1.0 = independent of the dataset size)"
        )


if __name__ == "__main__":
    main()
