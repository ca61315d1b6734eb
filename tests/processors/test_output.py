"""The processors' typed outputs add up as coffea's accumulators expect."""

from __future__ import annotations

import copy

import numpy as np
from coffea.processor import accumulate

from processors.histograms import book
from processors.output import ChunkFailure, ChunkOutput, ReferenceSums


def _chunk(n: int, file: str, value: float) -> ChunkOutput:
    hists = book(["nominal"], 100.0)
    hists["cutflow"].fill(variation="nominal", step=0, weight=value)
    return ChunkOutput(hists=hists, chunks=1, events=n, physics_events=n - 1, calibration_events=1,
                       has_truth=file == "b", entries_by_file={file: n})


def test_chunks_add_up_field_by_field():
    failure = ChunkFailure("c", 0, 10, "OSError: gone")
    parts = [_chunk(5, "a", 2.0), _chunk(7, "a", 3.0), _chunk(4, "b", 1.0),
             ChunkOutput.failure(failure)]
    total = accumulate(parts)
    assert isinstance(total, ChunkOutput)
    assert (total.chunks, total.failed_chunks, total.events, total.physics_events) == (4, 1, 16, 13)
    assert total.entries_by_file == {"a": 12, "b": 4}
    assert total.has_truth and total.failed == [failure]
    assert total.hists["cutflow"][{"variation": "nominal"}].values()[0] == 6.0


def test_addition_leaves_its_operands_untouched():
    a, b = _chunk(5, "a", 2.0), _chunk(7, "b", 3.0)
    before = copy.deepcopy((a, b))
    total = a + b
    assert (a, b) == before
    assert total.hists["cutflow"] != a.hists["cutflow"]
    assert total.hists["cutflow"][{"variation": "nominal"}].values()[0] == 5.0


def test_a_sum_of_failures_has_no_histograms():
    failures = [ChunkOutput.failure(ChunkFailure("f", i, i + 1, "ValueError: x")) for i in range(3)]
    total = accumulate(failures)
    assert total.hists is None and total.failed_chunks == 3 and len(total.failed) == 3
    total += _chunk(2, "g", 1.0)
    assert total.hists is not None and total.events == 2


def test_reference_sums_keep_one_entry_per_chunk():
    parts = [ReferenceSums(sums={f"f:{i}-{i + 1}": np.full(19, float(i))}) for i in range(4)]
    parts.append(ReferenceSums(failed=[ChunkFailure("f", 9, 10, "OSError: gone")]))
    total = accumulate(parts)
    assert sorted(total.sums) == [f"f:{i}-{i + 1}" for i in range(4)]
    assert total.electrons == 0 + 1 + 2 + 3
    assert len(total.failed) == 1
    assert parts[0].sums.keys() == {"f:0-1"}  # the first operand is not modified
