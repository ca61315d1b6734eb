"""An unwritable or full output directory: a clear error, exit code 2, and never a
summary.json that looks complete.

Real mechanisms only: a read-only directory (permissions, or a read-only bind mount
when running as root, where permissions do not bind), a file-size limit
(``RLIMIT_FSIZE``: writes beyond it fail with EFBIG) on the ``na64 process``
subprocess and everything it starts, and a full tmpfs (ENOSPC) where mounting is
allowed.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import subprocess

import pytest
from typer.testing import CliRunner

from processors.errors import InputError
from tests.faults import simulate, start_process, summary, write_catalog
from workflows.cli import app
from workflows.processing.results import read_period

pytestmark = pytest.mark.distributed

PERIOD = "out"
CHUNKS = ("--chunksize", "50000")


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    root = tmp_path_factory.mktemp("output_faults")
    write_catalog(root / "catalog", PERIOD, ["../data/*.root"])
    simulate(root / "catalog", PERIOD, 100_000, root / "data", seed=3, block_events=50_000)
    return root / "catalog"


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@contextlib.contextmanager
def read_only(path):
    """``path`` (a directory) cannot take new files, for root as for anybody else."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    if not (_mount("--bind", str(path), str(path))
            and _mount("-o", "remount,ro,bind", str(path))):
        subprocess.run(["umount", str(path)], capture_output=True)
        pytest.skip("running as root without permission to mount: cannot make a directory read-only")
    try:
        yield
    finally:
        assert subprocess.run(["umount", str(path)]).returncode == 0


@pytest.fixture(scope="module")
def processed(sample, tmp_path_factory):
    """A complete result of the sample (tests work on copies)."""
    out = tmp_path_factory.mktemp("complete")
    assert process(sample, out).exit_code == 0
    return out


def copy_of(processed, destination):
    shutil.copytree(processed, destination)
    return destination


def process(catalog, output, *extra):
    return CliRunner().invoke(app, ["process", "--catalog", str(catalog), "--output", str(output),
                                    "--workers", "1", *CHUNKS, *extra])


def test_a_read_only_output_directory_is_refused_before_any_work(sample, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with read_only(out):
        result = process(sample, out)
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert f"{out}: the output directory is not writable" in message
    assert "local cluster" not in message
    assert not (out / PERIOD).exists()


def test_a_read_only_period_directory_keeps_its_result_and_is_refused(sample, processed, tmp_path):
    out = copy_of(processed, tmp_path / "out")
    before = (out / PERIOD / "summary.json").read_bytes()
    with read_only(out / PERIOD):
        result = process(sample, out, "--force")
    assert result.exit_code == 2, result.output
    assert f"{out / PERIOD}: the output directory is not writable" in " ".join(result.output.split())
    assert "local cluster, 1 workers" in result.output and "chunk/s" not in result.output
    assert (out / PERIOD / "summary.json").read_bytes() == before


def _limit_file_size(limit: int):
    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


@pytest.mark.timeout(180)
def test_a_file_size_limit_stops_the_run_without_a_complete_looking_summary(sample, processed,
                                                                           tmp_path):
    out = copy_of(processed, tmp_path / "out")
    complete = summary(out, PERIOD)
    # 8 kB: the output check (4 kB) and the small JSON files fit, the histograms do not.
    run = start_process(sample, out, tmp_path / "limited.log", "--workers", "1", *CHUNKS,
                        "--force", preexec_fn=_limit_file_size(8192))
    assert run.wait(120) == 2, run.text
    text = " ".join(run.text.split())
    assert "cannot write outputs" in text and "histograms.json.gz: cannot be written" in text
    assert "File too large" in text
    assert "Traceback" not in text
    assert not (out / PERIOD / "summary.json").exists()
    with pytest.raises(InputError, match="no summary.json"):
        read_period(out / PERIOD)
    # With space again, the same command finishes the period.
    result = process(sample, out)
    assert result.exit_code == 0, result.output
    again = summary(out, PERIOD)
    for key in ("cutflow", "regions", "events", "failed", "complete"):
        assert again[key] == complete[key], key


@pytest.mark.timeout(180)
def test_a_full_file_system_stops_the_run_without_a_complete_looking_summary(sample, tmp_path):
    out = tmp_path / "tmpfs"
    out.mkdir()
    if os.geteuid() != 0 or not _mount("-t", "tmpfs", "-o", "size=12k", "tmpfs", str(out)):
        pytest.skip("cannot mount a tmpfs here (needs root and mount permission)")
    try:
        run = start_process(sample, out, tmp_path / "full.log", "--workers", "1", *CHUNKS)
        assert run.wait(120) == 2, run.text
        text = " ".join(run.text.split())
        assert "cannot write outputs" in text and "No space left on device" in text
        assert "Traceback" not in text
        assert not (out / PERIOD / "summary.json").exists()
    finally:
        assert subprocess.run(["umount", str(out)]).returncode == 0
