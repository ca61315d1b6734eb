"""Start-up patches of third-party internals, in one place.

Each one saves a measured fraction of a second per process (benchmarks/RESULTS.md) by
switching off work that this project's processes never need. Each relies on a private
name of another package; :data:`TARGETS` lists them and ``tests/workflows/runtime/
test_patches.py`` fails when a new release of that package renames or removes one, so
that a patch never silently stops working (or starts breaking something).
"""

from __future__ import annotations

#: (module, attribute) that each patch relies on.
TARGETS: dict[str, tuple[str, str]] = {
    "keep_fork_server_preload": ("distributed.utils", "_forkserver_preload_set"),
    "skip_pandas_version_probe": ("distributed.versions", "optional_packages"),
    "skip_numba_extensions": ("numba.core.entrypoints", "_already_initialized"),
    "skip_numba_blas_probe": ("numba.np.linalg", "ensure_blas"),
}


def keep_fork_server_preload() -> None:
    """distributed's first nanny sets the fork server's preload to its own list, importing
    every package of it (pandas among them) in the client first: 0.5-0.9 s. Our fork
    server already runs with ``workflows.runtime.cluster.WORKER_PRELOAD``, so that list
    would be unused."""
    from distributed import utils

    if hasattr(utils, "_forkserver_preload_set"):
        utils._forkserver_preload_set = True


def skip_pandas_version_probe() -> None:
    """distributed's client and every worker import pandas (0.3-0.4 s each) on connecting,
    only to report its version for the consistency check of the cluster's environments.
    The processes of a local cluster with forked workers share one environment by
    construction (the client starts the fork server), so pandas is left out of that
    report there, in the client and (through :mod:`workflows.runtime.worker_preload`)
    the workers."""
    from distributed import versions

    versions.optional_packages[:] = [p for p in versions.optional_packages if p[0] != "pandas"]


def skip_numba_extensions() -> None:
    """The first numba call of a process runs every installed ``numba_extensions`` entry
    point: awkward's and vector's numba support here, 0.25 s of the fork server's start
    that the kernels (plain numpy arrays) never use. Code that passes awkward arrays to
    numba in these workers would call ``ak.numba.register_and_check()`` first."""
    from numba.core import entrypoints

    if hasattr(entrypoints, "_already_initialized"):
        entrypoints._already_initialized = True


def skip_numba_blas_probe() -> None:
    """numba's first call imports ``numba.np.arraymath``, which probes for a BLAS by
    importing ``scipy.linalg`` (0.5 s: scipy's array-API layer imports ``numpy.f2py``).
    The probe's answer only chooses how ``np.correlate`` and ``np.convolve`` form inner
    products in jitted code (BLAS or a loop); the kernels use neither. While
    ``arraymath`` is imported here, the probe answers "no BLAS" (they would loop);
    ``np.dot`` and ``np.linalg`` in jitted code still import scipy's BLAS when used."""
    import sys

    if "numba.np.arraymath" in sys.modules:
        return
    from numba.np import linalg

    original = linalg.ensure_blas

    def no_blas() -> None:
        raise ImportError("BLAS probe skipped at start-up")

    linalg.ensure_blas = no_blas
    try:
        import numba.np.arraymath as arraymath
    finally:
        linalg.ensure_blas = original
    arraymath.ensure_blas = original  # type: ignore[attr-defined]
