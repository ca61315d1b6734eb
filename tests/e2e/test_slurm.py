"""``na64 process --cluster slurm`` on a real single-node Slurm (started by .ci/slurm-setup.sh).

The same hand-built period is processed by two Slurm jobs (dask-jobqueue) and by the
default LocalCluster; the summaries must agree, and Slurm's own job records must show
that the workers ran as batch jobs with the requested options.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.eventfiles import (
    calibration_electrons,
    electron,
    hcal_deposit,
    write_catalog,
    write_events,
)
from workflows.cli import app

pytestmark = [pytest.mark.slurm, pytest.mark.distributed]

#: Where .ci/slurm-setup.sh leaves the reason when Slurm cannot be installed or started.
REASON_FILE = Path(os.environ.get("NA64_SLURM_UNAVAILABLE", "/tmp/na64-slurm-unavailable"))

#: Physics events by the region they must land in (None: passes the chain, in no region).
PHYSICS = {
    "C": [electron(70.0), electron(75.0), electron(62.0, hcal=hcal_deposit(0.3))],
    "A": [electron(30.0, hcal=hcal_deposit(5.0), mc_process=1),
          electron(10.0, hcal=hcal_deposit(60.0), mc_process=1)],
    None: [electron(70.0, hcal=hcal_deposit(20.0), mc_process=1)],
}
#: Physics events failing a cut.
FAILING = [electron(60.0, veto=[1.1, 0.9, 1.0]), electron(beam_angle=2.5)]  # outside the blinded box


def slurm_unusable() -> str | None:
    """Why Slurm cannot be used here, or None when a node is idle."""
    prefix = "Slurm could not be installed/started on this machine"
    recorded = REASON_FILE.read_text().strip() if REASON_FILE.is_file() else ""
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return f"{prefix}: {recorded or 'sinfo/sbatch not found (run .ci/slurm-setup.sh)'}"
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"{prefix}: {recorded or f'sinfo failed: {e}'}"
    states = out.stdout.split()
    if out.returncode != 0 or not any(s in ("idle", "mixed") for s in states):
        seen = (out.stdout.strip() or out.stderr.strip() or "nothing").replace("\n", " ")
        return f"{prefix}: {recorded or f'no idle Slurm node (sinfo: {seen})'}"
    return None


def slurm_jobs(marker: str) -> list[dict]:
    """Slurm's records (``scontrol show job``, kept MinJobAge seconds) of jobs tagged ``marker``."""
    out = subprocess.run(["scontrol", "show", "job", "-o"], capture_output=True, text=True,
                         timeout=15, check=True).stdout
    jobs = []
    for line in out.splitlines():
        fields = dict(tok.split("=", 1) for tok in line.split() if "=" in tok)
        if fields.get("Comment") == marker:
            jobs.append(fields)
    return jobs


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    root = tmp_path_factory.mktemp("slurm_period")
    physics = FAILING + [e for events in PHYSICS.values() for e in events]
    events = calibration_electrons(200) + physics
    write_events(root / "data" / "shard_0.root", events[:150], truth=True, step=50)
    write_events(root / "data" / "shard_1.root", events[150:], truth=True, first_event=150, step=50)
    write_catalog(root / "catalog", "slurmtest", ["../data/shard_*.root"])
    return root / "catalog"


def process(catalog: Path, output: Path, *extra: str) -> dict:
    result = CliRunner().invoke(app, ["process", "--catalog", str(catalog), "--output", str(output),
                                      "--workers", "2", "--chunksize", "50", *extra])
    assert result.exit_code == 0, result.output
    return json.loads((output / "slurmtest" / "summary.json").read_text())


def test_slurm_jobs_give_the_same_summary_as_a_local_cluster(catalog, tmp_path, monkeypatch):
    reason = slurm_unusable()
    if reason:
        pytest.skip(reason)

    # Submit from an empty directory; the job logs go below the output directory.
    submit_dir = tmp_path / "submit"
    submit_dir.mkdir()
    monkeypatch.chdir(submit_dir)
    marker = f"na64-test-{uuid.uuid4().hex[:12]}"
    t0 = time.monotonic()
    on_slurm = process(catalog, tmp_path / "slurm", "--cluster", "slurm", "--walltime", "00:10:00",
                       "--memory", "1GiB", "--job-extra", f"--comment={marker}")
    slurm_seconds = time.monotonic() - t0
    local = process(catalog, tmp_path / "local")

    # Same physics on both clusters, and the physics expected from the hand-built events.
    for key in ("cutflow", "regions", "events", "failed", "complete", "blinded"):
        assert on_slurm[key] == local[key], key
    assert on_slurm["complete"] and on_slurm["failed"] == []
    assert on_slurm["cutflow"][0]["events"] == len(FAILING) + sum(map(len, PHYSICS.values()))
    assert on_slurm["cutflow"][-1]["events"] == sum(map(len, PHYSICS.values()))
    assert on_slurm["regions"]["A"] == 2 and on_slurm["regions"]["C"] == 3
    assert on_slurm["events"]["calibration_trigger"] == 200

    # Slurm really ran the workers: one batch job per worker, with the requested options,
    # started on the node, logging a dask worker that registered with the scheduler.
    jobs = slurm_jobs(marker)
    assert len(jobs) == 2, f"expected 2 Slurm jobs tagged {marker}, Slurm shows {jobs}"
    for job in jobs:
        assert job["TimeLimit"] == "00:10:00" and job["MinMemoryNode"] == "1G", job
        assert Path(job["WorkDir"]) == submit_dir, job
    started = [j for j in jobs if j.get("BatchHost") not in (None, "(null)")]
    assert started, f"no Slurm job was ever started: {jobs}"
    def log(job) -> str:  # the dask worker logs on stderr; dask-jobqueue splits .out/.err
        paths = [Path(job[k].replace("%J", job["JobId"]).replace("%j", job["JobId"]))
                 for k in ("StdOut", "StdErr") if k in job]
        assert all(p.parent == tmp_path / "slurm" / ".batch-logs" for p in paths), paths
        return "".join(p.read_text(errors="replace") for p in paths if p.exists())

    registered = [j for j in started if "Registered to:" in log(j)]
    assert registered, "no dask worker log in the Slurm job outputs: " + "; ".join(
        f"{j['JobId']}: {log(j)[-500:]}" for j in started)

    # Closing the cluster ends the jobs (none left running or pending).
    deadline = time.monotonic() + 30
    while True:
        states = {j["JobId"]: j["JobState"] for j in slurm_jobs(marker)}
        if all(s in ("COMPLETED", "CANCELLED", "TIMEOUT") for s in states.values()):
            break
        assert time.monotonic() < deadline, f"Slurm jobs still alive after the run: {states}"
        time.sleep(1)
    assert not re.search(r"FAILED|NODE_FAIL|OUT_OF_MEMORY", " ".join(states.values())), states
    print(f"Slurm run took {slurm_seconds:.1f}s; jobs {states}")
