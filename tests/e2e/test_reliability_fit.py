"""Awkward fit inputs end to end: a clear result or a clear message, never a NaN limit.

A hand-built period whose physics events all fail the chain is processed for real:
empty sidebands A and C, hence a zero background estimate. A signal-efficiency table
with zero efficiency below 20 MeV gives masses without any expected signal. Then
``na64 fit`` (both models) and ``na64 limit`` on the workspace it wrote, and
``na64 limit`` on workspaces without a usable POI.
"""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from tests.eventfiles import calibration_electrons, electron, write_catalog, write_events
from workflows.cli import app

pytestmark = pytest.mark.distributed

MASSES = ("--masses", "4")  # 1, 10, 100, 1000 MeV


def strict_json(text: str):
    def refuse(name):
        raise AssertionError(f"non-finite number {name} written")
    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("fit_inputs")
    failing = [electron(30.0, veto=[1.1, 0.9, 1.0])] * 5 + [electron(beam_angle=2.5)] * 5
    write_events(root / "data" / "a.root", calibration_electrons(300) + failing, step=100)
    write_catalog(root / "catalog", "empty", ["../data/*.root"], eot=1e11)
    out = root / "out"
    result = CliRunner().invoke(app, ["process", "--catalog", str(root / "catalog"),
                                      "--output", str(out), "--workers", "1"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "empty" / "summary.json").read_text())
    assert summary["regions"] == {"A": 0, "C": 0, "box": None}
    (out / "signal_efficiency.json").write_text(json.dumps(
        {"masses": [0.002, 0.02, 0.2, 0.9], "efficiency": {"empty": [0.0, 0.0, 0.5, 0.4]}}))
    return out


@pytest.mark.parametrize("model", ["merged", "multibin"])
def test_zero_background_empty_sidebands_and_zero_efficiency_give_finite_limits_or_null(
        results, model):
    result = CliRunner().invoke(app, ["fit", "--results", str(results), *MASSES, "--model", model,
                                      "--method", "asymptotic"])
    assert result.exit_code == 0, result.output
    limits = strict_json((results / "limits.json").read_text())
    assert limits["background"]["total"] == 0
    expected = limits["signal_events_limit"]["expected"]
    assert all(math.isfinite(x) and x > 0 for x in expected)
    rows = limits["exclusion"]["masses"]
    assert [round(r["m_aprime"], 6) for r in rows] == [0.001, 0.01, 0.1, 1.0]
    for row in rows:
        if row["m_aprime"] < 0.02:  # zero efficiency: no signal, no limit (null, never NaN)
            assert row["signal_events_eps1e-4"] == 0
            assert row["eps90_expected"] == [None] * 5
        else:
            assert all(x is not None and 0 < x < 1 for x in row["eps90_expected"])
    strict_json((results / "workspace.json").read_text())


def test_limit_on_a_zero_background_workspace_is_finite(results):
    result = CliRunner().invoke(app, ["limit", "--workspace", str(results / "workspace.json"),
                                      "--json", "--ntoys", "100"])
    assert result.exit_code == 0, result.output
    limit = strict_json(result.output.strip().splitlines()[-1])
    assert all(math.isfinite(x) and x > 0 for x in [limit["observed"], *limit["expected"]])


@pytest.mark.parametrize(("change", "message"), [
    (lambda ws: ws["measurements"][0]["config"].pop("poi"), "has no POI (config.poi)"),
    (lambda ws: ws["measurements"][0]["config"].update(poi="not_a_parameter"),
     "the POI is not a parameter of the model"),
    (lambda ws: ws.update(measurements=[]), "the workspace has no measurement, hence no POI"),
], ids=["no poi", "unknown poi", "no measurement"])
def test_limit_refuses_a_workspace_without_poi(results, tmp_path, change, message):
    ws = json.loads((results / "workspace.json").read_text())
    change(ws)
    path = tmp_path / "ws.json"
    path.write_text(json.dumps(ws))
    result = CliRunner().invoke(app, ["limit", "--workspace", str(path), "--json"])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert '"observed"' not in result.output
