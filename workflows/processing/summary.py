"""Turning the merged histograms of a period into its summary, and the typed summary itself.

:class:`PeriodSummary` is what ``summary.json`` holds. Its JSON keeps the keys of the
layout before versioning (``schema_version`` 0: the same document without
``schema_version`` and ``outputs``), so that scripts reading the file by key go on
working; files of a newer version than :data:`SCHEMA_VERSION` are refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import hist
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_serializer, model_validator

from processors.cuts import Thresholds, cut_names
from processors.errors import InputError
from processors.histograms import PROCESS_CODES
from processors.schema import PROCESSES
from processors.variations import NOMINAL, Variation
from workflows.processing.catalog import Calibration

#: Version of the ``summary.json`` layout written by :meth:`PeriodSummary.to_json`.
#: 0: no ``schema_version`` key; 1: ``schema_version``, ``status`` and ``reason`` (a
#: period that failed), and ``outputs`` (size and sha256 of the files written with the
#: summary); 2: each variation's ``thresholds``, energy-scale factors and ``correlated``
#: (what the fit needs to redo the sideband extrapolation of that variation); 3: ``beam_particle``
#: (e- or e+: the A' yield has the beam positron's annihilation; older files: e-).
SCHEMA_VERSION = 3

BLINDING_NOTE = (
    "blinded: events whose (E_ECAL, E_HCAL) lie in the signal box (the nominal one, and a "
    "variation's own box for that variation) are excluded at every step: from the cutflow, "
    "the regions, every histogram and the per-process cutflow"
)


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CutCount(_Part):
    """Events left after one cut of the chain."""

    cut: str
    events: int = Field(ge=0)


class Regions(_Part):
    """Events in the sidebands A and C and in the signal box (``None`` while blinded)."""

    A: int = Field(ge=0)
    C: int = Field(ge=0)
    box: int | None = Field(None, ge=0)


class VariationSummary(_Part):
    """Cutflow and regions of one systematic variation, and what it changed: its thresholds
    and energy-scale factors (None in summaries of version 1 and older), and whether its
    nuisance parameter is shared by all periods (``correlated``)."""

    cutflow: list[CutCount]
    regions: Regions
    thresholds: Thresholds | None = None
    ecal_factor: float = 1.0
    hcal_factor: float = 1.0
    correlated: bool = True


class Failure(_Part):
    """A file that failed its check, or (with ``entries``) a chunk that failed; a chunk of
    the shower reference pass has ``"pass": "reference"``."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True,
                              validate_by_alias=True, serialize_by_alias=True)

    file: str
    reason: str
    entries: tuple[int, int] | None = None
    stage: Literal["reference"] | None = Field(None, alias="pass")

    @model_serializer(mode="wrap")
    def _drop_missing(self, handler: Any) -> dict[str, Any]:
        out: dict[str, Any] = handler(self)
        for key in ("entries", "pass"):
            if out.get(key) is None:
                out.pop(key, None)
        return out


class DuplicateFile(_Part):
    """Entries of a file whose (run, spill, event) came earlier in the period."""

    file: str
    entries_skipped: int = Field(ge=0)
    entries: int = Field(ge=0)
    whole_file: bool
    copies_kept_in: list[str]


class DuplicateReport(_Part):
    """Events left out because their (run, spill, event) came earlier in the period."""

    events: int = Field(0, ge=0)
    files: list[DuplicateFile] = Field(default_factory=list)


class FileCounts(_Part):
    """Files of the period: how many, how many processed, entries of each readable one."""

    total: int = Field(ge=0)
    processed: int = Field(ge=0)
    entries: dict[str, int]


class EventCounts(_Part):
    read: int = Field(ge=0)
    physics_trigger: int = Field(ge=0)
    calibration_trigger: int = Field(ge=0)
    nonfinite_energies: int = Field(ge=0)


class ChunkCounts(_Part):
    """Chunks of the main pass; ``resumed``: loaded from a checkpoint, not recomputed."""

    total: int = Field(ge=0)
    failed: int = Field(0, ge=0)
    resumed: int = Field(0, ge=0)


class ReferenceInfo(_Part):
    """The shower reference the chi2 used (the file beside the summary): calibration
    electrons in it, electrons ``requested`` (the catalog's ``reference_events``), the
    low-energy electrons that measured its energy dependence, and a ``warning`` when it
    has fewer calibration electrons than requested or its energy dependence could not be
    measured (the documented fallback of :mod:`processors.reference`)."""

    n_events: int = Field(ge=0)
    file: str
    requested: int | None = Field(None, ge=0)
    low_energy_events: int | None = Field(None, ge=0)
    warning: str | None = None

    @model_serializer(mode="wrap")
    def _drop_missing(self, handler: Any) -> dict[str, Any]:
        out: dict[str, Any] = handler(self)
        for key in ("requested", "low_energy_events", "warning"):
            if out.get(key) is None:
                out.pop(key, None)
        return out


class OutputFile(_Part):
    """Size and sha256 of a file written together with the summary."""

    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


#: Top-level keys left out of the JSON when they hold nothing (as before versioning).
_OMITTED_WHEN_NONE = ("previous", "cutflow_by_process", "truth_box_by_process", "variations",
                      "shower_reference", "blinding")


class PeriodSummary(_Part):
    """What ``summary.json`` says about a processed period."""

    schema_version: int = SCHEMA_VERSION
    period: str
    #: "processed", or "failed" (with ``reason``) for a period that could not be processed.
    status: str = "processed"
    reason: str | None = None
    #: where a failed period keeps its previous result (a period directory), if it had one
    previous: str | None = None
    blinded: bool
    #: No file and no chunk failed.
    complete: bool
    beam_energy: float
    #: the beam particle of the period's catalog ("e-" in files before version 3)
    beam_particle: Literal["e-", "e+"] = "e-"
    eot: float
    cutflow: list[CutCount]
    regions: Regions
    cutflow_by_process: dict[str, list[int]] | None = None
    #: Signal-box events by true process (nominal): only in unblinded summaries of files
    #: with MC truth (simulated samples), never while blinded.
    truth_box_by_process: dict[str, int] | None = None
    variations: dict[str, VariationSummary] | None = None
    failed: list[Failure] = Field(default_factory=list)
    empty_files: list[str] = Field(default_factory=list)
    duplicates: DuplicateReport = Field(default_factory=lambda: DuplicateReport(events=0, files=[]))
    files: FileCounts
    events: EventCounts
    chunks: ChunkCounts
    thresholds: Thresholds
    calibration: Calibration
    shower_reference: ReferenceInfo | None = None
    blinding: str | None = None
    seconds: float = Field(ge=0)
    #: file name -> size and sha256, of every file written together with this summary.
    outputs: dict[str, OutputFile] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _box_count_follows_blinding(self) -> PeriodSummary:
        """A blinded summary never holds the box count; an unblinded one always does."""
        if self.blinded != (self.regions.box is None):
            raise ValueError(f"regions.box is {self.regions.box} in a summary with blinded "
                             f"{str(self.blinded).lower()}: the box count is given exactly when unblinded")
        if self.blinded and self.truth_box_by_process is not None:
            raise ValueError("truth_box_by_process in a blinded summary: the box by process "
                             "is given only when unblinded")
        return self

    @property
    def failed_files(self) -> set[str]:
        """Files with a failed check or a failed chunk."""
        return {f.file for f in self.failed}

    def to_json(self) -> dict[str, Any]:
        """The ``summary.json`` document."""
        out = self.model_dump(mode="json")
        for key in _OMITTED_WHEN_NONE:
            if out.get(key, 0) is None:
                out.pop(key)
        return out

    @classmethod
    def from_json(cls, data: Any, source: str | Path = "summary.json") -> PeriodSummary:
        """Read a ``summary.json`` document of any known version; ``source`` names it in errors."""
        if not isinstance(data, Mapping):
            raise InputError(f"{source}: not a period summary (a JSON object was expected)")
        version = data.get("schema_version", 0)
        if type(version) is not int or version < 0:
            raise InputError(f"{source}: schema_version {version!r} is not a version number")
        if version > SCHEMA_VERSION:
            raise InputError(f"{source}: written by a newer na64-invisible (summary schema_version "
                             f"{version}; this version reads up to {SCHEMA_VERSION}): update it")
        try:
            return cls.model_validate({**data, "schema_version": SCHEMA_VERSION})
        except ValidationError as err:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(top level)'}: {e['msg']}"
                                 for e in err.errors()[:3])
            more = f" (and {err.error_count() - 3} more)" if err.error_count() > 3 else ""
            raise InputError(f"{source}: not a valid period summary: {problems}{more}") from None


def _count(x: float) -> int:
    return int(round(float(x)))


def cutflow(h: hist.Hist, variation: str = NOMINAL) -> list[CutCount]:
    """Events after each cut in chain order, the first entry all physics triggers."""
    counts = h[{"variation": variation}].values()
    return [CutCount(cut=name, events=_count(n)) for name, n in zip(cut_names(), counts, strict=True)]


def cutflow_by_process(h: hist.Hist, variation: str = NOMINAL) -> dict[str, list[int]]:
    """Events after each cut per true process (only processes that occur)."""
    values = h[{"variation": variation}].values()
    out = {}
    for j, code in enumerate(PROCESS_CODES):
        column = values[:, j]
        if code in PROCESSES and column.any():
            out[f"{code} {PROCESSES[code]}"] = [_count(v) for v in column]
    return out


def box_by_process(h: hist.Hist, variation: str = NOMINAL) -> dict[str, int]:
    """Signal-box events per true process (every SCHEMA.md process, zeros included)."""
    values = h[{"variation": variation}].values()
    return {f"{code} {PROCESSES[code]}": _count(values[j])
            for j, code in enumerate(PROCESS_CODES) if code in PROCESSES}


def regions(h: hist.Hist, blinded: bool, variation: str = NOMINAL) -> Regions:
    sub = h[{"variation": variation}]
    return Regions(A=_count(sub[hist.loc("A")].value), C=_count(sub[hist.loc("C")].value),
                   box=None if blinded else _count(sub[hist.loc("box")].value))


def variation_summaries(hists: dict[str, hist.Hist], variations: Sequence[Variation],
                        blinded: bool) -> dict[str, VariationSummary]:
    return {
        v.name: VariationSummary(cutflow=cutflow(hists["cutflow"], v.name),
                                 regions=regions(hists["regions"], blinded, v.name),
                                 thresholds=v.thresholds, ecal_factor=v.ecal_factor,
                                 hcal_factor=v.hcal_factor, correlated=v.correlated)
        for v in variations if v.name != NOMINAL
    }
