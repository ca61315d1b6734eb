"""The start-up patches still find what they patch in the pinned packages."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys

import pytest

from workflows.runtime import patches


@pytest.mark.parametrize("patch", sorted(patches.TARGETS))
def test_each_patch_target_exists(patch):
    module, attribute = patches.TARGETS[patch]
    assert hasattr(importlib.import_module(module), attribute), (
        f"{patch}: {module}.{attribute} is gone; the patch no longer does anything")
    assert callable(getattr(patches, patch))


def test_every_patch_declares_its_target():
    declared = {name for name in dir(patches) if not name.startswith("_")
                and callable(getattr(patches, name)) and getattr(patches, name).__module__ == patches.__name__}
    assert declared == set(patches.TARGETS)


def test_pandas_probe_is_removed_and_only_it():
    """In a fresh interpreter (clusters started by other tests have patched this one)."""
    code = ("from distributed import versions\n"
            "from workflows.runtime.patches import skip_pandas_version_probe\n"
            "before = [p[0] for p in versions.optional_packages]\n"
            "skip_pandas_version_probe()\n"
            "print(before, [p[0] for p in versions.optional_packages])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, after = (ast.literal_eval(part + "]") for part in out.stdout.strip()[:-1].split("] "))
    assert "pandas" in before
    assert after == [name for name in before if name != "pandas"]
