"""The result a period already has on disk, before a run processes it again.

:func:`read_stored` reads its summary and provenance (:class:`StoredResult`, what cannot
be read counted as absent) and :func:`why_reprocess` tells whether it can be served as it
is; :class:`PreviousResult` keeps it in place while the period is processed, and moves it
to :data:`PREVIOUS` if the period fails.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from processors.errors import InputError, OutputError
from workflows.processing import provenance
from workflows.processing.results import (
    HISTOGRAMS,
    PROVENANCE,
    REFERENCE,
    SUMMARY,
    PeriodFailed,
    damaged_outputs,
    load_json,
    read_summary,
    write_atomic,
)
from workflows.processing.summary import PeriodSummary

#: Where a period that fails keeps its previous result (a period directory of its own).
PREVIOUS = "previous"


@dataclass
class StoredResult:
    """What is stored for a period, as far as it can be read."""

    summary: PeriodSummary | None = None
    provenance: dict | None = None
    #: Why the period failed, when its summary says it did.
    failed: str | None = None
    #: Stored files that cannot be used, and why (each treated as absent).
    problems: list[str] = field(default_factory=list)

    @property
    def exists(self) -> bool:
        return (self.summary is not None or self.provenance is not None or self.failed is not None
                or bool(self.problems))


def read_stored(outdir: Path) -> StoredResult:
    """The stored summary and provenance of a period; what cannot be read is absent."""
    stored = StoredResult()
    if (outdir / SUMMARY).exists():
        try:
            stored.summary = read_summary(outdir / SUMMARY)
            stored.problems += damaged_outputs(outdir, stored.summary)
        except PeriodFailed as err:
            stored.failed = err.reason
        except InputError as err:
            stored.problems.append(str(err))
    if (outdir / PROVENANCE).exists():
        try:
            doc = load_json(outdir / PROVENANCE)
            if not isinstance(doc, dict):
                raise InputError(f"{outdir / PROVENANCE}: cannot be read: not a provenance record")
            stored.provenance = doc
        except InputError as err:
            stored.problems.append(str(err))
    return stored


def why_reprocess(stored: StoredResult, record: dict, force: bool) -> str | None:
    """Why the stored result cannot be served for ``record`` (None: it can)."""
    if force:
        return "--force"
    if stored.problems:
        return "; ".join(stored.problems)
    if stored.failed is not None:
        return f"it failed last time ({stored.failed})"
    if stored.summary is None or stored.provenance is None:
        return f"no {SUMMARY if stored.summary is None else PROVENANCE}"
    changed = provenance.differences(stored.provenance, record)
    if changed:
        return f"changed: {', '.join(changed)}"
    if stored.summary.chunks.failed:
        return "chunks failed last time"
    if stored.summary.failed:
        return f"{len(stored.summary.failed_files)} file(s) failed last time"
    return None


@dataclass
class PreviousResult:
    """The result a period had before this attempt: left in place while the period is
    processed, and moved to ``previous/`` (a period directory of its own) if it fails."""

    outdir: Path
    valid: bool  # a summary.json that is not a failure's
    reference: bytes | None  # its shower_reference.json (the attempt may overwrite it)

    @classmethod
    def capture(cls, outdir: Path) -> PreviousResult:
        ref_path = outdir / REFERENCE
        try:
            stored = load_json(outdir / SUMMARY)
            valid = isinstance(stored, dict) and stored.get("status", "processed") == "processed"
            reference = ref_path.read_bytes() if valid and ref_path.exists() else None
        except (OSError, InputError):  # none, or unreadable
            valid, reference = False, None
        return cls(outdir, valid, reference)

    def keep(self) -> Path | None:
        """Move the previous result to ``previous/``; where it is (None: there is none)."""
        target = self.outdir / PREVIOUS
        try:
            if self.valid:
                shutil.rmtree(target, ignore_errors=True)
                target.mkdir()
                if self.reference is not None:
                    write_atomic(target / REFERENCE, self.reference)
                for name in (HISTOGRAMS, PROVENANCE, SUMMARY):  # the summary last
                    if (self.outdir / name).exists():
                        (self.outdir / name).replace(target / name)
            else:  # histograms of no summary (an attempt that could not write its summary)
                (self.outdir / HISTOGRAMS).unlink(missing_ok=True)
        except OSError as e:
            raise OutputError(f"{target}: cannot keep the previous result: "
                              f"{e.strerror or e}") from None
        return target if (target / SUMMARY).exists() else None

    def discard(self) -> None:
        shutil.rmtree(self.outdir / PREVIOUS, ignore_errors=True)
