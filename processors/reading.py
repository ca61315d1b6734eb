"""Reading a chunk's columns, and the errors that mean its file cannot be read.

The processors turn exactly these errors into a failed chunk (file, entry range,
reason): the bytes of the file cannot be read, or do not follow the schema. Anything
else raised while processing a chunk is a programming error (or the worker running out
of memory): it fails the task, Dask retries it, and the command stops with its traceback.

:data:`READ_ERRORS` is what uproot, awkward and the decompressors raise for damaged
input, as tried in ``tests/e2e/test_reliability_periods.py``: damaged payloads,
compression headers, basket keys and basket fields with every compression ROOT files
use, files truncated while open, columns of the wrong type and missing branches.
"""

from __future__ import annotations

import lzma
import struct
import zlib
from collections.abc import Sequence
from typing import Any

import awkward as ak
import cramjam
import numpy as np
import uproot

from processors.errors import InputError
from processors.schema import BY_NAME


class SchemaError(InputError, ValueError):
    """A column of a chunk that departs from ``shared/SCHEMA.md``."""


#: Errors that mean a chunk's file cannot be read as the schema says.
READ_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # truncated, vanished or unreadable file
    ValueError,  # uproot: wrong entries in a basket, bad checksum or compression header;
    #              awkward: conversions; SchemaError
    KeyError,  # uproot.KeyInFileError: a missing tree or branch
    ak.errors.FieldNotFoundError,  # a branch missing from the chunk's events
    uproot.deserialization.DeserializationError,  # a damaged basket key
    cramjam.DecompressionError,  # ZSTD, LZMA and LZ4 payloads
    zlib.error,  # ZLIB payloads
    lzma.LZMAError,
    struct.error,  # headers too short to unpack
)


def describe(error: BaseException) -> str:
    """The reason recorded for a failed chunk."""
    return f"{type(error).__name__}: {error}"


def read_column(events: Any, name: str) -> np.ndarray:
    """Branch ``name`` of a chunk as a numpy array (this is where I/O happens), checked
    against the schema: dtype and per-event shape."""
    return checked(name, ak.to_numpy(events[name]))


def read_chunk(events: Any, names: Sequence[str]) -> dict[str, np.ndarray]:
    """The branches ``names`` of a chunk as numpy arrays, checked against the schema.

    Where the chunk comes from coffea's Runner, with one ``TTree.arrays`` call on the
    tree the Runner opened: the I/O floor's own call, 7-10 % cheaper than materialising
    the NanoEvents branch by branch (measured, ``benchmarks/RESULTS.md``), and with no
    array cache, so nothing the chunk read outlives it. Other events (built by hand)
    are read branch by branch.
    """
    tree = _runner_tree(events)
    if tree is None:
        return {name: read_column(events, name) for name in names}
    meta = events.metadata
    arrays = tree.arrays(list(names), entry_start=meta["entrystart"], entry_stop=meta["entrystop"],
                         library="np", array_cache=None)
    return {name: checked(name, arrays[name]) for name in names}


def _runner_tree(events: Any) -> Any:
    """The uproot TTree under NanoEvents that coffea's Runner built from an open file
    (None for any other events). coffea keeps the file in its source mapping; the
    attribute names are coffea's (pinned in pyproject.toml), and a coffea without them
    falls back to the NanoEvents reading."""
    meta = getattr(events, "metadata", None) or {}
    factory = getattr(events, "attrs", {}).get("@events_factory")
    handle = getattr(getattr(factory, "_mapping", None), "_file_handle", None)
    if not {"treename", "entrystart", "entrystop"} <= meta.keys():
        return None
    if isinstance(handle, uproot.ReadOnlyFile):
        handle = handle.root_directory
    if not isinstance(handle, uproot.ReadOnlyDirectory):
        return None
    return handle[meta["treename"]]


def checked(name: str, values: np.ndarray) -> np.ndarray:
    """``values`` of branch ``name``, or :class:`SchemaError` if their dtype or per-event
    shape is not the schema's."""
    branch = BY_NAME[name]
    dtype = values.dtype.newbyteorder("=")
    if dtype != branch.dtype or values.shape[1:] != branch.shape:
        dims = "".join(f"[{n}]" for n in values.shape[1:])
        raise SchemaError(f"branch '{name}' is {dtype.name}{dims}, expected {branch.describe()}")
    return values
