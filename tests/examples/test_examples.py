"""The scripts of ``examples/`` run as a user runs them (a subprocess each), on a small
simulated period and a real Dask scheduler given by ``--scheduler``: the scripted
analysis processes, fits and sets the limit on the signal count (the signal efficiency,
its slowest step, is left out: ``--signal-events 0``); the
exploration's blinded counts are exactly those the processing wrote."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.workflows.explore_sample import PERIOD, simulated_period

pytestmark = pytest.mark.distributed

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def scheduler():
    from distributed import LocalCluster

    # workers as threads of this process: they start at once (the explorer's tests use
    # worker processes)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp",
                      dashboard_address=":0") as cluster:
        yield cluster.scheduler_address


def run(script: str, *args: str, cwd: Path) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(EXAMPLES.parent), *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, str(EXAMPLES / script), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def printed(output: str, prefix: str):
    (line,) = [s for s in output.splitlines() if s.startswith(prefix)]
    return ast.literal_eval(line[len(prefix):].strip())


def test_scripted_analysis_then_exploration(tmp_path, scheduler):
    # 80k events: at 40k the sideband A holds ~20 events and the merged fit of the box
    # background does not converge (StatisticsError, exit 1): the sideband fit is unstable
    # at such counts (0.015 +- 7.3 events at 40k, 20 +- 20 at 80k; an open problem)
    catalog_file = simulated_period(tmp_path / "sample", n_events=80_000)
    results = tmp_path / "results"
    out = run("scripted_analysis.py", str(catalog_file.parent), "--results", str(results),
              "--scheduler", scheduler, "--signal-events", "0", cwd=tmp_path)
    limits = json.loads((results / "limits.json").read_text())
    assert limits["blinded"] is True
    assert printed(out, "N90 (signal events, expected median):") > 2.0  # 2.3 for no background

    out = run("explore_period.py", str(catalog_file), "--output", str(tmp_path / "explore.png"),
              "--scheduler", scheduler, cwd=tmp_path)
    assert (tmp_path / "explore.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((results / PERIOD / "summary.json").read_text())
    assert printed(out, "cutflow (blinded):") == {c["cut"]: c["events"] for c in summary["cutflow"]}
    regions = printed(out, "regions:")
    assert regions == {"A": summary["regions"]["A"], "C": summary["regions"]["C"]}
    assert summary["regions"]["box"] is None
