"""The HEPData submission of a fit: valid for hepdata-validator, and holding the fit's numbers."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from processors.cuts import Thresholds
from processors.errors import OutputError
from workflows.processing.summary import PeriodSummary
from workflows.publish import hepdata_for_results, validate_submission, write_submission
from workflows.publish.hepdata import cm_energy
from workflows.stats.background import Fit, SidebandEstimate
from workflows.stats.exclusion import ALPHA_D, MASS_RATIO, Exclusion, merged_counting_workspace
from workflows.stats.fit import FitReport, PeriodBackground
from workflows.stats.limits import LimitResult
from workflows.stats.limits.result import Scan

MASSES = np.geomspace(1e-3, 1.0, 6)
#: Expected A' events at eps = 1e-4 per mass: none at the first mass (no limit there).
SIGNAL = np.array([0.0, 40.0, 400.0, 900.0, 300.0, 5.0])
N90_EXPECTED = (1.3, 1.7, 2.4, 3.4, 4.6)
N90_OBSERVED = 2.9
PERIODS = {"2022": (4.3e10, 1, 130, 0.21), "2023B": (5.4e10, 0, 151, 0.18)}


def estimate(sideband: str, n: int, central: float) -> SidebandEstimate:
    fits = [Fit("exponential", (10.0, 75.0), central, 0.1 * central, True, {"a": -3.2, "b": 0.11}, 41.5, 52)]
    return SidebandEstimate(sideband, "e_ecal" if sideband == "C" else "e_hcal", (0.0, 50.0), n, central,
                            central * 1.05, math.hypot(0.1, 0.066) * central, 0.1 * central, 0.066 * central,
                            True, "1 of 1 fits used", fits)


def make_report(blinded: bool) -> FitReport:
    backgrounds = []
    for period, (eot, box, c, central) in PERIODS.items():
        empty = SidebandEstimate("A", "e_hcal", (0.0, 1.0), 2, message="sideband A holds 2 events: too few")
        backgrounds.append(PeriodBackground(period, eot, blinded, None if blinded else box, 2, c,
                                            {"C": estimate("C", c, central), "A": empty}))
    scan = Scan((0.0, 5.0), (1.0, 0.05), tuple((1.0, 0.05) for _ in range(5)))
    limit = LimitResult(N90_OBSERVED, N90_EXPECTED, 0.9, "asymptotic", "mu", scan)
    with np.errstate(divide="ignore"):
        scale = np.where(SIGNAL > 0, 1.0 / SIGNAL, np.inf)
    exclusion = Exclusion(MASSES, SIGNAL, None if blinded else N90_OBSERVED * scale,
                          np.outer(N90_EXPECTED, scale), "merged", "asymptotic", 0.9)
    efficiency = [0.0, 0.3, 0.5, 0.5, 0.4, 0.2]
    return FitReport(blinded=blinded, cl=0.9, backgrounds=backgrounds, signal_limit=limit,
                     workspace=Path("workspace.json"), exclusion=exclusion,
                     efficiency_file=Path("signal_efficiency.json"),
                     efficiency_at_masses={p: efficiency for p in PERIODS})


def summary_json(period: str, blinded: bool) -> dict:
    eot, box, c, _ = PERIODS[period]
    return {
        "period": period, "blinded": blinded, "complete": True, "beam_energy": 100.0, "eot": eot,
        "cutflow": [{"cut": "physics_trigger", "events": 84095}, {"cut": "veto", "events": 7606},
                    {"cut": "hcal_zero", "events": 1200 + c}],
        "regions": {"A": 2, "C": c, "box": None if blinded else box},
        "files": {"total": 1, "processed": 1, "entries": {"/data/a.root": 100000}},
        "events": {"read": 100000, "physics_trigger": 90000, "calibration_trigger": 10000,
                   "nonfinite_energies": 0},
        "chunks": {"total": 1}, "thresholds": Thresholds().model_dump(mode="json"),
        "calibration": {"ecal_scale": 1.0, "hcal_scale": 1.0}, "seconds": 1.0,
    }


def summaries(blinded: bool) -> list[PeriodSummary]:
    return [PeriodSummary.from_json(summary_json(p, blinded)) for p in PERIODS]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ws") / "workspace.json"
    path.write_text(json.dumps(merged_counting_workspace(None, 0.39, 0.05, 0.12)))
    return path


@pytest.fixture(scope="module", params=[True, False], ids=["blinded", "unblinded"])
def written(request, tmp_path_factory, workspace) -> tuple[FitReport, Path]:
    report = make_report(request.param)
    directory = tmp_path_factory.mktemp("out") / "hepdata"
    assert write_submission(report, summaries(request.param), workspace, directory) == directory
    return report, directory


def documents(directory: Path) -> list[dict]:
    return list(yaml.safe_load_all((directory / "submission.yaml").read_text()))


def table(directory: Path, name: str) -> dict:
    doc = next(d for d in documents(directory) if d.get("name") == name)
    return yaml.safe_load((directory / doc["data_file"]).read_text())


def column(data: dict, name: str) -> dict:
    found = [v for v in data["dependent_variables"] if v["header"]["name"] == name]
    assert len(found) == 1, [v["header"]["name"] for v in data["dependent_variables"]]
    return found[0]


def values(var: dict) -> list:
    return [v["value"] for v in var["values"]]


def bands(var: dict) -> np.ndarray:
    """5 x n: the band edges -2..+2 sigma from the median and its signed uncertainties."""
    rows = []
    for v in var["values"]:
        err = {e["label"]: e["asymerror"] for e in v["errors"]}
        m = v["value"]
        rows.append([m + err["2 sigma"]["minus"], m + err["1 sigma"]["minus"], m,
                     m + err["1 sigma"]["plus"], m + err["2 sigma"]["plus"]])
    return np.array(rows).T


def test_the_submission_passes_the_validator(written):
    _, directory = written
    assert validate_submission(directory) == []
    assert (directory.parent / "hepdata.tar.gz").is_file()
    names = [d["name"] for d in documents(directory)[1:]]
    assert names == ["Exclusion epsilon", *(f"Exclusion y alphaD {a:g}" for a in ALPHA_D), "Signal efficiency",
                     "Background", "Cutflow 2022", "Cutflow 2023B"]


def broken_table(directory: Path) -> None:
    path = directory / "exclusion_epsilon.yaml"
    data = yaml.safe_load(path.read_text())
    del data["independent_variables"]
    path.write_text(yaml.safe_dump(data))


def wrong_keyword(directory: Path) -> None:
    docs = documents(directory)
    docs[1]["keywords"].append({"name": "energy", "values": ["100 GeV"]})
    (directory / "submission.yaml").write_text(yaml.safe_dump_all(docs))


@pytest.mark.parametrize(("damage", "expected"), [
    (lambda d: (d / "workspace.json").unlink(), "Missing 'additional_resources' file 'workspace.json'"),
    (broken_table, "'independent_variables' is a required property"),
    (lambda d: (d / "notes.txt").write_text("x"), "notes.txt is not referenced"),
    (wrong_keyword, "'energy' is not one of"),
], ids=["no workspace", "table without x", "stray file", "unknown keyword"])
def test_a_broken_submission_gives_messages(written, tmp_path, damage, expected):
    copy = tmp_path / "copy"
    shutil.copytree(written[1], copy)
    damage(copy)
    messages = validate_submission(copy)
    assert any(expected in m for m in messages), messages


def test_observed_limits_only_when_unblinded(written):
    report, directory = written
    for name in ["Exclusion epsilon", *(f"Exclusion y alphaD {a:g}" for a in ALPHA_D)]:
        headers = [v["header"]["name"] for v in table(directory, name)["dependent_variables"]]
        assert any(h.startswith("Expected") for h in headers)
        assert any(h.startswith("Observed") for h in headers) == (not report.blinded), headers
    headers = [v["header"]["name"] for v in table(directory, "Background")["dependent_variables"]]
    assert ("Events observed in the signal box" in headers) == (not report.blinded)


def test_the_epsilon_table_holds_the_exclusion(written):
    report, directory = written
    ex = report.exclusion
    data = table(directory, "Exclusion epsilon")
    x = data["independent_variables"][0]
    assert x["header"] == {"name": "$m_{A'}$", "units": "GeV"}
    # The first mass has no signal, so no limit: it is left out.
    assert values(x) == pytest.approx(MASSES[1:], rel=1e-5)
    expected = column(data, "Expected $\\epsilon$")
    assert bands(expected) == pytest.approx(ex.eps_expected[:, 1:], rel=1e-5)
    qualifiers = {q["name"]: q["value"] for q in expected["qualifiers"]}
    assert qualifiers["CL"] == "90%" and qualifiers["Data"] == "simulated"
    if not report.blinded:
        assert values(column(data, "Observed $\\epsilon$")) == pytest.approx(ex.eps_observed[1:], rel=1e-5)


@pytest.mark.parametrize("alpha", ALPHA_D)
def test_the_y_tables_hold_the_exclusion(written, alpha):
    report, directory = written
    ex = report.exclusion
    data = table(directory, f"Exclusion y alphaD {alpha:g}")
    assert values(data["independent_variables"][0]) == pytest.approx(MASSES[1:] / MASS_RATIO, rel=1e-5)
    expected = column(data, "Expected $y$")
    assert bands(expected) == pytest.approx(ex.y(ex.eps_expected, alpha)[:, 1:], rel=1e-5)
    qualifiers = {q["name"]: q["value"] for q in expected["qualifiers"]}
    assert qualifiers["$\\alpha_D$"] == f"{alpha:g}" and qualifiers["$m_{A'}/m_{\\chi}$"] == "3"
    if not report.blinded:
        observed = column(data, "Observed $y$")
        assert values(observed) == pytest.approx(ex.y(ex.eps_observed, alpha)[1:], rel=1e-5)


def test_no_number_is_infinite_or_nan(written):
    _, directory = written
    for path in directory.glob("*.yaml"):
        text = path.read_text().lower()
        assert ".inf" not in text and ".nan" not in text, path


def test_the_background_table_holds_the_periods(written):
    report, directory = written
    data = table(directory, "Background")
    assert values(data["independent_variables"][0]) == [*PERIODS, "All periods"]
    assert values(column(data, "EOT")) == pytest.approx([p[0] for p in PERIODS.values()] + [9.7e10])
    assert values(column(data, "Events in sideband C")) == [130, 151, 281]
    assert values(column(data, "Events in sideband A")) == [2, 2, 4]
    bkg = column(data, "Expected background in the signal box")
    assert values(bkg) == pytest.approx([0.21, 0.18, 0.39])
    for v, b in zip(bkg["values"], report.backgrounds):
        err = {e["label"]: e["symerror"] for e in v["errors"]}
        assert math.hypot(err["stat"], err["sys,extrapolation"]) == pytest.approx(b.error, rel=1e-5)
    if not report.blinded:
        assert values(column(data, "Events observed in the signal box")) == [1, 0, 1]


def test_the_cutflows_and_efficiencies(written):
    _, directory = written
    data = table(directory, "Cutflow 2023B")
    assert values(data["independent_variables"][0]) == ["physics_trigger", "veto", "hcal_zero"]
    assert values(column(data, "Events")) == [84095, 7606, 1351]
    eff = table(directory, "Signal efficiency")
    assert values(eff["independent_variables"][0]) == pytest.approx(MASSES, rel=1e-5)
    assert values(column(eff, "Efficiency 2022")) == pytest.approx([0.0, 0.3, 0.5, 0.5, 0.4, 0.2])


def test_the_submission_says_what_it_is(written):
    report, directory = written
    top, first = documents(directory)[:2]
    assert top["comment"].startswith("SIMULATED DATA")
    assert ("The signal box is blinded" in top["comment"]) == report.blinded
    assert ("The signal box is unblinded" in top["comment"]) == (not report.blinded)
    resources = {r["location"]: r for r in top["additional_resources"]}
    assert "HistFactory" in resources["workspace.json"]["description"]
    assert resources["workspace.json"]["type"] == "HistFactory"
    assert json.loads((directory / "workspace.json").read_text())["version"] == "1.0.0"
    keywords = {k["name"]: k["values"] for k in first["keywords"]}
    assert keywords["cmenergies"] == [pytest.approx(13.73, abs=0.01)] == [round(cm_energy(100.0), 2)]
    assert keywords["observables"] == ["EPSILON"]
    assert "E- PB --> E- PB A'" in keywords["reactions"] and "Simulated data" in keywords["phrases"]


def test_real_data_are_not_called_simulated(tmp_path, workspace):
    directory = write_submission(make_report(False), summaries(False), workspace, tmp_path / "h", simulated=False)
    assert validate_submission(directory) == []
    text = "".join(p.read_text() for p in directory.glob("*.yaml")).lower()
    assert "simulated" not in text


def test_a_previous_submission_is_replaced_and_other_directories_are_refused(tmp_path, workspace):
    directory = tmp_path / "h"
    write_submission(make_report(False), summaries(False), workspace, directory)
    write_submission(make_report(True), summaries(True), workspace, directory)
    assert validate_submission(directory) == []
    assert "Observed" not in (directory / "exclusion_epsilon.yaml").read_text()
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(OutputError, match="not a HEPData submission"):
        write_submission(make_report(True), summaries(True), workspace, other)
    assert (other / "keep.txt").read_text() == "mine"


def test_from_a_results_directory(tmp_path, workspace):
    results = tmp_path / "results"
    report = make_report(True)
    for s in summaries(True):
        (results / s.period).mkdir(parents=True)
        (results / s.period / "summary.json").write_text(json.dumps(s.to_json()))
    shutil.copy(workspace, results / "workspace.json")
    report.workspace = results / "elsewhere" / "workspace.json"  # moved since the fit: found beside limits.json
    (results / "limits.json").write_text(json.dumps(report.to_json()))
    directory = hepdata_for_results(results, tmp_path / "hepdata")
    assert validate_submission(directory) == []
    assert values(table(directory, "Background")["independent_variables"][0]) == [*PERIODS, "All periods"]


@pytest.mark.parametrize("signal", [None, 0.0], ids=["no exclusion", "no signal at any mass"])
def test_without_limits_the_counts_are_published(tmp_path, workspace, signal):
    report = make_report(True)
    if signal is None:
        report.exclusion = None
    else:
        report.exclusion.signal = np.zeros_like(SIGNAL)
    directory = write_submission(report, summaries(True), workspace, tmp_path / "h")
    assert validate_submission(directory) == []
    names = [d["name"] for d in documents(directory)[1:]]
    counts = ["Background", "Cutflow 2022", "Cutflow 2023B"]
    assert names == (counts if signal is None else ["Signal efficiency", *counts])


def test_relative_paths_as_the_demo_gives_them(tmp_path, workspace, monkeypatch):
    """``results/limits.json`` names ``results/workspace.json``, relative to where the fit
    ran; hepdata_lib works in a scratch directory, so the path must be resolved first."""
    monkeypatch.chdir(tmp_path)
    results = Path("results")
    report = make_report(True)
    for s in summaries(True):
        (results / s.period).mkdir(parents=True)
        (results / s.period / "summary.json").write_text(json.dumps(s.to_json()))
    shutil.copy(workspace, results / "workspace.json")
    report.workspace = results / "workspace.json"
    (results / "limits.json").write_text(json.dumps(report.to_json()))
    directory = hepdata_for_results(results, results / "hepdata")
    assert validate_submission(directory) == []
    assert (directory / "workspace.json").is_file()


def test_reactions_follow_the_periods_beam_particles(tmp_path, workspace):
    """A positron period adds E+ PB --> E+ PB A'; the annihilation E+ E- --> A' is in the
    yield of both beams, so it is a reaction of the limits either way."""
    electrons = write_submission(make_report(True), summaries(True), workspace, tmp_path / "e",
                                 simulated=True)
    mixed = summaries(True)
    mixed[-1] = mixed[-1].model_copy(update={"beam_particle": "e+"})
    both = write_submission(make_report(True), mixed, workspace, tmp_path / "ep", simulated=True)
    assert validate_submission(both) == []

    def reactions(directory: Path) -> set[str]:
        tables = yaml.safe_load_all((directory / "submission.yaml").read_text())
        return {r for t in tables for k in t.get("keywords", []) if k["name"] == "reactions"
                for r in k["values"]}

    assert "E+ PB --> E+ PB A'" not in reactions(electrons)
    assert {"E- PB --> E- PB A'", "E+ E- --> A'", "E- PB --> X"} <= reactions(electrons)
    assert {"E- PB --> E- PB A'", "E+ PB --> E+ PB A'", "E+ E- --> A'",
            "E+ PB --> X"} <= reactions(both)
    assert "electrons and positrons on the lead" in (both / "exclusion_epsilon.yaml").read_text()
    assert "positrons" not in (electrons / "exclusion_epsilon.yaml").read_text()
