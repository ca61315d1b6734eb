"""Stored period results that are missing, failed or damaged: ``na64 fit`` names the
period and refuses (exit 2) instead of fitting a smaller set; ``na64 process`` treats
what it cannot read as absent and does the work again.

Two periods of the same simulated sample are processed for real once; every test
works on a copy of that result.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil

import pytest
from typer.testing import CliRunner

from tests.faults import same_results, simulate, write_catalog
from workflows.cli import app

pytestmark = pytest.mark.distributed

PERIODS = ("a", "b")
CHUNKS = ("--chunksize", "50000")


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    root = tmp_path_factory.mktemp("results_faults")
    for name in PERIODS:
        write_catalog(root / "catalog", name, ["../data/*.root"])
    simulate(root / "catalog", "a", 100_000, root / "data", seed=5, block_events=50_000)
    return root / "catalog"


def process(catalog, output, *extra):
    return CliRunner().invoke(app, ["process", "--catalog", str(catalog), "--output", str(output),
                                    "--workers", "1", *CHUNKS, *extra])


def fit(results):
    return CliRunner().invoke(app, ["fit", "--results", str(results), "--method", "asymptotic"])


@pytest.fixture(scope="module")
def processed(sample, tmp_path_factory):
    out = tmp_path_factory.mktemp("processed")
    result = process(sample, out)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def results(processed, tmp_path):
    return shutil.copytree(processed, tmp_path / "results")


def text(result) -> str:
    return " ".join(result.output.split())


def says(result, message: str) -> bool:
    """Does the output hold ``message``? (Whitespace aside: the terminal folds long paths.)"""
    return "".join(message.split()) in "".join(result.output.split())


def test_fit_uses_every_period(results):
    result = fit(results)
    assert result.exit_code == 0, result.output
    limits = json.loads((results / "limits.json").read_text())
    assert [p["period"] for p in limits["periods"]] == list(PERIODS)


def test_fit_refuses_a_period_without_its_summary(results):
    (results / "b" / "summary.json").unlink()  # histograms and provenance are still there
    result = fit(results)
    assert result.exit_code == 2, result.output
    assert says(result, f"{results / 'b'}: no summary.json"), result.output
    assert "1 of 2 period(s) cannot be used" in text(result)
    assert "Traceback" not in result.output
    assert not (results / "limits.json").exists()


def test_fit_refuses_a_failed_period_and_says_why(results):
    path = results / "b" / "summary.json"
    summary = json.loads(path.read_text())
    path.write_text(json.dumps({**summary, "status": "failed",
                                "reason": "too few calibration electrons"}))
    result = fit(results)
    assert result.exit_code == 2, result.output
    assert says(result, f"{results / 'b'}: period b failed: too few calibration electrons"), result.output
    assert not (results / "limits.json").exists()


def test_fit_refuses_two_directories_of_the_same_period(results):
    shutil.copytree(results / "a", results / "a-copy")
    result = fit(results)
    assert result.exit_code == 2, result.output
    assert "period a is stored twice" in text(result)
    assert not (results / "limits.json").exists()


def truncate(path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.mark.parametrize("force", [False, True], ids=["rerun", "force"])
def test_a_truncated_provenance_is_treated_as_absent(sample, processed, results, force):
    truncate(results / "a" / "provenance.json")
    result = process(sample, results, *(["--force"] if force else []))
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert says(result, f"{results / 'a' / 'provenance.json'}: cannot be read"), result.output
    assert json.loads((results / "a" / "provenance.json").read_text())["catalog"]["name"] == "a"
    same_results(processed / "a", results / "a")


@pytest.mark.parametrize("force", [(), ("--force",)], ids=["rerun", "force"])
def test_a_truncated_shower_reference_is_derived_again(sample, processed, results, force):
    truncate(results / "a" / "shower_reference.json")
    result = process(sample, results, *force)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert says(result, f"{results / 'a' / 'shower_reference.json'}: damaged"), result.output
    assert (json.loads((results / "a" / "shower_reference.json").read_text())
            == json.loads((processed / "a" / "shower_reference.json").read_text()))
    same_results(processed / "a", results / "a")


def flip_a_byte(path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def as_version_0(results) -> None:
    """Rewrite every summary.json as the layout before versioning had it."""
    for path in results.glob("*/summary.json"):
        doc = json.loads(path.read_text())
        for key in ("schema_version", "status", "outputs"):
            doc.pop(key, None)
        path.write_text(json.dumps(doc))


DAMAGES = {"truncated": truncate, "flipped byte": flip_a_byte}


@pytest.mark.parametrize("version_0", [False, True], ids=["", "version 0"])
@pytest.mark.parametrize("damage", DAMAGES)
def test_damaged_histograms_are_not_up_to_date(sample, processed, results, damage, version_0):
    if version_0:
        as_version_0(results)
    DAMAGES[damage](results / "a" / "histograms.json.gz")
    result = process(sample, results)
    assert result.exit_code == 0, result.output
    assert says(result, f"{results / 'a' / 'histograms.json.gz'}: damaged"), result.output
    assert "Traceback" not in result.output
    same_results(processed / "a", results / "a")


@pytest.mark.parametrize("version_0", [False, True], ids=["", "version 0"])
@pytest.mark.parametrize("damage", DAMAGES)
def test_fit_refuses_damaged_histograms_naming_the_file(results, damage, version_0):
    if version_0:
        as_version_0(results)
    DAMAGES[damage](results / "b" / "histograms.json.gz")
    result = fit(results)
    assert result.exit_code == 2, result.output
    assert says(result, f"{results / 'b' / 'histograms.json.gz'}: damaged"), result.output
    assert "Aborted" not in result.output and "Traceback" not in result.output
    assert "Scheduler at" not in result.output  # refused before any cluster started
    assert not (results / "limits.json").exists()


def test_fit_refuses_a_truncated_summary_naming_the_file(results):
    truncate(results / "b" / "summary.json")
    result = fit(results)
    assert result.exit_code == 2, result.output
    assert says(result, f"{results / 'b' / 'summary.json'}: cannot be read"), result.output
    assert not (results / "limits.json").exists()


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """A period "c" of two shards, and its result with both readable."""
    root = tmp_path_factory.mktemp("transient")
    write_catalog(root / "catalog", "c", ["../data/*.root"])
    files = simulate(root / "catalog", "c", 100_000, root / "data", seed=6, block_events=50_000,
                     events_per_shard=50_000)
    assert len(files) == 2
    clean = root / "clean"
    assert process(root / "catalog", clean).exit_code == 0
    return root / "catalog", sorted(files), clean


@contextlib.contextmanager
def unreadable(path):
    """``path`` fails its check (not a ROOT file) for a while, then is exactly as before:
    same bytes, size and modification time (a transient fault; chmod 000 would do it
    too, but not for root)."""
    st = path.stat()
    data = path.read_bytes()
    path.write_bytes(b"\0" * 4 + data[4:])
    try:
        yield
    finally:
        path.write_bytes(data)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def failed_files(output, period="c"):
    return [f["file"] for f in json.loads((output / period / "summary.json").read_text())["failed"]]


def test_a_file_that_failed_its_check_is_checked_again(shards, tmp_path):
    catalog, (good, bad), clean = shards
    out = tmp_path / "out"
    with unreadable(bad):
        result = process(catalog, out)
        assert result.exit_code == 1, result.output  # incomplete
        assert failed_files(out) == [str(bad)]
        # Still unreadable: checked again, and only that; the good file's chunk is resumed.
        result = process(catalog, out)
        assert result.exit_code == 1, result.output
        assert "up to date" not in result.output
        assert says(result, "c: reprocessing; 1 file(s) failed last time"), result.output
        assert failed_files(out) == [str(bad)]
        assert json.loads((out / "c" / "summary.json").read_text())["chunks"]["resumed"] == 1
    # Readable again: the period is complete, as if it had never failed.
    result = process(catalog, out)
    assert result.exit_code == 0, result.output
    assert failed_files(out) == []
    same_results(clean / "c", out / "c")


def test_unreadable_checkpoints_are_recomputed_with_a_warning(shards, tmp_path):
    catalog, (good, bad), clean = shards
    out = tmp_path / "out"
    with unreadable(bad):
        assert process(catalog, out).exit_code == 1
        incomplete = tmp_path / "incomplete"
        shutil.copytree(out, incomplete)
        stored = sorted((out / "c" / ".checkpoints").rglob("*.coffea"))
        assert stored  # an incomplete period keeps its checkpoints
        for path in stored:
            truncate(path)
        result = process(catalog, out, "--force")
        assert result.exit_code == 1, result.output
    for path in stored:
        assert says(result, f"{path}: unreadable checkpoint"), result.output
    assert "Traceback" not in result.output
    assert json.loads((out / "c" / "summary.json").read_text())["chunks"]["resumed"] == 0
    same_results(incomplete / "c", out / "c")


def test_a_failed_period_whose_summary_holds_nothing_else_is_refused_and_reprocessed(
        sample, processed, results):
    (results / "b" / "summary.json").write_text(json.dumps(
        {"period": "b", "status": "failed", "reason": "no readable file"}))
    result = fit(results)
    assert result.exit_code == 2, result.output
    assert says(result, f"{results / 'b'}: period b failed: no readable file"), result.output
    result = process(sample, results)
    assert result.exit_code == 0, result.output
    assert says(result, "b: reprocessing; it failed last time (no readable file)"), result.output
    same_results(processed / "b", results / "b")
