"""Memory between chunks: what a worker frees before it reads the next one."""

from __future__ import annotations

import gc


def release_previous_chunk() -> None:
    """Free what earlier chunks left in reference cycles; call at the start of a chunk
    that is read through NanoEvents (the shower-reference pass; the main pass reads with
    one ``TTree.arrays`` call and no array cache, :func:`processors.reading.read_chunk`,
    and leaves no such garbage).

    Each chunk read through NanoEvents leaves cyclic garbage behind (uproot's file, tree and branch objects,
    coffea's NanoEvents mapping) that holds the chunk's raw baskets and cached arrays;
    only Python's rare full collections free it, so a worker's memory grows with the
    number of chunks it has read (measured: 250 to 750 MB over 50 chunks of 100k
    events) instead of staying set by the chunk size. A full collection per chunk keeps
    it flat, but costs ~130 ms in a process whose imports the collector must scan; it
    is done where the long-lived objects are frozen out of the scans (the local
    cluster's workers, see workflows.runtime.worker_preload and
    workflows.runtime.cluster), where it costs a few ms.
    """
    if gc.get_freeze_count():
        gc.collect()
