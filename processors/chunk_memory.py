"""Memory between chunks: what a worker frees before it reads the next one."""

from __future__ import annotations

import gc

_CHUNKS = 0


def release_previous_chunk(every: int = 1) -> None:
    """Free what earlier chunks left in reference cycles, at the start of every
    ``every``-th chunk.

    Each chunk read through NanoEvents (the shower-reference pass) leaves cyclic garbage
    behind (uproot's file, tree and branch objects, coffea's NanoEvents mapping) that
    holds the chunk's raw baskets and cached arrays; only Python's rare full collections
    free it, so a worker's memory grows with the number of chunks it has read (measured:
    250 to 750 MB over 50 chunks of 100k events) instead of staying set by the chunk
    size: collect at every chunk there. The main pass reads with one ``TTree.arrays``
    call and no array cache (:func:`processors.reading.read_chunk`), and what its chunks
    leave is small (~0.3 MB): without any collection peak worker RSS grew from 252 to 330
    MiB between 3M and 30M events, with one per chunk it stayed at 264 MiB; but a
    collection costs ~0.1 s in a worker (one every 8 chunks made the 30M-event command
    15 % slower, measured), so the main pass collects every 64 chunks (at most ~20 MB
    of garbage). Only where the long-lived objects are frozen out of the scans (the
    local cluster's workers, see workflows.runtime.worker_preload and
    workflows.runtime.cluster); elsewhere it is left to Python.
    """
    global _CHUNKS
    _CHUNKS += 1
    if gc.get_freeze_count() and _CHUNKS % every == 0:
        gc.collect()
