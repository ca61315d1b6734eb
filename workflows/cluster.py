"""Where the work runs: a Dask client for a local cluster, a scheduler, or a batch system."""

from __future__ import annotations

import contextlib
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

    def describe(self) -> str:
        if self.scheduler:
            return f"scheduler {self.scheduler}"
        if self.cluster:
            return f"{self.cluster} jobs x {self.workers or 1}"
        return f"local cluster, {self.workers or default_workers()} workers"


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
def dask_client(opts: ClusterOptions, wait_timeout: float = 600.0) -> Iterator:
    """A connected ``distributed.Client``, closed (and its cluster stopped) on exit."""
    from distributed import Client, LocalCluster

    if opts.scheduler and opts.cluster:
        raise ValueError("give either a scheduler address or a batch system, not both")
    if opts.scheduler:
        client = Client(opts.scheduler, timeout="30s")
        try:
            yield client
        finally:
            client.close()
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
    n = opts.workers or default_workers()
    cluster = LocalCluster(
        n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
        local_directory=opts.local_directory,
    )
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()
