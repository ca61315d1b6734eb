"""``na64 simulate --eot`` and ``na64 project``: options, JSON, bad input (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from workflows.cli import app

DATASETS = str(Path(__file__).resolve().parents[3] / "datasets")


def test_simulate_needs_exactly_one_size(tmp_path):
    for args in ([], ["--events", "10", "--eot", "1e9"], ["--events", "10", "--prescale", "2"]):
        result = CliRunner().invoke(app, ["simulate", "-p", "2016", "-o", str(tmp_path), "--catalog",
                                          DATASETS, *args])
        assert result.exit_code == 2, (args, result.output)


def test_simulate_an_exposure(tmp_path):
    result = CliRunner().invoke(app, ["simulate", "-p", "2016", "-o", str(tmp_path), "--catalog", DATASETS,
                                      "--eot", "2e9", "--prescale", "50"])
    assert result.exit_code == 0, result.output
    assert "strata for 2e+09 EOT" in result.output
    doc = json.loads((tmp_path / "simulation.json").read_text())
    assert doc["eot_equivalent"] == 2e9 and doc["exposure"]["prescale"] == 50
    assert {s["prescale"] for s in doc["exposure"]["strata"]} == {1, 50}


def test_project_json_and_missing_efficiency(tmp_path):
    table = tmp_path / "eff.json"
    table.write_text(json.dumps({"masses": [0.002, 0.2], "efficiency": {"2022": [0.5, 0.3]}}))
    result = CliRunner().invoke(app, ["project", "--eot", "1e12", "-p", "2022", "--catalog", DATASETS,
                                      "--efficiency", str(table), "-r", str(tmp_path), "--masses", "4",
                                      "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output.strip().splitlines()[-1])
    assert doc["eot"] == 1e12 and doc["periods"] == ["2022"] and doc["assumptions"]
    assert 0 < doc["background"]["total"] < 5 and len(doc["exclusion"]["masses"]) == 4
    missing = CliRunner().invoke(app, ["project", "--eot", "1e12", "--catalog", DATASETS,
                                       "-r", str(tmp_path / "none")])
    assert missing.exit_code == 2 and "signal efficiency table" in missing.output
