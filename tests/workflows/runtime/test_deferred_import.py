"""workflows.runtime.deferred_import: a deferred module runs only when something reads from it."""

from __future__ import annotations

import importlib
import sys

import pytest

from workflows.runtime.deferred_import import defer, is_deferred, load


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A fresh package ``deferme`` whose modules count how often they were executed."""
    root = tmp_path / "deferme"
    (root / "heavy").mkdir(parents=True)
    (root / "__init__.py").write_text("runs = []\n")
    (root / "heavy" / "__init__.py").write_text(
        "import deferme\ndeferme.runs.append('heavy')\nVALUE = 42\n")
    (root / "heavy" / "part.py").write_text(
        "import deferme\ndeferme.runs.append('part')\nPART = 'p'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield importlib.import_module("deferme")
    for name in [m for m in sys.modules if m == "deferme" or m.startswith("deferme.")]:
        del sys.modules[name]


def test_importing_a_deferred_module_does_not_run_it(package):
    assert defer("deferme.heavy")
    import deferme.heavy as heavy  # what coffea's DaskExecutor does with dask.dataframe

    assert package.runs == [] and is_deferred("deferme.heavy")
    # what code scanning sys.modules reads, answered without running the module
    assert heavy.__file__.endswith("heavy/__init__.py") and heavy.__package__ == "deferme.heavy"
    assert package.runs == []


def test_the_first_attribute_read_runs_it_once_and_replaces_the_placeholder(package):
    defer("deferme.heavy")
    import deferme.heavy as heavy

    assert heavy.VALUE == 42 and heavy.VALUE == 42
    assert package.runs == ["heavy"] and not is_deferred("deferme.heavy")
    assert sys.modules["deferme.heavy"].VALUE == 42
    from deferme.heavy import VALUE

    assert VALUE == 42 and package.runs == ["heavy"]


def test_a_submodule_import_runs_the_package_first(package):
    defer("deferme.heavy")
    from deferme.heavy.part import PART

    assert PART == "p" and package.runs == ["heavy", "part"]


def test_nothing_changes_for_imported_or_missing_modules(package):
    import deferme.heavy  # noqa: F401

    assert not defer("deferme.heavy") and not is_deferred("deferme.heavy")
    assert not defer("deferme.absent") and "deferme.absent" not in sys.modules
    assert load("deferme.heavy").VALUE == 42
