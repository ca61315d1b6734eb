"""Signal catalogs end to end: a signal sample written by "another program" (only
``shared/SCHEMA.md``, via :mod:`tests.eventfiles`), described by a signal catalog beside
the data catalog of its period, measured by ``na64 signal`` through the real processors.

The sample holds, besides calibration-trigger electrons for the shower reference, A'
events (``mc_process`` 6) whose fate under the chain is known event by event:

* ``IN_DEEP`` at 30 GeV and ``IN_EDGE`` at 48.5 GeV land in the box (E_ECAL < 50 GeV,
  nothing in VETO or HCAL, physics trigger);
* ``OUT_EDGE`` at 51.5 GeV fall just outside the box edge (sideband C);
* ``FAIL`` others fail a cut (VETO hit, no beam track) or land in sideband A (HCAL).

So the efficiency is (IN_DEEP + IN_EDGE) / GENERATED, and a box-edge variation with
down = 47 / up = 53 GeV gives IN_DEEP / GENERATED and (IN_DEEP + IN_EDGE + OUT_EDGE) /
GENERATED.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.eventfiles import calibration_electrons, electron, hcal_deposit, write_catalog, write_events
from workflows.cli import app
from workflows.signal.efficiency import EFFICIENCY_FILE, EfficiencyTable

pytestmark = pytest.mark.distributed

IN_DEEP, IN_EDGE, OUT_EDGE = 7, 4, 3
GENERATED = 50
MASS = 0.0167
SAMPLE = "2022_m16p7MeV"

VARIATIONS = """variations:
  box_edge:
    kind: cut
    threshold: box_ecal_max
    down: 47.0
    up: 53.0
  veto_other_period:
    kind: cut
    threshold: veto_max
    down: 0.001
    up: 0.7
    periods: ["2023"]
"""


def aprime(energy: float, **changes) -> dict:
    """An A' -> invisible event: the electron leaves ``energy`` in the ECAL, the rest is missing."""
    return electron(energy, trigger=1, mc_process=6, mc_emiss=100.0 - energy, **changes)


def signal_events() -> list[dict]:
    events = ([aprime(30.0)] * IN_DEEP + [aprime(48.5)] * IN_EDGE + [aprime(51.5)] * OUT_EDGE
              + [aprime(30.0, veto=[1.2, 0.9, 1.0])] * 3                  # VETO fires
              + [aprime(30.0, beam_momentum=np.nan)] * 2                  # no beam track
              + [aprime(30.0, hcal=hcal_deposit(8.0))] * 2)               # sideband A
    return calibration_electrons(300, seed=3) + events


def signal_catalog(generated: int | str | None = GENERATED, mass: float | str = MASS,
                   period: str = "2022", extra: str = "") -> str:
    fields = [f"mass: {mass}", f'period: "{period}"']
    if generated is not None:
        fields.insert(1, f"generated: {generated}")
    return (f'name: "{SAMPLE}"\nfiles: [../signal/*.root]\n'
            f"signal: {{{', '.join(fields)}}}\n{extra}")


def make_catalog(root: Path, text: str | None = None) -> Path:
    """Data catalog of 2022 (with a small data file) and the signal catalog ``text``."""
    catalog = root / "catalog"
    if not (root / "signal" / "aprime.root").exists():
        write_events(root / "signal" / "aprime.root", signal_events(), run=901, step=100)
        write_events(root / "data" / "d.root",
                     calibration_electrons(300) + [electron(100.0, trigger=1)] * 20, step=100)
    write_catalog(catalog, "2022", ["../data/*.root"], eot=1e11)
    (catalog / f"{SAMPLE}.yaml").write_text(signal_catalog() if text is None else text)
    return catalog


def run(*args: str):
    return CliRunner().invoke(app, [*args, "--workers", "1"])


def flat(text: str) -> str:
    """Console output without the line breaks rich adds to fit its width."""
    return text.replace("\n", "")


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("signal_catalog")
    make_catalog(root)
    return root


def test_signal_catalog_efficiency_is_the_box_count_over_generated(sample):
    out = sample / "out"
    result = run("signal", "--catalog", str(sample / "catalog"), "--output", str(out))
    assert result.exit_code == 0, result.output
    eff = json.loads((out / EFFICIENCY_FILE).read_text())
    expected = (IN_DEEP + IN_EDGE) / GENERATED
    assert eff["masses"] == [MASS]
    assert eff["efficiency"] == {"2022": [expected]}
    assert eff["variations"] == {}
    (detail,) = eff["details"]
    assert detail["box"] == IN_DEEP + IN_EDGE and detail["generated"] == GENERATED
    assert detail["sample"] == SAMPLE and detail["catalog"].endswith(f"{SAMPLE}.yaml")
    table = EfficiencyTable.read(out / EFFICIENCY_FILE)
    assert math.isclose(float(table.at("2022", MASS)), expected)
    # processed unblinded with the period's (default) cuts, only the sample's own files
    summary = json.loads((out / "signal" / "processed" / SAMPLE / "summary.json").read_text())
    assert summary["regions"] == {"A": 2, "C": OUT_EDGE, "box": IN_DEEP + IN_EDGE}
    assert summary["events"]["read"] == len(signal_events())
    assert f"{1e3 * MASS:g} MeV" in result.stdout and f"{expected:.3f}" in result.stdout
    # the data period was not simulated for, nor processed as a signal sample
    assert not (out / "signal" / "data").exists()
    assert not (out / "signal" / "processed" / "2022").exists()


def test_variations_change_the_signal_efficiency_as_the_cut_does(sample):
    out = sample / "out_var"
    catalog = sample / "catalog_var"  # another data period, without signal samples
    catalog.mkdir()
    for f in (sample / "catalog").iterdir():
        (catalog / f.name).write_text(f.read_text())
    write_catalog(catalog, "2023", ["../data/*.root"], eot=1e11)
    (sample / "variations.yaml").write_text(VARIATIONS)
    result = run("signal", "--catalog", str(catalog), "--output", str(out),
                 "--variations", str(sample / "variations.yaml"))
    assert result.exit_code == 0, result.output
    eff = json.loads((out / EFFICIENCY_FILE).read_text())
    assert eff["efficiency"] == {"2022": [(IN_DEEP + IN_EDGE) / GENERATED]}
    v = eff["variations"]
    assert v["box_edge_down"] == {"2022": [IN_DEEP / GENERATED]}
    assert v["box_edge_up"] == {"2022": [(IN_DEEP + IN_EDGE + OUT_EDGE) / GENERATED]}
    # a variation of another period is the nominal here (the samples carry all names)
    assert v["veto_other_period_down"] == v["veto_other_period_up"] == eff["efficiency"]
    table = EfficiencyTable.read(out / EFFICIENCY_FILE)
    assert math.isclose(float(table.at("2022", MASS, "box_edge_up")), 14 / 50)
    assert "largest variation" in result.stdout and "-36.4% box_edge_down" in result.stdout  # 4 of 11
    assert eff["details"][0]["variations"]["box_edge_down"] == {"box": IN_DEEP,
                                                                "efficiency": IN_DEEP / GENERATED}


def test_more_box_events_than_generated_is_refused_naming_the_catalog(tmp_path):
    catalog = make_catalog(tmp_path, signal_catalog(generated=5))
    result = run("signal", "--catalog", str(catalog), "--output", str(tmp_path / "out"))
    assert result.exit_code == 2, result.output
    stderr = flat(result.stderr)
    assert f"{SAMPLE}.yaml: key 'signal.generated'" in stderr
    assert "11 events" in stderr and "more than the 5 generated" in stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "out" / EFFICIENCY_FILE).exists()


@pytest.mark.parametrize(("text", "key", "problem"), [
    (signal_catalog(generated=None), "signal.generated", "required key is missing"),
    (signal_catalog(generated=0), "signal.generated", "greater than 0"),
    (signal_catalog(generated=2.5), "signal.generated", "valid integer"),
    (signal_catalog(period="2099"), "signal.period", "no data period named '2099'"),
    (signal_catalog(mass=0), "signal.mass", "greater than 0"),
    (signal_catalog(mass=-0.02), "signal.mass", "greater than 0"),
    (signal_catalog(extra="eot: 1.0e10\n"), "eot", "inherits it from its data period"),
    (signal_catalog(extra="cuts: {chi2_max: 30}\n"), "cuts", "inherits it from its data period"),
    (signal_catalog(extra="colour: red\n"), "colour", "unknown key"),
    (signal_catalog().replace("../signal/*.root", "../nowhere/*.root"), "files", "matches no file"),
])
def test_bad_signal_catalogs_are_refused_with_file_and_key(tmp_path, text, key, problem):
    catalog = make_catalog(tmp_path, text)
    result = run("signal", "--catalog", str(catalog), "--output", str(tmp_path / "out"))
    assert result.exit_code == 2, result.output
    stderr = flat(result.stderr)
    assert f"{SAMPLE}.yaml: key '{key}'" in stderr and problem in stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()  # refused before any work


def test_periods_with_different_masses_are_refused(tmp_path):
    catalog = make_catalog(tmp_path)
    write_catalog(catalog, "2023", ["../data/*.root"], eot=1e11)
    (catalog / "2023_m100MeV.yaml").write_text(
        'name: "2023_m100MeV"\nfiles: [../signal/*.root]\n'
        'signal: {mass: 0.1, generated: 50, period: "2023"}\n')
    result = run("signal", "--catalog", str(catalog), "--output", str(tmp_path / "out"))
    assert result.exit_code == 2, result.output
    stderr = flat(result.stderr)
    assert "2023_m100MeV.yaml: key 'signal.mass'" in stderr
    assert "period 2022 has no signal sample at 0.1 GeV" in stderr
    assert "period 2023 has no signal sample at 0.0167 GeV" in stderr


def test_events_option_is_refused_with_signal_catalogs(tmp_path):
    catalog = make_catalog(tmp_path)
    result = run("signal", "--catalog", str(catalog), "--output", str(tmp_path / "out"),
                 "--events", "500")
    assert result.exit_code == 2 and "--events" in result.stderr


def test_data_processing_skips_signal_catalogs(sample):
    out = sample / "processed_data"
    result = run("process", "--catalog", str(sample / "catalog"), "--output", str(out))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["2022"]
    summary = json.loads((out / "2022" / "summary.json").read_text())
    assert summary["events"]["read"] == 320  # the data file only, not the signal sample
    listing = CliRunner().invoke(app, ["datasets", "--catalog", str(sample / "catalog")])
    assert listing.exit_code == 0, listing.output
    samples = listing.stdout.split("Signal samples")[1]
    assert SAMPLE in samples and "16.7" in samples and f"{GENERATED}" in samples


def test_simulated_samples_are_written_with_signal_catalogs_and_measured_through_them(tmp_path):
    from workflows.processing.catalog import load_catalog, load_signal_samples

    catalog = tmp_path / "catalog"
    write_catalog(catalog, "2022", ["../data/*.root"], eot=1e11)  # no data files needed
    out = tmp_path / "out"
    result = run("signal", "--catalog", str(catalog), "--output", str(out), "--mass", "0.02",
                 "--events", "1500")  # enough calibration triggers (>= 100) for the reference
    assert result.exit_code == 0, result.output
    written = out / "signal" / "catalogs"
    (data,) = load_catalog(written, require_files=False)
    (sample,) = load_signal_samples(written)
    assert data.name == "2022" and sample.name == "2022_m20MeV" and sample.mass == 0.02
    assert sample.data_period == "2022" and sample.period.cuts == data.cuts
    assert sample.generated >= 1500  # A' above threshold, before the trigger acceptance
    eff = json.loads((out / EFFICIENCY_FILE).read_text())
    (detail,) = eff["details"]
    assert detail["generated"] == sample.generated and detail["catalog"] == str(written / f"{sample.name}.yaml")
    assert eff["efficiency"]["2022"] == [detail["box"] / sample.generated]
    assert 0.1 < eff["efficiency"]["2022"][0] <= 1
    # the written catalogs are an ordinary signal-catalog directory: the same numbers again
    again = run("signal", "--catalog", str(written), "--output", str(tmp_path / "again"))
    assert again.exit_code == 0, again.output
    assert json.loads((tmp_path / "again" / EFFICIENCY_FILE).read_text())["efficiency"] == eff["efficiency"]
