"""Systematics of ``na64 fit`` on really processed files.

Two hand-built periods (sideband C: E_ECAL rising exponentially from 50 to 80 GeV;
sideband A: E_HCAL above 1 GeV) are processed by ``na64 process --variations`` with five
entries: an ECAL scale, the box edge (47/53 GeV), a one-sided (up only) sideband-C edge,
an uncorrelated HCAL scale and a one-sided (down only) HCAL box edge. The fit turns each
entry into one nuisance on the box background (the extrapolation redone on the
variation's sidebands) and, with an efficiency table holding the variations, on the
signal under the same name.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pyhf
import pytest
from typer.testing import CliRunner

from processors.cuts import Thresholds
from processors.errors import ConfigurationError
from tests.eventfiles import calibration_electrons, electron, hcal_deposit, write_catalog, write_events
from workflows.cli import app
from workflows.processing.results import read_results
from workflows.signal.efficiency import EfficiencyTable
from workflows.stats.background import estimate_box_background
from workflows.stats.exclusion import mass_grid, merged_counting_workspace, multibin_exclusion
from workflows.stats.fit import FitError, FitReport, fit_results, model_inputs, period_background
from workflows.stats.limits import upper_limit
from workflows.stats.systematics import (
    REFERENCE_MASS,
    check_variations,
    model_systematics,
    variation_nuisances,
)
from workflows.stats.systematics_file import DEFAULT_SYSTEMATICS, load_systematics

VARIATIONS = """variations:
  ecal_scale: {kind: energy_scale, ecal: 0.01}
  box_edge: {kind: cut, threshold: box_ecal_max, down: 47.0, up: 53.0}
  sideband_c_edge: {kind: cut, threshold: sideband_c_ecal_min, up: 55.0}
  hcal_scale: {kind: energy_scale, hcal: 0.05, correlated: false}
  box_hcal: {kind: cut, threshold: box_hcal_max, down: 0.5}
"""
ENTRIES = ("ecal_scale", "box_edge", "sideband_c_edge", "box_hcal")  # correlated
PERIODS = ("p1", "p2")
TABLE_MASSES = (0.002, 0.02, 0.2, 0.9)


def events(seed: int, n_c: int = 300, n_a: int = 60) -> list[dict]:
    rng = np.random.default_rng(seed)
    b = 0.15  # sideband C: density exp(b E_ECAL) on [50, 80] GeV
    e_c = np.log(np.exp(b * 50) + rng.uniform(size=n_c) * (np.exp(b * 80) - np.exp(b * 50))) / b
    out = [electron(float(e)) for e in e_c]
    e_a, h_a = rng.uniform(5, 45, n_a), 1.0 + rng.gamma(3.0, 4.0, n_a)
    out += [electron(float(e), hcal=hcal_deposit(float(h))) for e, h in zip(e_a, h_a)]
    return calibration_electrons(300, seed=seed) + out


def process(root: Path, variations: Path | None, *extra: str) -> None:
    args = ["process", "--catalog", str(root / "catalog"), "--output", str(root / "out"), "--workers", "1"]
    if variations is not None:
        args += ["--variations", str(variations)]
    result = CliRunner().invoke(app, [*args, *extra])
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fitsyst")
    for i, name in enumerate(PERIODS):
        write_events(root / "data" / name / "a.root", events(10 + i), step=200)
        write_catalog(root / "catalog", name, [f"../data/{name}/*.root"], eot=1e11 * (i + 1))
    (root / "variations.yaml").write_text(VARIATIONS)
    process(root, root / "variations.yaml")
    return root


@pytest.fixture(scope="module")
def results(root) -> Path:
    return root / "out"


def efficiency_table(path: Path, drop: str | None = None) -> Path:
    """Nominal efficiencies, and per variation a mass- and period-dependent change."""
    nominal = {"p1": [0.2, 0.5, 0.6, 0.5], "p2": [0.3, 0.55, 0.65, 0.6]}
    shift = {"ecal_scale": 0.03, "box_edge": 0.08, "sideband_c_edge": 0.02, "hcal_scale": 0.01,
             "box_hcal": 0.04}
    variations: dict[str, dict[str, list[float]]] = {}
    for name, s in shift.items():
        for sign, suffix in ((1, "up"), (-1, "down")):
            if (name, suffix) in (("sideband_c_edge", "down"), ("box_hcal", "up")):
                continue
            variations[f"{name}_{suffix}"] = {
                p: [e * (1 + sign * s * (1 + k + 0.5 * j)) for j, e in enumerate(v)]
                for k, (p, v) in enumerate(nominal.items())}
    if drop:
        variations.pop(drop)
    path.write_text(json.dumps({"masses": list(TABLE_MASSES), "efficiency": nominal,
                                "variations": variations}))
    return path


@pytest.fixture(scope="module")
def fitted(results, tmp_path_factory):
    out = tmp_path_factory.mktemp("fit")
    table = efficiency_table(out / "eff.json")
    report = fit_results(results, output=out, efficiency=table, method="asymptotic", n_masses=4)
    return report, out, EfficiencyTable.read(table)


def modifiers(spec: dict) -> dict[str, dict[str, dict]]:
    """Box sample name -> modifier name -> modifier."""
    return {s["name"]: {m["name"]: m for m in s["modifiers"]} for s in spec["channels"][0]["samples"]}


def test_box_edge_up_gives_more_background_on_processed_files(results):
    periods = read_results(results)
    nuisances = {v.name: v for v in variation_nuisances(periods, None)}
    assert set(nuisances) == {*ENTRIES, "hcal_scale"}
    for shift in nuisances["box_edge"].background:
        # a larger box (53 GeV) takes in more of the extrapolated spectrum, a smaller one less
        assert shift.down < shift.nominal < shift.up, shift
    for shift in nuisances["ecal_scale"].background:
        # extrapolated from the variation's own (shifted) spectra: the estimate moves
        # (its direction depends on how the fitted slope and range change: not asserted)
        assert shift.up != shift.nominal and shift.down != shift.nominal, shift
    for shift in nuisances["sideband_c_edge"].background:  # one-sided: mirrored
        assert shift.up != shift.nominal and shift.down == pytest.approx(shift.nominal**2 / shift.up)
    for shift in nuisances["box_hcal"].background:  # down only: a smaller box, less background
        assert shift.down < shift.nominal and shift.up == pytest.approx(shift.nominal**2 / shift.down)
    assert nuisances["box_hcal"].measured == ("down",) and nuisances["box_edge"].measured == ("up", "down")
    for p, shift in zip(periods, nuisances["box_edge"].background):
        # the nominal histograms extrapolated with a 53 GeV box give the same: what the
        # processor put into the variation's sideband C is the nominal one above 53 GeV
        alone = estimate_box_background(p.hists, Thresholds(box_ecal_max=53.0), p.summary.beam_energy)
        assert shift.up == pytest.approx(alone["C"].central + alone["A"].central, rel=1e-6)
        assert shift.nominal == pytest.approx(period_background(p).background)


def test_one_modifier_per_variation_on_signal_and_background(fitted):
    report, out, table = fitted
    spec = json.loads((out / "workspace.json").read_text())
    mods = modifiers(spec)
    model = pyhf.Workspace(spec).model()
    records = {v.name: v for v in report.systematics.variations}
    for name in ENTRIES:
        assert model.config.param_set(name).n_parameters == 1
        for p in PERIODS:
            sig, bkg = mods[f"signal_{p}"][name], mods[f"background_{p}"][name]
            assert sig["type"] == bkg["type"] == "normsys"
            side, key, index = ("down", "lo", 1) if name == "box_hcal" else ("up", "hi", 0)
            ratio = table.at(p, REFERENCE_MASS, f"{name}_{side}") / table.at(p, REFERENCE_MASS)
            assert sig["data"][key] == pytest.approx(float(ratio))
            shift = next(s for s in records[name].background if s.period == p)
            assert bkg["data"]["hi"] == pytest.approx(shift.up / shift.nominal)
            assert bkg["data"]["lo"] == pytest.approx(shift.down / shift.nominal)
            assert records[name].signal_ratios[p][index] == pytest.approx(float(ratio))
    # the one-sided entries are mirrored multiplicatively
    for sample in ("signal_p1", "background_p2"):
        for name in ("sideband_c_edge", "box_hcal"):
            data = mods[sample][name]["data"]
            assert data["lo"] == pytest.approx(1 / data["hi"])
    assert records["sideband_c_edge"].one_sided and records["box_hcal"].one_sided
    assert not records["box_edge"].one_sided
    assert report.systematics.reference_mass == REFERENCE_MASS


def test_uncorrelated_variation_is_one_parameter_per_period(fitted):
    report, out, _ = fitted
    spec = json.loads((out / "workspace.json").read_text())
    mods = modifiers(spec)
    params = pyhf.Workspace(spec).model().config.par_names
    assert "hcal_scale" not in params and {"hcal_scale_p1", "hcal_scale_p2"} <= set(params)
    for p, other in (("p1", "p2"), ("p2", "p1")):
        assert f"hcal_scale_{p}" in mods[f"signal_{p}"] and f"hcal_scale_{p}" in mods[f"background_{p}"]
        assert f"hcal_scale_{p}" not in mods[f"signal_{other}"]
        assert f"hcal_scale_{p}" not in mods[f"background_{other}"]
    merged = {n.name for n in report.systematics.merged}
    assert {"hcal_scale_p1", "hcal_scale_p2", *ENTRIES} <= merged


def test_fixed_uncertainties_come_from_the_file(fitted):
    report, out, _ = fitted
    fixed = load_systematics(DEFAULT_SYSTEMATICS)
    mods = modifiers(json.loads((out / "workspace.json").read_text()))
    for p in PERIODS:
        signal = mods[f"signal_{p}"]
        for key, s in fixed.systematics.items():
            name = key if s.correlated else f"{key}_{p}"
            if s.value == 0:
                assert name not in signal
            else:
                assert signal[name]["data"]["hi"] == pytest.approx(1 + s.value)
        assert not any(n.startswith(("eot_", "sig_eff_")) for n in signal)
    recorded = {f.name: f for f in report.systematics.fixed}
    assert {k: (f.value, f.source) for k, f in recorded.items()} == {
        k: (s.value, s.source) for k, s in fixed.systematics.items()}
    assert recorded["eot"].parameters == []


def strip(spec: dict, names: set[str]) -> dict:
    """``spec`` without the modifiers named ``names``."""
    spec = json.loads(json.dumps(spec))
    for channel in spec["channels"]:
        for sample in channel["samples"]:
            sample["modifiers"] = [m for m in sample["modifiers"] if m["name"] not in names]
    return spec


def test_limits_with_all_uncertainties_are_not_below_stats_only(fitted):
    report, out, _ = fitted
    names = set(report.systematics.parameters)
    spec = json.loads((out / "workspace.json").read_text())
    assert names <= set(pyhf.Workspace(spec).model().config.par_names)
    full = upper_limit(spec, method="asymptotic")
    stats = upper_limit(strip(spec, names), method="asymptotic")
    assert full.expected[2] >= stats.expected[2]
    # the box-edge shift (+-25 % of the background) is not small: the limit gets worse
    assert full.expected[2] > 1.01 * stats.expected[2]
    b, db = report.background, report.background_error
    merged_stats = upper_limit(merged_counting_workspace(None, b, db, 0.0), method="asymptotic")
    assert report.signal_limit.expected[2] > 1.01 * merged_stats.expected[2]


def test_multibin_masses_carry_their_own_signal_ratios(results, fitted):
    _, _, table = fitted
    periods = read_results(results)
    backgrounds = [period_background(p) for p in periods]
    for b in backgrounds:
        b.box_observed = None
    variations = variation_nuisances(periods, table, backgrounds)
    fixed = load_systematics(DEFAULT_SYSTEMATICS)
    masses = mass_grid(4)
    from workflows.stats.exclusion import PeriodSignal

    signals = [PeriodSignal(p.name, p.summary.eot, 100.0, 50.0, table.at(p.name, masses)) for p in periods]
    inputs = model_inputs(backgrounds, {"p1": 0.4, "p2": 0.6})
    for i in (1, 3):
        extra = model_systematics(inputs, variations, fixed, float(masses[i]))
        (sig,) = [s for s in extra["box_edge"] if s.sample == "signal"]
        expected = table.at("p2", masses[i], "box_edge_up") / table.at("p2", masses[i])
        assert sig.up[1] / inputs[1].signal == pytest.approx(float(expected))
    kwargs = dict(blinded=True, method="asymptotic")
    with_syst = multibin_exclusion(masses, signals, lambda s: model_inputs(backgrounds, s), **kwargs,
                                   extra_for=lambda i, ins: model_systematics(ins, variations, fixed,
                                                                              float(masses[i])))
    stats = multibin_exclusion(masses, signals, lambda s: model_inputs(backgrounds, s), **kwargs)
    live = np.isfinite(stats.mu_expected[2])
    assert live.any()
    assert (with_syst.mu_expected[2][live] > stats.mu_expected[2][live]).all()


def test_limits_json_round_trip_and_version_1(fitted):
    report, out, _ = fitted
    data = json.loads((out / "limits.json").read_text())
    assert data["schema_version"] == 2
    again = FitReport.from_json(data)
    assert again.systematics == report.systematics
    assert again.to_json() == data
    old = {k: v for k, v in data.items() if k != "systematics"}
    old["schema_version"] = 1
    assert FitReport.from_json(old).systematics is None


def test_table_without_a_variation_is_refused(results, tmp_path):
    with pytest.raises(FitError, match="lacks variations box_edge_down.*na64 signal --variations"):
        fit_results(results, output=tmp_path, efficiency=efficiency_table(tmp_path / "e.json", "box_edge_down"),
                    method="asymptotic", n_masses=2)


def test_old_summaries_are_refused(results):
    periods = read_results(results)
    old = dataclasses.replace(periods[1], summary=periods[1].summary.model_copy(update={"variations": {
        k: v.model_copy(update={"thresholds": None}) for k, v in periods[1].summary.variations.items()}}))
    with pytest.raises(FitError, match=r"periods p2: .*older version.*na64 process --variations"):
        check_variations([periods[0], old])


def test_different_variation_sets_exit_2(root, tmp_path):
    other = tmp_path / "r"
    shutil.copytree(root, other, ignore=shutil.ignore_patterns("out"))
    process(other, other / "variations.yaml", "--period", "p1")
    process(other, None, "--period", "p2")
    result = CliRunner().invoke(app, ["fit", "--results", str(other / "out"), "--method", "asymptotic"])
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert "different variation sets" in message and "periods p2: no variations" in message
    assert "periods p1: box_edge_down" in message and "na64 process --variations" in message


BAD = {
    "missing source": ("aprime_yield: {value: 0.1, sample: signal}", "systematics.aprime_yield.source",
                       "required key is missing"),
    "blank source": ("aprime_yield: {value: 0.1, sample: signal, source: ' '}",
                     "systematics.aprime_yield.source", "name the source"),
    "negative value": ("srd_efficiency: {value: -0.02, sample: signal, source: seeds/002}",
                       "systematics.srd_efficiency.value", "greater than or equal to 0"),
    "unknown key": ("srd_efficiency: {value: 0.02, sample: signal, source: seeds/002, correlate: false}",
                    "systematics.srd_efficiency.correlate", "unknown key"),
    "unknown sample": ("x: {value: 0.02, sample: sidebands, source: estimate}", "systematics.x.sample",
                       "signal"),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_systematics_file_names_file_and_key(tmp_path, case):
    text, key, reason = BAD[case]
    path = tmp_path / "syst.yaml"
    path.write_text("systematics:\n  " + text + "\n")
    with pytest.raises(ConfigurationError) as err:
        load_systematics(path)
    assert f"{path}: key '{key}'" in str(err.value) and reason in str(err.value)


def test_bad_systematics_file_exits_2_via_the_cli(results, tmp_path):
    path = tmp_path / "syst.yaml"
    path.write_text("systematics:\n  aprime_yield: {value: 0.1, sample: signal}\n")
    result = CliRunner().invoke(app, ["fit", "--results", str(results), "--systematics", str(path)])
    assert result.exit_code == 2, result.output
    assert "key 'systematics.aprime_yield.source'" in " ".join(result.output.split())


def test_shipped_file_quotes_its_sources():
    spec = load_systematics(DEFAULT_SYSTEMATICS)
    assert set(spec.systematics) >= {"aprime_yield", "srd_efficiency", "efficiency_correction", "eot"}
    assert spec.systematics["eot"].value == 0 and "no error from EOT" in spec.systematics["eot"].source
    assert all(s.source.startswith(("seeds/", "estimate")) for s in spec.systematics.values())
    assert math.isclose(spec.systematics["aprime_yield"].value, 0.10)
