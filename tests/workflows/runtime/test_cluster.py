"""The local cluster's forked workers: the environment they run with."""

from __future__ import annotations

import os

from workflows.runtime.cluster import WORKER_MALLOC, WORKER_THREADS, ClusterOptions, dask_client


def _environ() -> dict[str, str | None]:
    return {k: os.environ.get(k) for k in (*WORKER_THREADS, *WORKER_MALLOC)}


def test_local_workers_have_one_blas_thread_and_our_allocator_settings():
    with dask_client(ClusterOptions(workers=1)) as client:
        (env,) = client.run(_environ).values()
    expected = {k: os.environ.get(k, v) for k, v in {**WORKER_THREADS, **WORKER_MALLOC}.items()}
    assert env == expected
    assert env["OMP_NUM_THREADS"] == os.environ.get("OMP_NUM_THREADS", "1")
