"""What the processors return for a chunk: typed outputs that add up.

coffea's Runner merges the outputs of the chunks with ``+`` (its accumulators take any
object with ``__add__``), on the workers (tree reduction) and on the client; the sum of
any number of chunks is again a :class:`ChunkOutput` (main pass) or a
:class:`ReferenceSums` (shower-reference pass). ``a + b`` leaves both untouched, ``a +=
b`` adds ``b`` into ``a``.

Both have a JSON form (``to_json``, with a ``schema_version``; ``from_json`` refuses
an unversioned, newer or malformed document with :class:`InputError`, see
:mod:`processors.jsonio`); histograms are in hist's uhi serialisation, as in
``histograms.json.gz``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from processors.jsonio import Reader, encode_floats, open_document

if TYPE_CHECKING:
    import hist

__all__ = ["CHUNK_OUTPUT_VERSION", "REFERENCE_SUMS_VERSION", "ChunkFailure", "ChunkOutput", "ReferenceSums"]

#: Version of the JSON layout of :meth:`ChunkOutput.to_json`.
CHUNK_OUTPUT_VERSION = 1
#: Version of the JSON layout of :meth:`ReferenceSums.to_json` (2: per energy bin).
REFERENCE_SUMS_VERSION = 2
#: Energy bins of the reference pass, edges in units of the beam energy E0 (of the
#: scaled E_ECAL): the low-energy electrons fill the bins below 0.8 E0, the calibration
#: electrons (E_ECAL within 0.8-1.2 E0) the last one. Finer where the spread changes fast.
REFERENCE_ENERGY_EDGES = (0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4,
                          0.5, 0.65, 0.8, 1.2)
#: Numbers per energy bin and chunk: electrons, the sum of 1/E (GeV^-1), the nine
#: fraction sums and the nine sums of squares.
REFERENCE_BIN_LENGTH = 20
#: The per-chunk array of the reference pass: one row per energy bin.
REFERENCE_SUMS_SHAPE = (len(REFERENCE_ENERGY_EDGES) - 1, REFERENCE_BIN_LENGTH)
_COUNTS = ("chunks", "failed_chunks", "resumed_chunks", "events", "physics_events",
           "calibration_events", "nonfinite_events")


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

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "entrystart": self.entrystart, "entrystop": self.entrystop,
                "reason": self.reason}

    @classmethod
    def read(cls, r: Reader) -> ChunkFailure:
        """The failure in the object ``r`` reads."""
        return cls(r.text("file"), r.integer("entrystart"), r.integer("entrystop"), r.text("reason"))


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
        for name in _COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.has_truth = self.has_truth or other.has_truth
        for name, n in other.entries_by_file.items():
            self.entries_by_file[name] = self.entries_by_file.get(name, 0) + n
        self.failed.extend(other.failed)
        return self

    def to_json(self) -> dict[str, Any]:
        """The counts, ``entries_by_file``, ``failed`` and ``hists`` (name -> hist's uhi
        serialisation, arrays as lists; null while no chunk could be read)."""
        from hist import serialization

        hists = None if self.hists is None else {
            name: _plain(serialization.to_uhi(h)) for name, h in self.hists.items()}
        return {"schema_version": CHUNK_OUTPUT_VERSION, **{name: getattr(self, name) for name in _COUNTS},
                "has_truth": self.has_truth, "entries_by_file": dict(self.entries_by_file),
                "failed": [f.to_json() for f in self.failed], "hists": hists}

    @classmethod
    def from_json(cls, data: Any, source: str = "chunk output") -> ChunkOutput:
        """The output :meth:`to_json` wrote; :class:`InputError` naming ``source`` (and the
        key) for a document without ``schema_version``, of a newer one, or malformed."""
        r, _ = open_document(data, source, "chunk output", CHUNK_OUTPUT_VERSION)
        entries = r.obj("entries_by_file")
        hists = None
        if r.value("hists") is not None:
            h = r.obj("hists")
            hists = {name: _histogram(h, name) for name in h.keys()}
        return cls(hists=hists, **{name: r.integer(name) for name in _COUNTS}, has_truth=r.flag("has_truth"),
                   entries_by_file={name: entries.integer(name) for name in entries.keys()},
                   failed=[ChunkFailure.read(f) for f in r.objects("failed")])


def _plain(obj: Any) -> Any:
    """``obj`` with its numpy arrays and scalars as JSON values (uhi's JSON encoding)."""
    import uhi.io.json

    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if obj is None or isinstance(obj, str | int | float | bool):
        return obj
    return _plain(uhi.io.json.default(obj))


def _with_arrays(obj: Any) -> Any:
    """A copy of a uhi document with the lists under its array keys as numpy arrays, as
    ``json.loads(..., object_hook=uhi.io.json.object_hook)`` gives."""
    import uhi.io
    import uhi.io.json

    if isinstance(obj, dict):
        return uhi.io.json.object_hook({k: v if k in uhi.io.ARRAY_KEYS else _with_arrays(v)
                                        for k, v in obj.items()})
    if isinstance(obj, list):
        return [_with_arrays(v) for v in obj]
    return obj


def _histogram(r: Reader, name: str) -> hist.Hist:
    from hist import serialization

    doc = r.obj(name)  # an object, or InputError
    try:
        h: hist.Hist = serialization.from_uhi(_with_arrays(dict(doc.data)))
    except Exception as e:  # KeyError, TypeError, ValueError...: not a uhi histogram
        raise r.error(name, f"not a histogram in uhi serialisation ({type(e).__name__}: {e})") from None
    return h


@dataclass
class ReferenceSums:
    """The shower-reference pass over chunks: per chunk (by :func:`chunk_key`), an array of
    :data:`REFERENCE_SUMS_SHAPE`: per energy bin (:data:`REFERENCE_ENERGY_EDGES`) the number
    of reference electrons, the sum of their 1/E, the sums of their nine tower fractions and
    of their squares; and the chunks that could not be read.

    The sums stay per chunk (not a running sum), so that the client adds them in a
    fixed order and the reference is bit-identical whatever the number of workers.
    """

    sums: dict[str, np.ndarray] = field(default_factory=dict)
    failed: list[ChunkFailure] = field(default_factory=list)

    @property
    def calibration_electrons(self) -> float:
        """Calibration electrons (the last energy bin)."""
        return float(sum(v[-1, 0] for v in self.sums.values()))

    @property
    def low_energy_electrons(self) -> float:
        """Low-energy physics-trigger electrons (every bin but the last)."""
        return float(sum(v[:-1, 0].sum() for v in self.sums.values()))

    def __add__(self, other: ReferenceSums) -> ReferenceSums:
        out = ReferenceSums(dict(self.sums), list(self.failed))
        out += other
        return out

    def __iadd__(self, other: ReferenceSums) -> ReferenceSums:
        self.sums.update(other.sums)  # chunk keys are unique
        self.failed.extend(other.failed)
        return self

    def to_json(self) -> dict[str, Any]:
        """``sums`` (chunk key -> its rows of numbers per energy bin, non-finite ones
        encoded as in :mod:`processors.jsonio`) and ``failed``."""
        return {"schema_version": REFERENCE_SUMS_VERSION,
                "sums": {key: encode_floats(v) for key, v in self.sums.items()},
                "failed": [f.to_json() for f in self.failed]}

    @classmethod
    def from_json(cls, data: Any, source: str = "reference sums") -> ReferenceSums:
        """The sums :meth:`to_json` wrote; :class:`InputError` naming ``source`` (and the key)
        for a document without ``schema_version``, of a newer one, or malformed."""
        r, _ = open_document(data, source, "reference sums", REFERENCE_SUMS_VERSION)
        s = r.obj("sums")
        sums = {}
        for key in s.keys():
            sums[key] = s.numbers(key, ndim=2)
            if sums[key].shape != REFERENCE_SUMS_SHAPE:
                raise s.error(key, f"{REFERENCE_SUMS_SHAPE[0]} rows of {REFERENCE_SUMS_SHAPE[1]} "
                                   f"numbers expected, got shape {sums[key].shape}")
        return cls(sums, [ChunkFailure.read(f) for f in r.objects("failed")])


def chunk_key(metadata: dict[str, Any]) -> str:
    """A stable name of a chunk: file and entry range."""
    return f"{metadata['filename']}:{metadata['entrystart']}-{metadata['entrystop']}"
