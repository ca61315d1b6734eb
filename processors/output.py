"""What the processors return for a chunk: typed outputs that add up.

coffea's Runner merges the outputs of the chunks with ``+`` (its accumulators take any
object with ``__add__``), on the workers (tree reduction) and on the client; the sum of
any number of chunks is again a :class:`ChunkOutput` (main pass) or a
:class:`ReferenceSums` (shower-reference pass). ``a + b`` leaves both untouched, ``a +=
b`` adds ``b`` into ``a``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import hist
import numpy as np

__all__ = ["ChunkFailure", "ChunkOutput", "ReferenceSums"]


@dataclass(frozen=True)
class ChunkFailure:
    """A chunk whose file could not be read as the schema says: where, and why."""

    file: str
    entrystart: int
    entrystop: int
    reason: str

    @classmethod
    def of(cls, metadata: dict[str, Any], reason: str) -> ChunkFailure:
        """The failure of the chunk that coffea describes by ``metadata``."""
        return cls(str(metadata["filename"]), int(metadata["entrystart"]),
                   int(metadata["entrystop"]), reason)

    @property
    def order(self) -> tuple[str, int]:
        return (self.file, self.entrystart)


@dataclass
class ChunkOutput:
    """The main pass over one chunk, or over a sum of chunks.

    ``hists`` is None while no chunk of the sum could be read. ``resumed_chunks``
    counts chunks loaded from a checkpoint instead of processed.
    """

    hists: dict[str, hist.Hist] | None = None
    chunks: int = 0
    failed_chunks: int = 0
    resumed_chunks: int = 0
    events: int = 0
    physics_events: int = 0
    calibration_events: int = 0
    nonfinite_events: int = 0
    has_truth: bool = False
    entries_by_file: dict[str, int] = field(default_factory=dict)
    failed: list[ChunkFailure] = field(default_factory=list)

    @classmethod
    def failure(cls, failure: ChunkFailure) -> ChunkOutput:
        """The output of a chunk that could not be read."""
        return cls(chunks=1, failed_chunks=1, failed=[failure])

    def __add__(self, other: ChunkOutput) -> ChunkOutput:
        out = copy.copy(self)
        out.hists = copy.deepcopy(self.hists)
        out.entries_by_file = dict(self.entries_by_file)
        out.failed = list(self.failed)
        out += other
        return out

    def __iadd__(self, other: ChunkOutput) -> ChunkOutput:
        if other.hists is not None:
            if self.hists is None:
                self.hists = copy.deepcopy(other.hists)
            else:
                for name, h in other.hists.items():
                    self.hists[name] += h
        for name in ("chunks", "failed_chunks", "resumed_chunks", "events", "physics_events",
                     "calibration_events", "nonfinite_events"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.has_truth = self.has_truth or other.has_truth
        for name, n in other.entries_by_file.items():
            self.entries_by_file[name] = self.entries_by_file.get(name, 0) + n
        self.failed.extend(other.failed)
        return self


@dataclass
class ReferenceSums:
    """The shower-reference pass over chunks: per chunk (by :func:`chunk_key`), the number
    of reference electrons and the sums of their nine tower fractions and of their squares
    (19 numbers); and the chunks that could not be read.

    The sums stay per chunk (not a running sum), so that the client adds them in a
    fixed order and the reference is bit-identical whatever the number of workers.
    """

    sums: dict[str, np.ndarray] = field(default_factory=dict)
    failed: list[ChunkFailure] = field(default_factory=list)

    @property
    def electrons(self) -> float:
        return float(sum(v[0] for v in self.sums.values()))

    def __add__(self, other: ReferenceSums) -> ReferenceSums:
        out = ReferenceSums(dict(self.sums), list(self.failed))
        out += other
        return out

    def __iadd__(self, other: ReferenceSums) -> ReferenceSums:
        self.sums.update(other.sums)  # chunk keys are unique
        self.failed.extend(other.failed)
        return self


def chunk_key(metadata: dict[str, Any]) -> str:
    """A stable name of a chunk: file and entry range."""
    return f"{metadata['filename']}:{metadata['entrystart']}-{metadata['entrystop']}"
