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

from processors import invisible, reference_processor, tally  # noqa: F401
from processors.kernels import warm_up
from workflows.runtime.patches import (
    skip_numba_blas_probe,
    skip_numba_extensions,
    skip_pandas_version_probe,
)

skip_numba_extensions()
skip_numba_blas_probe()
warm_up()
tally.warm_up()
skip_pandas_version_probe()

# Everything above lives as long as the worker: keep it out of the garbage collector's
# scans (processors.chunk_memory.release_previous_chunk collects once per NanoEvents chunk), and
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
