"""Run-period catalogs: the shipped ones load, bad ones are refused with file, key and problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from processors.errors import ConfigurationError
from workflows.catalog import CatalogError, load_catalog, load_period

DATASETS = Path(__file__).resolve().parents[1] / "datasets"

#: EOT of the electron-mode periods as the seeds give them.
SEED_EOT = {"2016": 4.3e10, "2017": 5.4e10, "2018": 1.87e11, "2021": 6.0e10,
            "2022": 6.3e11, "2023": 4.4e11, "2024": 5.2e11}

GOOD = """name: "p"
beam: {particle: e-, energy: 100.0}
eot: 1.0e10
files: [data/*.root]
"""


def test_shipped_catalogs():
    periods = load_catalog(DATASETS, require_files=False)
    assert {p.name: p.eot for p in periods} == SEED_EOT
    for p in periods:
        assert p.beam.particle == "e-" and p.beam.energy == 100.0
        assert p.patterns()[0] == DATASETS / "data" / p.name / "*.root"


def write(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "x.root").write_bytes(b"")
    return path


def refused(tmp_path: Path, text: str) -> str:
    write(tmp_path, text)
    with pytest.raises(CatalogError) as err:
        load_catalog(tmp_path)
    return str(err.value)


@pytest.mark.parametrize(("change", "key", "problem"), [
    (("eot: 1.0e10", "eot: lots"), "eot", "valid number"),
    (("eot: 1.0e10", "eot: -3"), "eot", "greater than 0"),
    (("eot: 1.0e10\n", ""), "eot", "required key is missing"),
    (("eot: 1.0e10", "eot: 1.0e10\nluminosity: 3"), "luminosity", "unknown key"),
    (("energy: 100.0", "energy: hundred"), "beam.energy", "valid number"),
    (("particle: e-", "particle: proton"), "beam.particle", "'e-' or 'e+'"),
    (("eot: 1.0e10", "eot: 1.0e10\ncuts: {chi2_maximum: 3}"), "cuts.chi2_maximum", "unknown key"),
    (("eot: 1.0e10", "eot: 1.0e10\ncuts: {veto_max: many}"), "cuts.veto_max", "valid number"),
    (("eot: 1.0e10", "eot: 1.0e10\ncalibration: {ecal_scale: 0}"), "calibration.ecal_scale", "greater than 0"),
    (("eot: 1.0e10", "eot: 1.0e10\nhcal_modules: [0, 7]"), "hcal_modules", "numbered 0-3"),
])
def test_bad_catalog_names_file_key_and_problem(tmp_path, change, key, problem):
    message = refused(tmp_path, GOOD.replace(*change))
    assert str(tmp_path / "p.yaml") in message
    assert f"key '{key}'" in message
    assert problem in message


def test_files_matching_nothing_are_refused(tmp_path):
    message = refused(tmp_path, GOOD.replace("data/*.root", "elsewhere/*.root"))
    assert "key 'files'" in message and "elsewhere/*.root" in message and "matches no file" in message


def test_duplicated_period_names_are_refused(tmp_path):
    write(tmp_path, GOOD, "a.yaml")
    write(tmp_path, GOOD, "b.yaml")
    with pytest.raises(CatalogError, match=r"b\.yaml: key 'name': period 'p' is already defined in .*a\.yaml"):
        load_catalog(tmp_path)


def test_invalid_yaml_and_non_mapping(tmp_path):
    assert "not valid YAML" in refused(tmp_path, "name: [unclosed\n")
    assert "must hold a YAML mapping" in refused(tmp_path, "- just\n- a list\n")


def test_all_problems_reported_together(tmp_path):
    write(tmp_path, GOOD.replace("eot: 1.0e10", "eot: x"), "a.yaml")
    write(tmp_path, GOOD.replace('"p"', '"q"').replace("energy: 100.0", "energy: -1"), "b.yaml")
    with pytest.raises(CatalogError) as err:
        load_catalog(tmp_path)
    assert "a.yaml: key 'eot'" in str(err.value) and "b.yaml: key 'beam.energy'" in str(err.value)


def test_unknown_period_selection(tmp_path):
    write(tmp_path, GOOD)
    with pytest.raises(CatalogError, match="no period named '2099'"):
        load_catalog(tmp_path, ["2099"])


def test_relative_and_absolute_files(tmp_path):
    path = write(tmp_path, GOOD.replace("data/*.root", str(tmp_path / "data" / "x.root")))
    assert load_period(path).resolve_files() == [(tmp_path / "data" / "x.root").resolve()]
    path = write(tmp_path, GOOD)
    assert load_period(path).resolve_files() == [(tmp_path / "data" / "x.root").resolve()]


def test_integer_period_name_is_read_as_text(tmp_path):
    path = write(tmp_path, GOOD.replace('name: "p"', "name: 2022"))
    assert load_period(path).name == "2022"


def test_catalog_error_is_a_configuration_error():
    """The command line maps ConfigurationError to exit code 2; catalog errors are one."""
    assert issubclass(CatalogError, ConfigurationError) and issubclass(CatalogError, ValueError)
    assert CatalogError("x").exit_code == 2
