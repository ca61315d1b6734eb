"""An unwritable or full output directory: a clear error, exit code 2, never a
summary.json that looks complete, and the previous result of a period kept whole
until a new complete one replaces it.

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

from tests.faults import same_results, simulate, start_process, summary, write_catalog
from workflows.cli import app

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


def _files(directory):
    """Name -> content of every file of a period directory (checkpoints and the marker of
    a reprocessing under way aside)."""
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())
            if p.is_file() and p.name != ".reprocessing.json"}


@pytest.mark.timeout(180)
def test_a_file_size_limit_stops_a_reprocess_and_keeps_the_previous_result(sample, processed,
                                                                          tmp_path):
    out = copy_of(processed, tmp_path / "out")
    before = _files(out / PERIOD)
    # A limit between the largest of the other outputs (the output check writes 4 kB) and
    # the histograms: everything else fits, the histograms do not.
    sizes = {name: len(data) for name, data in before.items()}
    others = max(4096, *(n for name, n in sizes.items() if name != "histograms.json.gz"))
    assert sizes["histograms.json.gz"] > others + 64, sizes
    limit = (others + sizes["histograms.json.gz"]) // 2
    run = start_process(sample, out, tmp_path / "limited.log", "--workers", "1", *CHUNKS,
                        "--force", preexec_fn=_limit_file_size(limit))
    assert run.wait(120) == 2, run.text
    text = " ".join(run.text.split())
    assert "cannot write outputs" in text and "histograms.json.gz: cannot be written" in text
    assert "File too large" in text and "the previous outputs of the period are unchanged" in text
    assert "Traceback" not in text
    # Nothing of the previous result was lost or replaced, and no temporary is left.
    assert _files(out / PERIOD) == before
    same_results(processed / PERIOD, out / PERIOD)
    # The stored result is what these unchanged inputs give: served as it is.
    result = process(sample, out)
    assert result.exit_code == 0, result.output
    assert "up to date" in result.output
    same_results(processed / PERIOD, out / PERIOD)


@pytest.mark.timeout(240)
def test_a_failed_reprocess_with_a_new_configuration_keeps_the_previous_result_and_says_so(
        sample, processed, tmp_path):
    out = copy_of(processed, tmp_path / "out")
    before = _files(out / PERIOD)
    run = start_process(sample, out, tmp_path / "limited.log", "--workers", "1",
                        "--chunksize", "100000", preexec_fn=_limit_file_size(8192))
    assert run.wait(120) == 2, run.text
    assert "File too large" in run.text
    assert _files(out / PERIOD) == before
    assert (out / PERIOD / ".reprocessing.json").exists()
    # The fit uses the complete previous result, and says that it is not the new one.
    fit = CliRunner().invoke(app, ["fit", "--results", str(out), "--method", "asymptotic"])
    assert fit.exit_code == 0, fit.output
    assert (f"{PERIOD}: a reprocessing started" in " ".join(fit.output.split())
            and "did not finish" in fit.output), fit.output
    # With space again, the new configuration replaces the previous result.
    result = CliRunner().invoke(app, ["process", "--catalog", str(sample), "--output", str(out),
                                      "--workers", "1", "--chunksize", "100000"])
    assert result.exit_code == 0, result.output
    assert not (out / PERIOD / ".reprocessing.json").exists()
    assert summary(out, PERIOD)["cutflow"] == summary(processed, PERIOD)["cutflow"]
    fit = CliRunner().invoke(app, ["fit", "--results", str(out), "--method", "asymptotic"])
    assert fit.exit_code == 0 and "did not finish" not in fit.output, fit.output


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


@pytest.mark.timeout(180)
def test_checkpoints_do_not_keep_the_outputs_from_a_nearly_full_file_system(sample, processed,
                                                                            tmp_path):
    # Room for the outputs, the marker, the output check and a little more; not for the
    # chunk checkpoints too (each about twice the histograms).
    room = sum(-(-p.stat().st_size // 4096) * 4096 for p in (processed / PERIOD).iterdir()
               if p.is_file())
    out = tmp_path / "tmpfs"
    out.mkdir()
    size = f"size={(room + 6 * 4096) // 1024}k"
    if os.geteuid() != 0 or not _mount("-t", "tmpfs", "-o", size, "tmpfs", str(out)):
        pytest.skip("cannot mount a tmpfs here (needs root and mount permission)")
    try:
        result = process(sample, out)
        assert result.exit_code == 0, result.output
        text = " ".join(result.output.split())
        assert "no space left for the outputs: removed the chunk checkpoints" in text, text
        assert summary(out, PERIOD)["complete"] is True
        same_results(processed / PERIOD, out / PERIOD)
        assert not (out / PERIOD / ".checkpoints").exists()
    finally:
        assert subprocess.run(["umount", str(out)]).returncode == 0
