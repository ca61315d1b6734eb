"""Helpers of the distributed and reliability tests: simulated samples, real Dask
schedulers and workers on 127.0.0.1, ``na64 process`` as a subprocess, and polling.

Everything here starts real processes; nothing is mocked. Processes are ended by their
own pid (never by name).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent
NA64 = str(BIN / "na64")
DASK = str(BIN / "dask")


def poll(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.02):
    """Wait until ``condition()`` is true (returns it) or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def simulate(catalog: Path, period: str, n_events: int, output: Path, seed: int = 1,
             block_events: int = 10_000, events_per_shard: int = 100_000, **signal_kw) -> list[Path]:
    """Simulated shards of ``period`` (clusters of ``block_events``, so chunks can be small)."""
    from workflows.processing.catalog import load_catalog
    from workflows.simulation.config import SimulationConfig
    from workflows.simulation.simulate import simulate_period

    (p,) = load_catalog(catalog, periods=[period], require_files=False)
    report = simulate_period(p, n_events, output, seed=seed, events_per_shard=events_per_shard,
                             config=SimulationConfig(block_events=block_events), **signal_kw)
    return [Path(f) for f in report.files]


def write_catalog(directory: Path, name: str, files: list[str], extra: str = "") -> Path:
    """A period catalog (100 GeV e-, the 2022 intensity) pointing at ``files``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.yaml"
    lines = [f'name: "{name}"', "beam: {particle: e-, energy: 100.0, intensity: 6.0e+06}",
             "eot: 6.3e+11", "files:", *[f"  - {f}" for f in files]]
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


def checkpoints(output: Path) -> list[Path]:
    """Chunk checkpoints below an output directory (``<period>/.checkpoints/...``)."""
    return sorted(Path(output).glob("*/.checkpoints/**/*.coffea"))


def summary(output: Path, period: str) -> dict:
    return json.loads((Path(output) / period / "summary.json").read_text())


def same_results(a: Path, b: Path) -> None:
    """Two processed period directories hold identical counts and histograms."""
    from workflows.processing.results import read_period

    ra, rb = read_period(a), read_period(b)
    for key in ("cutflow", "regions", "cutflow_by_process", "variations", "failed", "complete",
                "blinded", "duplicates", "empty_files"):
        assert getattr(ra.summary, key) == getattr(rb.summary, key), key
    assert ra.summary.events == rb.summary.events
    assert ra.summary.chunks.total == rb.summary.chunks.total
    assert sorted(ra.hists) == sorted(rb.hists)
    for name in ra.hists:
        assert ra.hists[name] == rb.hists[name], f"histogram {name} differs"


@dataclass
class Na64Run:
    """``na64 process`` running as a subprocess, in a session of its own (its process
    group is what a terminal's Ctrl-C reaches: the command and every process it started)."""

    process: subprocess.Popen
    log: Path

    def wait(self, timeout: float = 120) -> int:
        return self.process.wait(timeout)

    def ctrl_c(self) -> None:
        """SIGINT to the whole process group, as Ctrl-C in a terminal sends it."""
        os.killpg(self.process.pid, signal.SIGINT)

    def group_alive(self) -> bool:
        """Is any process of the command's process group still running?"""
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        return True

    @property
    def text(self) -> str:
        return self.log.read_text(errors="replace")


def start_process(catalog: Path, output: Path, log: Path, *extra: str,
                  preexec_fn: Callable[[], None] | None = None) -> Na64Run:
    cmd = [NA64, "process", "--catalog", str(catalog), "--output", str(output), *extra]
    env = {**os.environ, "COLUMNS": "200", "TERM": "dumb"}
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                preexec_fn=preexec_fn, start_new_session=True)
    return Na64Run(proc, log)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class ExternalCluster:
    """A ``dask scheduler`` and ``dask worker`` processes on 127.0.0.1."""

    address: str
    scheduler: subprocess.Popen
    workers: list[subprocess.Popen] = field(default_factory=list)
    logs: Path | None = None

    def n_workers(self) -> int:
        from distributed import Client

        with Client(self.address, timeout="10s") as c:
            return len(c.scheduler_info()["workers"])

    def wait_for_workers(self, n: int, timeout: float = 60) -> None:
        from distributed import Client

        with Client(self.address, timeout="10s") as c:
            c.wait_for_workers(n, timeout=timeout)

    def log_text(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.logs.glob("*.log")))


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@contextlib.contextmanager
def external_cluster(directory: Path, n_workers: int = 2) -> Iterator[ExternalCluster]:
    """``dask scheduler --host 127.0.0.1`` and ``n_workers`` single-threaded ``dask worker``s.

    Workers run without a nanny, so that SIGKILL really removes a worker (a nanny would
    restart it).
    """
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs: list[subprocess.Popen] = []
    try:
        with open(directory / "scheduler.log", "w") as log:
            scheduler = subprocess.Popen(
                [DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                 "--dashboard-address", "127.0.0.1:0"],
                stdout=log, stderr=subprocess.STDOUT, cwd=directory)
        procs.append(scheduler)
        poll(lambda: _accepts(port) or scheduler.poll() is not None, 60, "the scheduler to listen")
        assert scheduler.poll() is None, (directory / "scheduler.log").read_text()
        cluster = ExternalCluster(address, scheduler, logs=directory)
        for i in range(n_workers):
            with open(directory / f"worker-{i}.log", "w") as log:
                worker = subprocess.Popen(
                    [DASK, "worker", address, "--nthreads", "1", "--no-nanny", "--name", f"w{i}",
                     "--local-directory", str(directory / f"w{i}"), "--dashboard-address",
                     "127.0.0.1:0"],
                    stdout=log, stderr=subprocess.STDOUT, cwd=directory)
            procs.append(worker)
            cluster.workers.append(worker)
        cluster.wait_for_workers(n_workers)
        yield cluster
    finally:
        for proc in reversed(procs):
            _stop(proc)
