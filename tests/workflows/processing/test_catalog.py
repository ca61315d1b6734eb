"""Run-period catalogs: the shipped ones load, bad ones are refused with file, key and problem."""

from __future__ import annotations

import math
import os
import threading
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from processors.cuts import Thresholds
from processors.errors import ConfigurationError
from workflows.processing.catalog import CatalogError, load_catalog, load_period, load_signal_samples

DATASETS = Path(__file__).resolve().parents[3] / "datasets"

#: EOT of the electron-mode periods as the seeds give them.
SEED_EOT = {"2016": 4.3e10, "2017": 5.4e10, "2018": 1.87e11, "2021": 6.0e10,
            "2022": 6.3e11, "2023": 4.4e11, "2024": 5.2e11}
#: Positron-mode periods: (beam energy GeV, e+ on target) as the seeds give them (seeds/001,
#: seeds/003), and the box edge at 0.5 E0.
SEED_POSITRON = {"2022-positron": (100.0, 1.0e10), "2023-positron": (70.0, 1.6e10),
                 "2024-positron": (70.0, 2.25e10), "2025-positron": (40.0, 9.25e9)}

GOOD = """name: "p"
beam: {particle: e-, energy: 100.0}
eot: 1.0e10
files: [data/*.root]
"""


def test_shipped_catalogs():
    demo = load_catalog(DATASETS, require_files=False)
    # one positron period in the demo's directory, the other positron runs beside it
    assert [p.name for p in demo if p.beam.particle == "e+"] == ["2023-positron"]
    extra = load_catalog(DATASETS / "positron", require_files=False)
    periods = [*demo, *extra]
    electrons = [p for p in periods if p.beam.particle == "e-"]
    positrons = [p for p in periods if p.beam.particle == "e+"]
    assert {p.name: p.eot for p in electrons} == SEED_EOT
    assert {p.name: (p.beam.energy, p.eot) for p in positrons} == SEED_POSITRON
    for p in electrons:
        assert p.beam.energy == 100.0
    for p in positrons:
        assert p.cuts.box_ecal_max == pytest.approx(0.5 * p.beam.energy)
    for p in demo:
        assert p.patterns()[0] == DATASETS / "data" / p.name / "*.root"
    for p in extra:
        assert p.patterns()[0] == DATASETS / "positron" / "data" / p.name / "*.root"


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


# --- Hostile YAML: every file is read by one safe loader (workflows.processing.config_yaml) ---------

def alias_bomb(levels: int = 9) -> str:
    """The "billion laughs": each anchor repeats the previous one nine times (9**levels values)."""
    lines = ["l0: &a0 [lol,lol,lol,lol,lol,lol,lol,lol,lol]"]
    lines += [f"l{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return GOOD.replace("eot: 1.0e10\n", "") + "x:\n" + "".join(f"  {line}\n" for line in lines) \
        + f"eot: *a{levels - 1}\n"


def refused_quickly(tmp_path: Path, content: str | bytes, seconds: float = 2.0,
                    max_length: int = 400) -> str:
    path = tmp_path / "p.yaml"
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    start = time.perf_counter()
    with pytest.raises(CatalogError) as err:
        load_period(path)
    assert time.perf_counter() - start < seconds
    message = str(err.value)
    assert message.startswith(f"{path}: "), message
    assert len(message) < max_length, message[:1000]
    return message


def test_alias_bomb_is_refused_quickly_with_a_short_message(tmp_path):
    bomb = alias_bomb(9)  # ~500 bytes, 387 million values once expanded
    assert len(bomb) < 600
    message = refused_quickly(tmp_path, bomb)
    assert "more than 100000 values once its aliases are expanded" in message
    assert "lol" not in message


def test_moderate_aliases_are_accepted(tmp_path):
    text = GOOD.replace("files: [data/*.root]", "files: &f [data/*.root]") + \
        "cuts: &c {chi2_max: 20.0}\nx-unused: [*f, *c]\n"
    write(tmp_path, text.replace("x-unused: [*f, *c]\n", "description: &d shared\n"))
    assert load_period(tmp_path / "p.yaml").description == "shared"
    merged = GOOD + "beam: &b {particle: e-, energy: 100.0}\n"
    write(tmp_path, merged.replace("beam: {particle: e-, energy: 100.0}\n", "")
          .replace("beam: &b {particle: e-, energy: 100.0}\n",
                   "beam:\n  <<: {particle: e+, energy: 100.0}\n  particle: e-\n"))
    assert load_period(tmp_path / "p.yaml").beam.particle == "e-"  # merge keys: explicit wins


def test_recursive_alias_is_refused(tmp_path):
    message = refused_quickly(tmp_path, GOOD + "cuts: &loop [*loop]\n")
    assert "line 5" in message and "refers to a collection that contains it" in message


@pytest.mark.parametrize(("text", "line"), [
    (GOOD + "cuts: " + "[" * 20000 + "]" * 20000 + "\n", 5),
    (GOOD + "cuts: " + "{a: " * 20000 + "1" + "}" * 20000 + "\n", 5),
    # the 65th level is the key of the mapping that starts on line 68
    (GOOD + "cuts:\n" + "".join(" " * i + f"k{i}:\n" for i in range(1, 200)), 68),
], ids=["flow sequences", "flow mappings", "block mappings"])
def test_deep_nesting_is_refused(tmp_path, text, line):
    message = refused_quickly(tmp_path, text)
    assert f"line {line}: nested deeper than 64 levels" in message


def test_non_utf8_is_refused_naming_the_file(tmp_path):
    message = refused_quickly(tmp_path, GOOD.encode() + b"description: caf\xe9\n")
    assert "is not UTF-8 text" in message and "0xe9" in message and "line 5" in message


def test_too_large_file_is_refused(tmp_path):
    message = refused_quickly(tmp_path, GOOD + "#" * (1 << 20) + "\n")
    assert "larger than the 1 MiB" in message


def test_fifo_and_directory_are_refused_without_reading(tmp_path):
    os.mkfifo(tmp_path / "fifo.yaml")  # reading it would wait for a writer forever
    # Should the loader open it anyway, a writer turns the hang into a failure.
    threading.Thread(target=lambda: time.sleep(3) or open(tmp_path / "fifo.yaml", "w").close(),
                     daemon=True).start()
    (tmp_path / "dir.yaml").mkdir()
    for name in ("fifo.yaml", "dir.yaml"):
        with pytest.raises(CatalogError, match=f"{name}: cannot be read: not a regular file"):
            load_period(tmp_path / name)


@pytest.mark.parametrize(("text", "key", "lines"), [
    (GOOD + "eot: 2.0e10\n", "eot", (3, 5)),
    (GOOD.replace("energy: 100.0}", "energy: 100.0, energy: 150.0}"), "beam.energy", (2, 2)),
    (GOOD + "cuts:\n  chi2_max: 20\n  veto_max: 0.4\n  chi2_max: 30\n", "cuts.chi2_max", (6, 8)),
    (GOOD + "x: [{a: 1}, {b: 2, b: 3}]\n", "x.1.b", (5, 5)),
    (GOOD + "description: a\n'description': b\n", "description", (5, 6)),
], ids=["top level", "flow mapping", "nested", "in a list", "quoted"])
def test_duplicate_keys_are_refused_at_every_level(tmp_path, text, key, lines):
    message = refused_quickly(tmp_path, text)
    assert f"key '{key}': defined twice (lines {lines[0]} and {lines[1]})" in message


@pytest.mark.parametrize(("value", "problem"), [
    ("1" * 5000, "cannot read the value"),
    ("2022-13-45", "cannot read the value"),
])
def test_unreadable_scalars_are_refused_with_the_line(tmp_path, value, problem):
    message = refused_quickly(tmp_path, GOOD + f"description: {value}\n")
    assert problem in message and "line 5" in message


def test_long_wrong_values_are_not_echoed(tmp_path):
    message = refused_quickly(tmp_path, GOOD.replace("eot: 1.0e10", f"eot: {list(range(20000))}"))
    assert "key 'eot'" in message and "valid number" in message
    many = GOOD.replace("files: [data/*.root]", f"files: {list(range(5000))}")
    message = refused_quickly(tmp_path, many, max_length=21 * 300)
    assert message.count("\n") == 20 and "and 4980 more problems" in message


# --- Names that become paths -------------------------------------------------------------

@pytest.mark.parametrize("name", ['".."', '"."', '".hidden"', '"../../etc"', '"a/b"', '"a b"',
                                  '"-rf"', '""', f'"{"x" * 101}"', "", "null", "true", "[a]"])
def test_period_name_must_be_a_safe_directory_name(tmp_path, name):
    """The name is the period's directory under --output: one plain path component."""
    message = refused(tmp_path, GOOD.replace('name: "p"', f"name: {name}"))
    assert f"{tmp_path / 'p.yaml'}: key 'name'" in message, message


@pytest.mark.parametrize("name", ["2022", "run-2022_b.v2", "_x", "2022B"])
def test_plain_period_names_are_accepted(tmp_path, name):
    assert load_period(write(tmp_path, GOOD.replace('"p"', f'"{name}"'))).name == name


# --- Every number finite -----------------------------------------------------------------

@pytest.mark.parametrize(("change", "key"), [
    (("eot: 1.0e10", "eot: .inf"), "eot"),
    (("eot: 1.0e10", "eot: .nan"), "eot"),
    (("eot: 1.0e10", "eot: inf"), "eot"),  # the text 'inf', converted by the model
    (("energy: 100.0", "energy: .inf"), "beam.energy"),
    (("energy: 100.0", "energy: 100.0, intensity: .inf"), "beam.intensity"),
    (("eot: 1.0e10", "eot: 1.0e10\ncalibration: {ecal_scale: .inf}"), "calibration.ecal_scale"),
    (("eot: 1.0e10", "eot: 1.0e10\ncalibration: {hcal_scale: .nan}"), "calibration.hcal_scale"),
    (("eot: 1.0e10", "eot: 1.0e10\ncuts: {chi2_max: .inf}"), "cuts.chi2_max"),
    (("eot: 1.0e10", "eot: 1.0e10\ncuts: {box_ecal_max: .inf}"), "cuts.box_ecal_max"),
    (("eot: 1.0e10", "eot: 1.0e10\ncuts: {srd_max: .inf}"), "cuts.srd_max"),
    (("eot: 1.0e10", "eot: 1.0e10\ncuts: {sideband_c_ecal_min: .inf}"), "cuts.sideband_c_ecal_min"),
    (("eot: 1.0e10", "eot: 1.0e10\ncuts: {max_angle: .nan}"), "cuts.max_angle"),
])
def test_numbers_must_be_finite(tmp_path, change, key):
    message = refused(tmp_path, GOOD.replace(*change))
    assert f"key '{key}': Input should be a finite number" in message, message


def test_thresholds_must_be_finite():
    with pytest.raises(ValidationError, match="finite number"):
        Thresholds(veto_max=math.inf)


# --- Signal catalogs: A' samples of a data period --------------------------------------------------

SIGNAL = """name: "p_m16p7MeV"
files: [signal/*.root]
signal: {mass: 0.0167, generated: 20000, period: "p"}
"""


def with_signal(tmp_path: Path, text: str = SIGNAL, period: str = GOOD) -> Path:
    write(tmp_path, period.replace("eot: 1.0e10", "eot: 1.0e10\ncuts: {chi2_max: 30.0}\n"
                                   "calibration: {ecal_scale: 1.02}\nhcal_modules: [0, 1]"))
    (tmp_path / "signal").mkdir(exist_ok=True)
    (tmp_path / "signal" / "a.root").write_bytes(b"")
    (tmp_path / "s.yaml").write_text(text)
    return tmp_path


def test_data_catalog_loading_skips_signal_catalogs(tmp_path):
    periods = load_catalog(with_signal(tmp_path))
    assert [p.name for p in periods] == ["p"]
    with pytest.raises(CatalogError, match="no period named 'p_m16p7MeV'"):
        load_catalog(tmp_path, ["p_m16p7MeV"])
    with pytest.raises(CatalogError, match=r"s\.yaml: key 'signal': a signal-sample catalog"):
        load_period(tmp_path / "s.yaml")
    (tmp_path / "p.yaml").unlink()
    with pytest.raises(CatalogError, match="holds no data-period catalogs"):
        load_catalog(tmp_path)


def test_signal_sample_inherits_its_data_period(tmp_path):
    (sample,) = load_signal_samples(with_signal(tmp_path))
    (data,) = load_catalog(tmp_path)
    assert (sample.name, sample.mass, sample.generated, sample.data_period) == ("p_m16p7MeV", 0.0167, 20000, "p")
    p = sample.period
    assert p.name == "p_m16p7MeV" and p.source == tmp_path / "s.yaml"
    assert (p.beam, p.eot, p.cuts, p.calibration, p.hcal_modules, p.reference_events) == \
        (data.beam, data.eot, data.cuts, data.calibration, data.hcal_modules, data.reference_events)
    assert p.cuts.chi2_max == 30.0 and p.hcal_modules == (0, 1)
    assert p.resolve_files() == [(tmp_path / "signal" / "a.root").resolve()]
    assert "0.0167 GeV" in p.description and "period p" in p.description


def test_signal_sample_overrides(tmp_path):
    text = SIGNAL + "calibration: {ecal_scale: 0.98}\nreference_events: 500\ndescription: theirs\n"
    (sample,) = load_signal_samples(with_signal(tmp_path, text.replace("period: \"p\"", "period: p")))
    assert sample.period.calibration.ecal_scale == 0.98 and sample.period.calibration.hcal_scale == 1.0
    assert sample.period.reference_events == 500 and sample.period.description == "theirs"
    assert sample.period.cuts.chi2_max == 30.0  # the rest is still the period's


def test_no_signal_catalogs_is_an_empty_list(tmp_path):
    write(tmp_path, GOOD)
    assert load_signal_samples(tmp_path) == []


@pytest.mark.parametrize(("change", "key", "problem"), [
    (("generated: 20000, ", ""), "signal.generated", "required key is missing"),
    (("generated: 20000", "generated: -4"), "signal.generated", "greater than 0"),
    (("generated: 20000", "generated: 2.0e4"), "signal.generated", "valid integer"),
    (("generated: 20000", "generated: true"), "signal.generated", "valid integer"),
    (("mass: 0.0167", "mass: 0"), "signal.mass", "greater than 0"),
    (("mass: 0.0167", "mass: .nan"), "signal.mass", "finite number"),
    (('period: "p"', 'period: "2099"'), "signal.period", "no data period named '2099'"),
    (('name: "p_m16p7MeV"', 'name: "p"'), "name", "already defined"),
    (('name: "p_m16p7MeV"', 'name: "../up"'), "name", "directory of the output"),
    (("files: [signal/*.root]", "files: [nowhere/*.root]"), "files", "matches no file"),
    (("files: [signal/*.root]\n", "files: [signal/*.root]\nbeam: {particle: e-, energy: 80.0}\n"),
     "beam", "inherits it from its data period"),
    (("files: [signal/*.root]\n", "files: [signal/*.root]\nhcal_modules: [0]\n"),
     "hcal_modules", "inherits it from its data period"),
    (("}", ", seed: 4}"), "signal.seed", "unknown key"),
])
def test_bad_signal_catalogs_are_refused(tmp_path, change, key, problem):
    with_signal(tmp_path, SIGNAL.replace(*change))
    with pytest.raises(CatalogError) as err:
        load_signal_samples(tmp_path)
    message = str(err.value)
    assert f"key '{key}'" in message and problem in message, message
    assert "s.yaml" in message or (key == "name" and "p.yaml" in message), message


def test_two_samples_of_one_period_and_mass_are_refused(tmp_path):
    with_signal(tmp_path)
    (tmp_path / "t.yaml").write_text(SIGNAL.replace("p_m16p7MeV", "other"))
    with pytest.raises(CatalogError, match=r"t\.yaml: key 'signal.mass': period p already has a "
                                           r"sample at 0.0167 GeV in .*s\.yaml"):
        load_signal_samples(tmp_path)
