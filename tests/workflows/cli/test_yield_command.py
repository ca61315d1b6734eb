"""``na64 yield --json``: one JSON object with bremsstrahlung, annihilation and their sum."""

import json

import pytest
from typer.testing import CliRunner

from workflows.cli import app

KEYS = {"mass", "energy", "threshold", "particle", "epsilon", "sigma_pb",
        "bremsstrahlung_per_eot", "annihilation_per_eot", "yield_per_eot"}


def run_json(*args: str) -> dict:
    result = CliRunner().invoke(app, ["yield", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)  # the whole output is the one object


def test_yield_json_object():
    last = run_json("--mass", "0.0167", "--energy", "150")
    assert set(last) == KEYS
    assert last["mass"] == 0.0167 and last["energy"] == 150.0 and last["threshold"] == 75.0
    assert last["epsilon"] == 1e-4 and last["particle"] == "e-"
    # DMG4 quotes 3643 pb for 16.7 MeV at 150 GeV (DarkPhotons.cc); ours is within a few per cent.
    assert last["sigma_pb"] == pytest.approx(3643.0, rel=0.04)
    assert 0 < last["yield_per_eot"] < 1e-9
    assert last["annihilation_per_eot"] == 0.0  # E_R = 0.27 GeV, far below the box threshold
    assert last["yield_per_eot"] == last["bremsstrahlung_per_eot"]


def test_yield_resonance_for_both_beams():
    e_minus = run_json("--mass", "0.25", "--energy", "100")
    assert e_minus["annihilation_per_eot"] > 10 * e_minus["bremsstrahlung_per_eot"] > 0
    assert e_minus["yield_per_eot"] == pytest.approx(
        e_minus["bremsstrahlung_per_eot"] + e_minus["annihilation_per_eot"], rel=1e-12)
    e_plus = run_json("--mass", "0.2675", "--energy", "70", "--particle", "e+")
    assert e_plus["particle"] == "e+"
    assert e_plus["annihilation_per_eot"] > 1000 * e_plus["bremsstrahlung_per_eot"] > 0


def test_yield_table_names_both_processes():
    result = CliRunner().invoke(app, ["yield", "--mass", "0.3", "--particle", "e+"])
    assert result.exit_code == 0, result.output
    for key in ("bremsstrahlung_per_eot", "annihilation_per_eot", "yield_per_eot"):
        assert key in result.output


def test_yield_refuses_nonsense():
    result = CliRunner().invoke(app, ["yield", "--mass", "-1"])
    assert result.exit_code == 2


def test_yield_refuses_an_unknown_particle():
    result = CliRunner().invoke(app, ["yield", "--mass", "0.25", "--particle", "mu-"])
    assert result.exit_code == 2
    assert "--particle 'mu-'" in result.output and "e- or e+" in result.output
    assert "Traceback" not in result.output
