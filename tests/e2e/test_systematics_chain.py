"""From variations to a publishable limit: two simulated periods and their signal samples
processed with ``datasets/variations.yaml``, then ``na64 fit --hepdata``.

Checks the issue's chain end to end: every variation is one named nuisance of the
workspace acting on the background (and, where the selection moves the signal, on the
signal too, under the same name); the expected limit with all uncertainties is not below
the statistics-only one at every breakdown mass; pulls, ranking, correlations and the
pre-/post-fit yields are written; the HEPData folder passes hepdata-validator.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from workflows.cli import app
from workflows.processing.catalog import load_period
from workflows.processing.periods import run_processing
from workflows.runtime.cluster import ClusterOptions
from workflows.signal.efficiency import measure
from workflows.simulation import simulate_period

pytestmark = [pytest.mark.distributed, pytest.mark.slow]

DATASETS = Path(__file__).resolve().parents[2] / "datasets"
VARIATIONS = DATASETS / "variations.yaml"
PERIODS = ("2022", "2023")
#: Variations that move the A' efficiency of the simulated samples for sure (energy scale,
#: box edge, shower shape); the sideband edges cannot move it at all.
MOVE_SIGNAL = ("ecal_scale", "box_edge", "chi2")


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    root = tmp_path_factory.mktemp("systematics_chain")
    catalog = root / "catalog"
    catalog.mkdir()
    for name in PERIODS:
        data = yaml.safe_load((DATASETS / f"{name}.yaml").read_text())
        data["files"] = [f"../data/{name}/*.root"]
        (catalog / f"{name}.yaml").write_text(yaml.safe_dump(data))
        # 120k events a period: sidebands full enough for a well-defined extrapolation (at 40k
        # one period had 26 events in sideband A and an extrapolation error 2000x its value)
        simulate_period(load_period(catalog / f"{name}.yaml"), 120_000, root / "data" / name, seed=3)
    options = ClusterOptions(workers=2)
    results = root / "results"
    run_processing(catalog, results, variations_file=VARIATIONS, cluster=options, progress=False)
    measure(catalog, results, masses=(0.002, 0.02, 0.2), n_events=1500, seed=5, cluster=options,
            variations_file=VARIATIONS)
    hepdata = root / "hepdata"
    run = CliRunner().invoke(app, ["fit", "--results", str(results), "--masses", "6", "--method", "asymptotic",
                                   "--hepdata", str(hepdata)])
    assert run.exit_code == 0, run.output
    return {"results": results, "hepdata": hepdata, "output": run.output,
            "workspace": json.loads((results / "workspace.json").read_text()),
            "limits": json.loads((results / "limits.json").read_text())}


def _modifiers(workspace: dict, sample_prefix: str) -> set[str]:
    return {m["name"] for ch in workspace["channels"] for s in ch["samples"] if s["name"].startswith(sample_prefix)
            for m in s["modifiers"]}


def test_every_variation_is_one_named_nuisance_on_background_and_signal(chain):
    entries = yaml.safe_load(VARIATIONS.read_text())["variations"]
    background = _modifiers(chain["workspace"], "background_")
    signal = _modifiers(chain["workspace"], "signal_")
    moves = {v["name"]: any(b["up"] != b["nominal"] or b["down"] != b["nominal"] for b in v["background"])
             for v in chain["limits"]["systematics"]["variations"]}
    assert sum(moves.values()) >= len(entries) - 2, moves  # (the simulation may leave one or two alone)
    for name, entry in entries.items():
        assert entry.get("correlated", True)
        # a variation that moves no period's background has no modifier to carry (the model
        # leaves out factors of exactly 1); every other one acts on the box background
        assert (name in background) == moves[name], f"variation {name}: moves {moves[name]}"
    for name in MOVE_SIGNAL:
        assert name in signal, f"variation {name} does not act on the signal"
    # the signal's nuisances are the variations and the fixed uncertainties, nothing else
    fixed = yaml.safe_load((DATASETS / "systematics.yaml").read_text())["systematics"]
    allowed = set(entries) | {"mu"} | {p for k in fixed for p in (k, *(f"{k}_{x}" for x in PERIODS))}
    assert signal <= allowed, signal - allowed
    assert "sideband_c_edge" not in signal  # a sideband edge cannot move the signal


def test_limits_json_records_every_variation(chain):
    recorded = {v["name"] for v in chain["limits"]["systematics"]["variations"]}
    assert recorded == set(yaml.safe_load(VARIATIONS.read_text())["variations"])


def test_expected_limit_with_all_uncertainties_is_not_below_statistics_only(chain):
    breakdown = chain["limits"]["breakdown"]
    assert breakdown["model"] == "merged" and len(breakdown["masses"]) == 3
    for at_mass in breakdown["masses"]:
        rows = {r["label"]: r for r in at_mass["rows"]}
        assert rows["all"]["expected"] >= rows["stats only"]["expected"]
        assert set(rows) - {"all", "stats only"} >= set(MOVE_SIGNAL)
        # removing a source never makes the limit worse than with all of them
        assert all(r["expected"] <= rows["all"]["expected"] * (1 + 1e-6) for r in rows.values())
    assert "Systematics breakdown of the expected limit" in chain["output"]


def test_diagnostics_pulls_ranking_correlation_and_yields(chain):
    d = chain["limits"]["diagnostics"]
    plots = chain["results"] / "plots"
    for name in ("pulls.png", "ranking.png", "correlation.png"):
        assert (plots / name).stat().st_size > 10_000, name
    ranked = {i["name"] for i in d["ranking"]["impacts"]}
    assert set(MOVE_SIGNAL) <= ranked
    channels = {c["name"]: c for c in d["yields"]}
    assert set(channels) == {"signal_box", "sideband_A", "sideband_C"}
    assert [b["label"] for b in channels["signal_box"]["bins"]] == list(PERIODS)
    # blinded: the box "data" are the background expectation, the pre-fit background
    for b in channels["signal_box"]["bins"]:
        background = [s for s in b["samples"] if s["sample"].startswith("background")]
        assert b["data"] == pytest.approx(sum(s["prefit"] for s in background), rel=1e-6)
    assert "Pre- and post-fit yields" in chain["output"] and "Largest impacts" in chain["output"]


def test_hepdata_submission_is_valid(chain):
    from workflows.publish import validate_submission

    assert validate_submission(chain["hepdata"]) == []
    submission = (chain["hepdata"] / "submission.yaml").read_text()
    assert "workspace.json" in submission and "SIMULATED" in submission


def test_a_foreign_hepdata_directory_is_refused_before_the_fit(chain, tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    before = (chain["results"] / "limits.json").stat().st_mtime_ns
    run = CliRunner().invoke(app, ["fit", "--results", str(chain["results"]), "--hepdata", str(foreign)])
    assert run.exit_code == 1
    assert "is not a HEPData submission" in run.output and "Traceback" not in run.output
    assert (foreign / "notes.txt").read_text() == "keep"
    assert (chain["results"] / "limits.json").stat().st_mtime_ns == before  # nothing was refitted
