"""What every local worker needs, imported once in the process that forks the workers.

:func:`workflows.runtime.cluster.dask_client` starts the local cluster's workers from
multiprocessing's fork server and has it import this module first: the Dask worker,
coffea's Runner (whose work function every chunk runs), uproot, the processors, and
the numba kernels loaded for the types the processors pass. Each forked worker then
starts with all of it in memory, instead of every worker importing it again and
loading the kernels on its first chunk.
"""

from __future__ import annotations

import atexit
import gc
import os
import sys
from multiprocessing import forkserver

import distributed  # noqa: F401  the worker itself
import uproot  # noqa: F401  reading the chunks
from coffea import processor  # noqa: F401  the Runner's work function

from processors import invisible, reference  # noqa: F401
from processors.kernels import warm_up
from workflows.runtime.cluster import skip_pandas_version_probe


def _skip_numba_extensions() -> None:
    """The first numba call of a process runs every installed ``numba_extensions`` entry
    point: awkward's and vector's numba support here, 0.25 s of the fork server's start
    that the kernels (plain numpy arrays) never use. Code that passes awkward arrays to
    numba in these workers would call ``ak.numba.register_and_check()`` first."""
    from numba.core import entrypoints

    if hasattr(entrypoints, "_already_initialized"):
        entrypoints._already_initialized = True


_skip_numba_extensions()
warm_up()
skip_pandas_version_probe()

# Everything above lives as long as the worker: keep it out of the garbage collector's
# scans (processors.chunk_memory.release_previous_chunk collects once per chunk), and
# unwritten by them in the forked workers (no copy-on-write of these pages).
gc.collect()
gc.freeze()


def _in_fork_server() -> bool:
    frame = sys._getframe()
    while frame is not None:
        if frame.f_code is forkserver.main.__code__:
            return True
        frame = frame.f_back
    return False


# The fork server has nothing to clean up when its client exits, but tearing down the
# interpreter with this stack loaded takes over half a second, during which it still holds
# the client's stdout and stderr (``na64 process | tee log`` would wait for it). Forked
# workers leave through os._exit and never run this.
if _in_fork_server():
    atexit.register(os._exit, 0)
