"""Where the work runs: a Dask client for a local cluster, a scheduler, or a batch system.

The local cluster's workers are forked from multiprocessing's fork server, which has
imported the worker's whole stack once (:mod:`workflows.runtime.worker_preload`: distributed,
coffea, uproot, the processors, the numba kernels loaded from their cache). Spawned
workers would each import it again and load the kernels on their first chunk (about
two seconds of CPU per worker), and take over a second to shut down; forked ones start
ready and exit at once. The fork server runs with the workers' environment: one thread
for numpy's BLAS (as Dask sets it) and glibc's allocator keeping freed memory for the
next chunk instead of handing it back to the kernel and faulting it in again.

What the client itself loads is kept to what it uses: no dashboard unless asked for
(bokeh), coffea's unused ``dask.dataframe`` import deferred, and no pandas import for
distributed's version report in a local cluster (1.5-2 s of imports in all).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

BatchSystem = Literal["slurm", "htcondor"]


@dataclass(frozen=True)
class ClusterOptions:
    """How to get workers. Default: a LocalCluster with one single-threaded worker per core."""

    scheduler: str | None = None
    cluster: BatchSystem | None = None
    workers: int | None = None
    memory: str = "2GiB"
    walltime: str = "01:00:00"
    queue: str | None = None
    cores_per_job: int = 1
    job_extra: tuple[str, ...] = ()
    local_directory: str | None = None
    log_directory: str | None = None  # batch job logs (default: the batch system's)
    #: the local cluster's dashboard (its link is printed); off by default, as serving
    #: it costs every command 0.7 s of start-up (bokeh)
    dashboard: bool = False

    def describe(self) -> str:
        if self.scheduler:
            return f"scheduler {self.scheduler}"
        if self.cluster:
            return f"{self.cluster} jobs x {self.workers or 1}"
        return f"local cluster, {self.workers or default_workers()} workers"


#: Imported by the fork server before it forks any worker.
WORKER_PRELOAD = "workflows.runtime.worker_preload"

#: glibc allocator settings of the local workers. Dask's default for spawned workers,
#: MALLOC_TRIM_THRESHOLD_=65536, returns every freed chunk array to the kernel (and,
#: being set, pins the mmap threshold at 128 KiB), so each chunk's arrays are faulted in
#: anew; these keep up to the thresholds' worth of freed memory for the next chunk (the
#: peak stays set by the chunk size). Variables set in the environment win.
WORKER_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(256 * 2**20),
                 "MALLOC_TRIM_THRESHOLD_": str(512 * 2**20)}


#: Dask settings of the local cluster (without ``--dashboard``). The workers' statistical
#: profiler samples every thread's stack every 10 ms, for the dashboard's profile page;
#: work stealing moves queued tasks between workers, and the chunks of a pass are equal
#: tasks that the scheduler already hands out as workers free up (root-task queuing).
#: Neither serves a local run: together they cost ~15 % of the workers' and 25 % of the
#: client's CPU in a 3M-event run (benchmarks/RESULTS.md).
LOCAL_CLUSTER_CONFIG = {"distributed.worker.profile.enabled": False,
                        "distributed.scheduler.work-stealing": False}

#: One thread for numpy's BLAS per worker, as distributed's nannies set it for the workers
#: they spawn (``distributed.nanny.pre-spawn-environ`` in distributed.yaml). Written out
#: rather than read from dask's configuration: that key exists only once distributed
#: is imported (0.5 s), and the fork server is started before, so it was read as empty.
WORKER_THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def _worker_environ() -> dict[str, str]:
    """The environment of the local workers: one BLAS thread, our allocator settings;
    variables set in the environment win."""
    env = {**WORKER_THREADS, **WORKER_MALLOC}
    return {k: os.environ.get(k, v) for k, v in env.items()}


def start_fork_server() -> bool:
    """Start the fork server of the local workers (once per process; returns False where
    the platform has none). It imports :data:`WORKER_PRELOAD` in the background, so
    calling this early lets the imports overlap with the client's own start-up."""
    import multiprocessing
    from multiprocessing import forkserver

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return False
    multiprocessing.get_context("forkserver").set_forkserver_preload([WORKER_PRELOAD])
    env = _worker_environ()
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with _sigint_ignored():  # inherited by the fork server, hence by every worker
            forkserver.ensure_running()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    global _FORK_SERVER_STOP
    if _FORK_SERVER_STOP is None:
        import atexit

        _FORK_SERVER_STOP = atexit.register(_stop_fork_server)
    return True


_FORK_SERVER_STOP = None


def _stop_fork_server() -> None:
    """At exit: end the fork server at once. It has no more use (the cluster is closed), it
    may still be importing (a command that failed early), and until it ends it holds the
    client's stdout and stderr (``na64 process | tee log`` would wait for it)."""
    import signal
    from multiprocessing import forkserver

    pid = getattr(getattr(forkserver, "_forkserver", None), "_forkserver_pid", None)
    if pid:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """SIGINT ignored while child processes are started: Ctrl-C in a terminal reaches the
    whole process group, and the local workers should not each die with a traceback; the
    main process stops the run and closes the cluster (which ends the workers)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _freeze_worker_state():
    """A worker plugin: once a local worker is up, freeze its objects out of the garbage
    collector's scans (as the fork server froze its imports), so that the per-chunk
    collection of processors.chunk_memory.release_previous_chunk only scans what the
    chunks create (about 2 ms instead of 15 ms per chunk)."""
    from distributed import WorkerPlugin

    class FreezeWorkerState(WorkerPlugin):
        name = "na64-freeze-worker-state"

        def setup(self, worker) -> None:
            import gc

            gc.collect()
            gc.freeze()

    return FreezeWorkerState()


def prepare(opts: ClusterOptions) -> None:
    """Start, in the background, what the cluster of ``opts`` will need (for a local
    cluster: the fork server and its imports), so that it overlaps with the caller's own
    start-up (imports, catalog checks). Nothing for a scheduler or a batch system."""
    if not (opts.scheduler or opts.cluster):
        start_fork_server()


def default_workers() -> int:
    """One worker per usable core."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def _batch_cluster(opts: ClusterOptions):
    import dask_jobqueue

    common = dict(
        cores=opts.cores_per_job,
        processes=opts.cores_per_job,
        memory=opts.memory,
        walltime=opts.walltime,
        queue=opts.queue,
        log_directory=opts.log_directory,
        local_directory=opts.local_directory,
    )
    if opts.cluster == "slurm":
        return dask_jobqueue.SLURMCluster(job_extra_directives=list(opts.job_extra), **common)
    if opts.cluster == "htcondor":
        return dask_jobqueue.HTCondorCluster(
            disk=opts.memory, job_extra_directives=dict(s.split("=", 1) for s in opts.job_extra),
            **common)
    raise ValueError(f"unknown batch system {opts.cluster!r} (use slurm or htcondor)")


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    """Only critical messages from logger ``name`` for a while."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _close(client) -> None:
    """Close a client; after the scheduler was lost, without the traceback that distributed
    logs when closing cancels its reconnection attempts (the caller reports the loss)."""
    if client.status in ("running", "closed"):
        client.close()
        return
    with _quiet("distributed.client"):
        try:
            client.close(timeout=10)
        except Exception:  # nothing left to close properly
            pass


@contextlib.contextmanager
def dask_client(opts: ClusterOptions, wait_timeout: float = 600.0) -> Iterator:
    """A connected ``distributed.Client``, closed (and its cluster stopped) on exit."""
    from distributed import Client, LocalCluster

    from workflows.runtime.deferred_import import defer
    from workflows.runtime.patches import keep_fork_server_preload, skip_pandas_version_probe

    defer("dask.dataframe")  # imported by coffea's DaskExecutor, unused: see the module
    if opts.scheduler and opts.cluster:
        raise ValueError("give either a scheduler address or a batch system, not both")
    if opts.scheduler:
        client = Client(opts.scheduler, timeout="30s")
        try:
            yield client
        finally:
            _close(client)
        return
    if opts.cluster:
        cluster = _batch_cluster(opts)
        n = opts.workers or 1
        cluster.scale(n * opts.cores_per_job)
        client = Client(cluster)
        try:
            client.wait_for_workers(1, timeout=wait_timeout)
            yield client
        finally:
            client.close()
            cluster.close()
        return
    import dask

    n = opts.workers or default_workers()
    method = "forkserver" if start_fork_server() else "spawn"
    if method == "forkserver":
        keep_fork_server_preload()
        skip_pandas_version_probe()
    # For the cluster's lifetime (the nannies pass it on to the workers they start, and to
    # those they restart): how workers are started, and no per-worker sampling profiler
    # nor work stealing unless the dashboard is asked for (LOCAL_CLUSTER_CONFIG).
    config = {"distributed.worker.multiprocessing-method": method,
              **({} if opts.dashboard else LOCAL_CLUSTER_CONFIG)}
    with dask.config.set(config):
        cluster = LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True,
            dashboard_address=":0" if opts.dashboard else None,
            local_directory=opts.local_directory,
        )
        client = Client(cluster)
        if method == "forkserver":
            client.register_plugin(_freeze_worker_state())
        try:
            yield client
        finally:
            # Closing cancels the progress bar's scheduler feed, which distributed logs as
            # an error: after an error or Ctrl-C the traceback on its way up still holds
            # the bar (the caller reports what happened), and after a normal run the feed
            # polls every 100 ms while the forked workers stop faster than that.
            with _quiet("distributed.scheduler"):
                client.close()
                cluster.close()
