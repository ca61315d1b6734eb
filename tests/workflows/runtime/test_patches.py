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


def test_numba_blas_probe_skipped_and_blas_still_usable():
    """In a fresh interpreter: the kernels load without scipy.linalg; a jitted np.dot
    still works (it imports scipy's BLAS when it is compiled)."""
    code = ("import sys\n"
            "from workflows.runtime.patches import skip_numba_blas_probe, skip_numba_extensions\n"
            "skip_numba_extensions(); skip_numba_blas_probe()\n"
            "from processors import kernels, tally\n"
            "kernels.warm_up(); tally.warm_up()\n"
            "print('scipy.linalg' in sys.modules)\n"
            "import numba, numpy as np\n"
            "dot = numba.njit(lambda a, b: np.dot(a, b))\n"
            "print(dot(np.ones(3), np.arange(3.0)))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "3.0"]
