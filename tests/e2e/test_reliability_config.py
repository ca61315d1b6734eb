"""Bad configuration through ``na64 process``: refused before any processing.

Every case must exit with code 2 and a message naming the file, the key and the
problem; no cluster is started (the "na64 process: ... on local cluster" line comes
right before the cluster), a new output directory is not created, and an existing
one keeps its summary.json byte for byte.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.eventfiles import electron, write_events
from tests.workflows.processing.test_catalog import alias_bomb
from workflows.cli import app

GOOD = """name: "p"
beam: {particle: e-, energy: 100.0}
eot: 1.0e10
files: [../data/*.root]
"""
GOOD_VARIATIONS = """variations:
  ecal_scale: {kind: energy_scale, ecal: 0.01}
"""

#: (id, catalog text, variations text or None, words the message must hold)
CASES = [
    ("catalog unknown key", GOOD + "luminosity: 3\n", None,
     ["p.yaml", "key 'luminosity'", "unknown key"]),
    ("catalog wrong type", GOOD.replace("eot: 1.0e10", "eot: lots"), None,
     ["p.yaml", "key 'eot'", "valid number", "'lots'"]),
    ("catalog nested unknown key", GOOD + "cuts: {chi2_maximum: 3}\n", None,
     ["p.yaml", "key 'cuts.chi2_maximum'", "unknown key"]),
    ("catalog wrong type of a list", GOOD.replace("files: [../data/*.root]", "files: 3"), None,
     ["p.yaml", "key 'files'", "valid list"]),
    ("catalog missing file", GOOD.replace("../data/*.root", "../data/missing.root"), None,
     ["p.yaml", "key 'files'", "'../data/missing.root' matches no file"]),
    ("catalog not YAML", GOOD + "cuts: {veto_max: [\n", None, ["p.yaml", "not valid YAML"]),
    ("variations unknown key", GOOD,
     GOOD_VARIATIONS.replace("ecal: 0.01}", "ecal: 0.01, colour: red}"),
     ["variations.yaml", "key 'variations.ecal_scale.energy_scale.colour'", "unknown key"]),
    ("variations wrong type", GOOD, GOOD_VARIATIONS.replace("0.01", "much"),
     ["variations.yaml", "key 'variations.ecal_scale.energy_scale.ecal'", "valid number"]),
    ("variations unknown threshold", GOOD,
     "variations:\n  x: {kind: cut, threshold: chi2_maximum, up: 30}\n",
     ["variations.yaml", "key 'variations.x.cut.threshold'", "unknown threshold 'chi2_maximum'"]),
    ("variations unknown period", GOOD,
     "variations:\n  x: {kind: energy_scale, ecal: 0.01, periods: ['2099']}\n",
     ["variations.yaml", "key 'variations.x.periods'", "no period named '2099'"]),
    # hostile files (review of 2026-12-01)
    ("catalog alias bomb", alias_bomb(9), None,
     ["p.yaml", "more than 100000 values once its aliases are expanded"]),
    ("catalog nested 20000 deep", GOOD + "cuts: " + "[" * 20000 + "]" * 20000 + "\n", None,
     ["p.yaml", "line 5: nested deeper than 64 levels"]),
    ("catalog not UTF-8", GOOD.encode() + b"description: caf\xe9\n", None,
     ["p.yaml", "is not UTF-8 text (byte 0xe9 on line 5"]),
    ("catalog duplicate key", GOOD + "eot: 2.0e10\n", None,
     ["p.yaml", "key 'eot': defined twice (lines 3 and 5)"]),
    ("variations duplicate name", GOOD,
     ("variations:\n  chi2: {kind: cut, threshold: chi2_max, down: 16.9, up: 27.9}\n"
      "  chi2: {kind: energy_scale, ecal: 0.01}\n"),
     ["variations.yaml", "key 'variations.chi2': defined twice (lines 2 and 3)"]),
    ("catalog period name '..'", GOOD.replace('"p"', '".."'), None,
     ["p.yaml", "key 'name'", "a period name is a directory of the output", "(got '..')"]),
    ("catalog infinite number", GOOD.replace("eot: 1.0e10", "eot: .inf"), None,
     ["p.yaml", "key 'eot'", "finite number", "(got inf)"]),
    ("catalog infinite threshold", GOOD + "cuts: {chi2_max: .inf}\n", None,
     ["p.yaml", "key 'cuts.chi2_max'", "finite number"]),
    ("variations infinite value", GOOD,
     "variations:\n  x: {kind: cut, threshold: chi2_max, up: .inf}\n",
     ["variations.yaml", "key 'variations.x.cut.up'", "finite number"]),
    ("variations down above up", GOOD,
     "variations:\n  chi2: {kind: cut, threshold: chi2_max, down: 27.9, up: 16.9}\n",
     ["variations.yaml", "key 'variations.chi2.cut.down'", "must be below 'up' (16.9) (got 27.9)"]),
    ("variations fractional count", GOOD,
     "variations:\n  straws: {kind: cut, threshold: straw_tracks, up: 1.5}\n",
     ["variations.yaml", "key 'variations.straws.cut.up'", "straw_tracks takes whole numbers"]),
    ("catalog value that looks like markup", GOOD.replace("eot: 1.0e10", 'eot: "[/x][bold]1"'), None,
     ["p.yaml", "key 'eot'", "[/x][bold]1"]),
    ("variations alias bomb", GOOD, alias_bomb(9).replace(GOOD.replace("eot: 1.0e10\n", ""), ""),
     ["variations.yaml", "more than 100000 values once its aliases are expanded"]),
]


@pytest.fixture
def setup(tmp_path):
    write_events(tmp_path / "data" / "a.root", [electron(70.0)] * 5)
    (tmp_path / "catalog").mkdir()
    previous = tmp_path / "previous" / "p"
    previous.mkdir(parents=True)
    (previous / "summary.json").write_text('{"period": "p", "complete": true}\n')
    return tmp_path


def refused(setup: Path, output: Path, *extra: str, command: str = "process") -> str:
    args = [command, "--catalog", str(setup / "catalog")]
    if command != "datasets":
        args += ["--output", str(output)]
    start = time.perf_counter()
    result = CliRunner().invoke(app, [*args, *extra])
    assert result.exit_code == 2, result.output
    assert time.perf_counter() - start < 10
    assert "na64 process:" not in result.output, "the run got as far as starting a cluster"
    assert "Traceback" not in result.output and len(result.output) < 3000, result.output[:3000]
    return " ".join(result.output.split())


def check_untouched(setup: Path) -> None:
    summary = setup / "previous" / "p" / "summary.json"
    assert summary.read_text() == '{"period": "p", "complete": true}\n'
    assert sorted(os.listdir(setup / "previous")) == ["p"]
    assert sorted(os.listdir(setup / "previous" / "p")) == ["summary.json"]


@pytest.mark.parametrize(("catalog", "variations", "words"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_configuration_is_refused_before_any_work(setup, catalog, variations, words):
    (setup / "catalog" / "p.yaml").write_bytes(catalog if isinstance(catalog, bytes) else catalog.encode())
    extra = []
    if variations is not None:
        (setup / "variations.yaml").write_text(variations)
        extra = ["--variations", str(setup / "variations.yaml")]
    for output in (setup / "fresh", setup / "previous"):
        message = refused(setup, output, *extra)
        for w in words:
            assert w in message, (w, message)
    assert not (setup / "fresh").exists()
    check_untouched(setup)


def test_duplicated_period_names_are_refused(setup):
    (setup / "catalog" / "p.yaml").write_text(GOOD)
    (setup / "catalog" / "q.yaml").write_text(GOOD)
    message = refused(setup, setup / "previous")
    assert "q.yaml: key 'name': period 'p' is already defined in" in message
    check_untouched(setup)


def test_missing_variations_file_and_catalog_are_refused(setup):
    (setup / "catalog" / "p.yaml").write_text(GOOD)
    message = refused(setup, setup / "fresh", "--variations", str(setup / "nothing.yaml"))
    assert "nothing.yaml: cannot be read" in message
    result = CliRunner().invoke(app, ["process", "--catalog", str(setup / "no_catalogs"),
                                      "--output", str(setup / "fresh")])
    assert result.exit_code == 2 and "no such catalog directory" in " ".join(result.output.split())
    assert not (setup / "fresh").exists()


#: Hostile catalogs that every command reading a catalog must refuse (id, text, words).
HOSTILE = [c for c in CASES if c[2] is None and c[0].startswith("catalog")
           and c[0] not in ("catalog missing file",)]


@pytest.mark.parametrize("command", ["datasets", "signal"])
@pytest.mark.parametrize(("catalog", "words"), [(c[1], c[3]) for c in HOSTILE],
                         ids=[c[0] for c in HOSTILE])
def test_datasets_and_signal_refuse_bad_catalogs(setup, command, catalog, words):
    (setup / "catalog" / "p.yaml").write_bytes(catalog if isinstance(catalog, bytes) else catalog.encode())
    message = refused(setup, setup / "fresh", command=command)
    for w in words:
        assert w in message, (w, message)
    assert not (setup / "fresh").exists()
