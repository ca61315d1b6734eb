"""coffea's Runner on the Dask cluster, configured the same way for every pass over a period.

The chunking of a period's files, the shower-reference pass and the main pass all go
through :func:`coffea_runner`.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workflows.processing.period import ProcessOptions


def coffea_runner(client, options: ProcessOptions, metadata_cache: MutableMapping, desc: str,
                  checkpointer=None, status: bool = True):
    """A Runner over ``client`` with the chunk size, retries and progress bar of ``options``
    (``desc`` names the bar; ``status`` False: no bar), checkpointing with ``checkpointer``."""
    from coffea import processor
    from coffea.nanoevents import BaseSchema

    executor = processor.DaskExecutor(
        client=client, status=status and options.progress, retries=options.retries, desc=desc,
        treereduction=8,
    )
    return processor.Runner(
        executor=executor,
        schema=BaseSchema,
        chunksize=options.chunksize,
        align_clusters=True,
        metadata_cache=metadata_cache,
        skipbadfiles=False,
        checkpointer=checkpointer,
    )
