"""Derived columns of a dask-awkward array computed per partition with numpy, that keep
dask-awkward's column projection exact.

dask-awkward finds the columns a result needs by running the graph once on typetracers
(arrays of known type and unknown content) and recording which input buffers were
touched. A function that only works on numpy (the processors' numba kernels) cannot run
on a typetracer, and touching its inputs at once, as the usual workaround does, makes
every derived field attached to the events needed by everything read from them (a
histogram of ``run`` would read the ECAL). :func:`derived_column` instead returns, on a
typetracer, a column whose buffer touches the input branches only when the column
itself is touched: a derived field costs its branches only when it is used.

The column's typetracer buffer carries a report (awkward's ``TypeTracerReport``, the
object that records touches) that forwards each touch to the source buffers; buffers
that awkward derives from it (a cast, a slice) keep that report. A column whose data
nobody touched is still computed (its layer is an ancestor of the events it was
attached to) on partitions where its sources were not read: it is then an awkward
placeholder of the right length, which raises if anything reads it.
``tests/workflows/test_explore.py`` checks the projection with
``dask_awkward.necessary_columns``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import awkward as ak
import dask_awkward as dak
import numpy as np
from awkward.typetracer import PlaceholderArray, TypeTracerArray, TypeTracerReport


class _ForwardingReport(TypeTracerReport):
    """A typetracer report that touches the ``sources`` whenever its buffer is touched."""

    def __init__(self, sources: Sequence[TypeTracerArray]):
        super().__init__()
        self.sources = tuple(sources)

    def touch_shape(self, label: str) -> None:
        for source in self.sources:
            source.touch_shape()

    def touch_data(self, label: str) -> None:
        for source in self.sources:
            source.touch_data()


def _data_buffer(layout: Any) -> Any:
    """The innermost buffer of a branch of fixed shape (RegularArrays around a NumpyArray)."""
    while not hasattr(layout, "data"):
        layout = layout.content
    return layout.data


def typetracer_column(events: ak.Array, branches: Sequence[str], dtype: np.dtype) -> ak.Array:
    """On a typetracer partition: a flat column of ``dtype`` whose buffer, when touched,
    touches the buffers of ``branches``."""
    report = _ForwardingReport([_data_buffer(events[b].layout) for b in branches])
    data = TypeTracerArray._new(np.dtype(dtype), (events.layout.length,),
                                form_key="derived:" + ",".join(branches), report=report)
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
        if any(isinstance(_data_buffer(events[b].layout), PlaceholderArray) for b in self.branches):
            # its branches were not read: nothing computed needs this column's values
            from awkward._nplikes.numpy import Numpy

            return ak.Array(ak.contents.NumpyArray(
                PlaceholderArray(Numpy.instance(), (len(events),), self.dtype)))
        return ak.Array(np.asarray(self.compute(events), dtype=self.dtype))


def derived_column(events: dak.Array, compute: Callable[[ak.Array], np.ndarray],
                   branches: Sequence[str], dtype: np.dtype | type, label: str) -> dak.Array:
    """A flat column computed partition by partition by ``compute`` (numpy in, one value
    per event out), which reads only ``branches`` of the partition."""
    fn = _PartitionColumn(compute, branches, np.dtype(dtype))
    return dak.map_partitions(fn, events, label=label, meta=meta_column(np.dtype(dtype)),
                              traverse=False)
