"""``na64 yield --json``: the last line is the machine-readable result."""

import json

import pytest
from typer.testing import CliRunner

from workflows.cli import app


def test_yield_json_last_line():
    result = CliRunner().invoke(app, ["yield", "--mass", "0.0167", "--energy", "150", "--json"])
    assert result.exit_code == 0, result.output
    last = json.loads(result.output.strip().splitlines()[-1])
    assert set(last) == {"mass", "energy", "threshold", "epsilon", "sigma_pb", "yield_per_eot"}
    assert last["mass"] == 0.0167 and last["energy"] == 150.0 and last["threshold"] == 75.0
    assert last["epsilon"] == 1e-4
    # DMG4 quotes 3643 pb for 16.7 MeV at 150 GeV (DarkPhotons.cc); ours is within a few per cent.
    assert last["sigma_pb"] == pytest.approx(3643.0, rel=0.04)
    assert 0 < last["yield_per_eot"] < 1e-9


def test_yield_refuses_nonsense():
    result = CliRunner().invoke(app, ["yield", "--mass", "-1"])
    assert result.exit_code == 2
