"""Distributed execution on real Dask processes: determinism, Ctrl-C and resume, a killed
worker, a lost scheduler.

One simulated period (300k events in clusters of 10k: 30 chunks) is processed once on
the default two-worker LocalCluster (the baseline); every other way of running it must
end with exactly the same counts and histograms. External clusters are a
``dask scheduler --host 127.0.0.1`` and ``dask worker`` processes started here.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.faults import (
    checkpoints,
    external_cluster,
    poll,
    same_results,
    simulate,
    start_process,
    summary,
    write_catalog,
)
from workflows.cli import app

pytestmark = pytest.mark.distributed

PERIOD = "dist"
N_EVENTS = 300_000
N_CHUNKS = 30
CHUNKS = ("--chunksize", "10000")


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    root = tmp_path_factory.mktemp("distributed")
    catalog = root / "catalog"
    write_catalog(catalog, PERIOD, ["../data/*.root"])
    simulate(catalog, PERIOD, N_EVENTS, root / "data", seed=11)
    return catalog


def process(catalog, output, *extra):
    result = CliRunner().invoke(app, ["process", "--catalog", str(catalog), "--output", str(output),
                                      *CHUNKS, *extra])
    assert result.exit_code == 0, result.output
    return result


def started(catalog, output, log, stopped_by: str, *extra):
    """``na64 process`` in the background, once it has checkpointed its first chunks."""
    run = start_process(catalog, output, log, *extra, *CHUNKS)
    poll(lambda: checkpoints(output) or run.process.poll() is not None, 120, "the first checkpoints")
    assert run.process.poll() is None, f"the run ended before {stopped_by}:\n{run.text}"
    return run


def stopped_partway(output) -> int:
    """The checkpointed chunks of a run stopped before its end (it wrote no summary)."""
    assert not (output / PERIOD / "summary.json").exists()
    stored = len(checkpoints(output))
    assert 0 < stored <= N_CHUNKS  # all of them if the stop came during the final merge
    return stored


def assert_resumed(output, stored: int, baseline) -> None:
    """The rerun reused the ``stored`` chunks and ended as the uninterrupted run."""
    assert summary(output, PERIOD)["chunks"] == {"total": N_CHUNKS, "failed": 0, "resumed": stored}
    same_results(output / PERIOD, baseline)


@pytest.fixture(scope="module")
def baseline(sample, tmp_path_factory):
    out = tmp_path_factory.mktemp("baseline")
    process(sample, out, "--workers", "2")
    s = summary(out, PERIOD)
    assert s["complete"] and s["failed"] == []
    assert s["chunks"] == {"total": N_CHUNKS, "failed": 0, "resumed": 0}
    assert s["events"]["read"] == N_EVENTS
    return out / PERIOD


@pytest.mark.timeout(240)
def test_one_worker_two_workers_and_an_external_scheduler_agree_exactly(sample, baseline, tmp_path):
    process(sample, tmp_path / "one", "--workers", "1")
    same_results(tmp_path / "one" / PERIOD, baseline)

    with external_cluster(tmp_path / "cluster", n_workers=2) as cluster:
        result = process(sample, tmp_path / "external", "--scheduler", cluster.address)
        assert f"scheduler {cluster.address}" in result.output
        assert "Receive client connection" in cluster.log_text()
    same_results(tmp_path / "external" / PERIOD, baseline)


@pytest.mark.timeout(240)
def test_ctrl_c_stops_cleanly_and_the_same_command_resumes(sample, baseline, tmp_path):
    out = tmp_path / "out"
    run = started(sample, out, tmp_path / "interrupted.log", "Ctrl-C", "--workers", "1")
    run.ctrl_c()
    assert run.wait(60) == 130, run.text
    assert "interrupted" in run.text and "run the same command again to resume" in run.text
    assert "Traceback" not in run.text and "KeyboardInterrupt" not in run.text
    poll(lambda: not run.group_alive(), 30, "every process of the run to end")
    stored = stopped_partway(out)

    result = process(sample, out, "--workers", "2")
    assert f"resuming an unfinished run ({stored} of {N_CHUNKS} chunks checkpointed)" in result.output
    assert_resumed(out, stored, baseline)
    assert not checkpoints(out), "a complete period keeps no checkpoints"


@pytest.mark.timeout(240)
def test_a_killed_worker_costs_only_its_chunks(sample, baseline, tmp_path):
    out = tmp_path / "out"
    with external_cluster(tmp_path / "cluster", n_workers=2) as cluster:
        run = started(sample, out, tmp_path / "run.log", "the worker was killed",
                      "--scheduler", cluster.address)
        victim = cluster.workers[0]
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        assert run.wait(180) == 0, run.text
        assert cluster.n_workers() == 1, "the scheduler should have lost a worker"
    s = summary(out, PERIOD)
    assert s["complete"] and s["failed"] == [] and s["chunks"]["failed"] == 0
    same_results(out / PERIOD, baseline)


@pytest.mark.timeout(240)
def test_a_lost_scheduler_stops_the_run_and_the_same_command_resumes(sample, baseline, tmp_path):
    out = tmp_path / "out"
    with external_cluster(tmp_path / "first", n_workers=2) as cluster:
        run = started(sample, out, tmp_path / "run.log", "the scheduler was killed",
                      "--scheduler", cluster.address)
        cluster.scheduler.send_signal(signal.SIGKILL)
        code = run.wait(120)
    assert code == 2, run.text
    text = " ".join(run.text.split())
    assert "lost the connection to the Dask scheduler" in text
    assert "run the same command again to resume" in text
    assert "Traceback" not in text
    stored = stopped_partway(out)  # counted once every worker of the first cluster is gone

    with external_cluster(tmp_path / "second", n_workers=2) as cluster:
        process(sample, out, "--scheduler", cluster.address)
    assert_resumed(out, stored, baseline)


@pytest.mark.timeout(240)
def test_a_killed_job_leaves_no_workers_behind_and_the_same_command_resumes(sample, baseline,
                                                                           tmp_path):
    out = tmp_path / "out"
    run = started(sample, out, tmp_path / "killed.log", "it was killed", "--workers", "2")
    run.process.send_signal(signal.SIGKILL)  # a batch system ending the job
    assert run.wait(30) == -signal.SIGKILL
    poll(lambda: not run.group_alive(), 30, "the local workers to end with their job")
    stored = stopped_partway(out)

    process(sample, out, "--workers", "2")
    assert_resumed(out, stored, baseline)


@pytest.mark.timeout(240)
def test_the_client_starts_light_and_serves_the_dashboard_only_on_request(sample, baseline,
                                                                          tmp_path):
    # In a fresh interpreter: neither dask.dataframe (coffea's DaskExecutor imports it but
    # never uses it here) nor pandas (distributed's version report) is loaded by a run.
    probe = ("import sys\nfrom workflows.cli import app\n"
             "try:\n    app(sys.argv[1:])\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
             "print('LOADED', sorted(m for m in ('pandas', 'bokeh') if m in sys.modules))\n")
    out = tmp_path / "light"
    run = subprocess.run([sys.executable, "-c", probe, "process", "--catalog", str(sample),
                          "--output", str(out), *CHUNKS], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2], timeout=200)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "LOADED []" in run.stdout and "dashboard:" not in run.stdout
    same_results(out / PERIOD, baseline)

    result = process(sample, tmp_path / "dashboard", "--dashboard")
    assert re.search(r"dashboard: http://[\d.]+:\d+/status", result.output), result.output
    same_results(tmp_path / "dashboard" / PERIOD, baseline)
