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
    values: np.ndarray = ak.to_numpy(events[name])
    branch = BY_NAME[name]
    dtype = values.dtype.newbyteorder("=")
    if dtype != branch.dtype or values.shape[1:] != branch.shape:
        dims = "".join(f"[{n}]" for n in values.shape[1:])
        raise SchemaError(f"branch '{name}' is {dtype.name}{dims}, expected {branch.describe()}")
    return values
