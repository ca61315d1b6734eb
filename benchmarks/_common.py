"""Shared helpers of the benchmarks: data from the simulation, the I/O floor, timing.

Data are written under a scratch directory (default ``/tmp/na64-bench``, or ``--data``),
never in the repository, by ``na64 simulate``; a directory already holding the same
simulation (same period, events and shard size, per its ``simulation.json``) is reused.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
NA64 = str(Path(PYTHON).with_name("na64"))
DEFAULT_DATA = Path("/tmp/na64-bench")
PERIOD = "2022"
#: Shards of 500k events (one per run), written in 50k-event clusters by the simulation.
EVENTS_PER_SHARD = 500_000


def parser(doc: str, events: int) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    p.add_argument(
        "--events", type=int, default=events, help=f"simulated events (default {events:,})"
    )
    p.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="scratch directory for data and outputs"
    )
    p.add_argument(
        "--repeat", type=int, default=3, help="repetitions; the best (shortest) time counts"
    )
    return p


def run(cmd: Sequence[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), cwd=REPO, capture_output=True, text=True, **kw)


def simulate(
    data: Path,
    events: int,
    period: str = PERIOD,
    jobs: int = 2,
    events_per_shard: int = EVENTS_PER_SHARD,
) -> tuple[Path, float | None]:
    """Shards of ``events`` simulated events of ``period``; returns (directory, seconds
    the simulation took, or None if an identical one was reused)."""
    out = data / f"{period}-{events}"
    meta = out / "simulation.json"
    if meta.exists():
        try:
            doc = json.loads(meta.read_text())
            files = sorted(out.glob("*.root"))
            if doc.get("n_events") == events and files and _shard_size(doc) == events_per_shard:
                return out, None
        except (ValueError, OSError):
            pass
    t0 = time.perf_counter()
    r = run_simulate(out, events, period, jobs, events_per_shard)
    if r.returncode:
        raise SystemExit(f"na64 simulate failed:\n{r.stdout}\n{r.stderr}")
    return out, time.perf_counter() - t0


def run_simulate(
    out: Path, events: int, period: str, jobs: int, events_per_shard: int
) -> subprocess.CompletedProcess:
    """The ``na64 simulate`` command writing ``events`` events of ``period`` to ``out``."""
    return run([NA64, "simulate", "--period", period, "--events", str(events),
                "--output", str(out), "--events-per-shard", str(events_per_shard),
                "--jobs", str(jobs)])


def _shard_size(doc: dict) -> int | None:
    return (
        doc.get("events_per_shard")
        or doc.get("config", {}).get("events_per_shard")
        or EVENTS_PER_SHARD
    )


def catalog(data: Path, files_dir: Path, period: str = PERIOD) -> Path:
    """A catalog directory with one period pointing at ``files_dir`` (the shipped
    catalog's beam, EOT and calibration, so the simulation and the analysis agree)."""
    import yaml

    entry = yaml.safe_load((REPO / "datasets" / f"{period}.yaml").read_text())
    entry["files"] = [str(files_dir / "*.root")]
    cat = data / f"catalog-{files_dir.name}"
    cat.mkdir(parents=True, exist_ok=True)
    (cat / f"{period}.yaml").write_text(yaml.safe_dump(entry, sort_keys=False))
    return cat


def files_of(directory: Path) -> list[str]:
    return sorted(glob.glob(str(directory / "*.root")))


# -- the I/O floor ---------------------------------------------------------------------
def _warm(_: int) -> int:
    import uproot  # noqa: F401

    return os.getpid()


def _read_files(args: tuple[list[str], list[str] | None, int]) -> int:
    """Plain uproot: every listed branch of each file, ``step`` entries at a time."""
    import uproot

    paths, branches, step = args
    n = 0
    for path in paths:
        with uproot.open(path) as f:
            tree = f["events"]
            names = branches or list(tree.keys())
            for start in range(0, tree.num_entries, step):
                arrays = tree.arrays(
                    names, entry_start=start, entry_stop=start + step, library="np"
                )
                n += len(arrays[names[0]])
    return n


def io_floor(
    files: Sequence[str],
    branches: Sequence[str] | None,
    processes: int,
    repeat: int = 3,
    step: int = 100_000,
) -> tuple[float, int]:
    """Best wall time of reading ``branches`` (None: every branch) of ``files`` with plain
    uproot in ``processes`` already started processes (files dealt round-robin)."""
    parts = [list(files[i::processes]) for i in range(processes)]
    best, n = float("inf"), 0
    with ProcessPoolExecutor(processes) as pool:
        list(pool.map(_warm, range(processes)))
        for _ in range(repeat):
            t0 = time.perf_counter()
            n = sum(
                pool.map(
                    _read_files, [(p, list(branches) if branches else None, step) for p in parts]
                )
            )
            best = min(best, time.perf_counter() - t0)
    return best, n


def floor_script(files: Sequence[str], processes: int) -> float:
    """Wall time of a whole plain-uproot command (interpreter, imports, pool, reading)."""
    code = (
        "import sys; sys.path.insert(0, %r)\n"
        "from _common import _read_files\n"
        "from concurrent.futures import ProcessPoolExecutor\n"
        "files = %r\n"
        "if __name__ == '__main__':\n"
        "    with ProcessPoolExecutor(%d) as pool:\n"
        "        print(sum(pool.map(_read_files, [(files[i::%d], None, 100_000) for i in range(%d)])))\n"
    ) % (str(Path(__file__).parent), list(files), processes, processes, processes)
    t0 = time.perf_counter()
    r = run([PYTHON, "-c", code])
    if r.returncode:
        raise SystemExit(r.stderr)
    return time.perf_counter() - t0


# -- timing ----------------------------------------------------------------------------
def process_command(
    catalog_dir: Path, output: Path, *extra: str, tree: Path | None = None
) -> tuple[float, dict]:
    """Wall time of a whole ``na64 process`` command (fresh output), and its summary.
    ``tree``: run the code of another checkout (its ``processors`` and ``workflows``)."""
    import shutil

    shutil.rmtree(output, ignore_errors=True)
    kw: dict = {}
    if tree is not None:
        kw = {"cwd": output.parent, "env": {**os.environ, "PYTHONPATH": str(tree)}}
    t0 = time.perf_counter()
    r = subprocess.run(
        [NA64, "process", "--catalog", str(catalog_dir), "--output", str(output), *extra],
        capture_output=True,
        text=True,
        **({"cwd": REPO} | kw),
    )
    wall = time.perf_counter() - t0
    if r.returncode:
        raise SystemExit(
            f"na64 process failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
        )
    summaries = {p.parent.name: json.loads(p.read_text()) for p in output.glob("*/summary.json")}
    return wall, summaries


def idle_fraction(seconds: float = 1.0) -> float:
    """Share of the machine's CPU time that was idle over ``seconds`` (other users' load)."""

    def snap() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        return fields[3] + fields[4], sum(fields)

    try:
        i0, t0 = snap()
        time.sleep(seconds)
        i1, t1 = snap()
    except OSError:
        return 1.0
    return (i1 - i0) / max(t1 - t0, 1)


def wait_for_quiet(threshold: float = 0.9, max_wait: float = 180.0) -> float:
    """Wait (at most ``max_wait`` s) until other processes leave the CPUs idle, so that
    wall times measure this machine rather than its neighbours; returns the idle share."""
    deadline = time.monotonic() + max_wait
    idle = idle_fraction()
    while idle < threshold and time.monotonic() < deadline:
        idle = idle_fraction()
    return idle


def load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def machine() -> str:
    """One line: CPU, cores, memory, Python and the versions that matter."""
    from importlib import metadata

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem = float("nan")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    versions = []
    for pkg in ("coffea", "uproot", "awkward", "numba", "numpy", "distributed"):
        try:
            versions.append(f"{pkg} {metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            pass
    return (
        f"{cpu}, {cores} cores, {mem:.0f} GiB, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; " + ", ".join(versions)
    )
