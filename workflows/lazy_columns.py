"""Derived columns of a dask-awkward array computed per partition with numpy, that keep
dask-awkward's column projection exact.

dask-awkward finds the columns a result needs by running the graph once on typetracers
(arrays of known type and unknown content) and recording which input buffers were
touched. A function that only works on numpy (the processors' numba kernels) cannot run
on a typetracer, and touching its inputs at once, as the usual workaround does, makes
every derived field attached to the events needed by everything read from them (a
histogram of ``run`` would read the ECAL). :func:`derived_column` instead returns, on a
typetracer, a column whose buffer touches the input branches only when the column's
own data is touched: a derived field costs its branches only when it is used.

This relies on awkward's ``TypeTracerArray`` (the typetracer's buffer type, awkward
2.14): a subclass whose ``touch_data``/``touch_shape`` forward to the source buffers.
Operations on it create new buffers through the class's ``_new``, so the sources are
class attributes of a subclass made for each column. ``tests/workflows/test_explore.py``
checks the projection with ``dask_awkward.necessary_columns``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import awkward as ak
import dask_awkward as dak
import numpy as np
from awkward._nplikes.typetracer import TypeTracerArray


class _DerivedBuffer(TypeTracerArray):
    """A typetracer buffer standing for values computed from ``_sources``."""

    _sources: tuple[TypeTracerArray, ...] = ()

    def touch_data(self) -> None:
        for source in self._sources:
            source.touch_data()

    def touch_shape(self) -> None:
        for source in self._sources:
            source.touch_shape()


def _data_buffer(layout: Any) -> TypeTracerArray:
    """The innermost buffer of a branch of fixed shape (RegularArrays around a NumpyArray)."""
    while not hasattr(layout, "data"):
        layout = layout.content
    data: TypeTracerArray = layout.data
    return data


def typetracer_column(events: ak.Array, branches: Sequence[str], dtype: np.dtype) -> ak.Array:
    """On a typetracer partition: a flat column of ``dtype`` whose data, when touched,
    touches the data of ``branches``."""
    sources = tuple(_data_buffer(events[b].layout) for b in branches)
    buffer_class = type("DerivedBuffer", (_DerivedBuffer,), {"_sources": sources})
    data = buffer_class._new(np.dtype(dtype), (events.layout.length,))
    return ak.Array(ak.contents.NumpyArray(data))


def meta_column(dtype: np.dtype) -> ak.Array:
    """The meta (typetracer of unknown length) of a flat column of ``dtype``."""
    return ak.Array(ak.Array(np.zeros(0, dtype)).layout.to_typetracer(forget_length=True))


class _PartitionColumn:
    """The per-partition function: ``compute(partition)`` on real data, the lazy
    typetracer column otherwise."""

    def __init__(self, compute: Callable[[ak.Array], np.ndarray], branches: Sequence[str],
                 dtype: np.dtype):
        self.compute = compute
        self.branches = tuple(branches)
        self.dtype = np.dtype(dtype)

    def __call__(self, events: ak.Array) -> ak.Array:
        if ak.backend(events) == "typetracer":
            return typetracer_column(events, self.branches, self.dtype)
        values = np.asarray(self.compute(events), dtype=self.dtype)
        return ak.Array(values)


def derived_column(events: dak.Array, compute: Callable[[ak.Array], np.ndarray],
                   branches: Sequence[str], dtype: np.dtype | type, label: str) -> dak.Array:
    """A flat column computed partition by partition by ``compute`` (numpy in, one value
    per event out), which reads only ``branches`` of the partition."""
    fn = _PartitionColumn(compute, branches, np.dtype(dtype))
    return dak.map_partitions(fn, events, label=label, meta=meta_column(np.dtype(dtype)),
                              traverse=False)
