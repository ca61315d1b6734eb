"""A period's :class:`~workflows.processing.summary.PeriodSummary`, built from what its run learnt.

:func:`build_summary` turns the merged output of the main pass, the file checks, the
duplicates and the shower reference into the summary (of a processed period, or of one
that failed at any step); :func:`failed_entries` lists the files and chunks that failed,
:func:`reference_note` what the summary says of the shower reference.

Its own module rather than part of :mod:`workflows.processing.summary` (the model):
:mod:`workflows.processing.results` imports the model to read summaries back, and the
builder needs the file names of ``results`` (an import cycle).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from processors.output import ChunkFailure, ChunkOutput
from processors.reference import ShowerReference
from processors.variations import Variation
from workflows.processing.catalog import Period
from workflows.processing.input_checks import Duplicates, FileCheck
from workflows.processing.results import REFERENCE
from workflows.processing.summary import (
    BLINDING_NOTE,
    ChunkCounts,
    DuplicateReport,
    EventCounts,
    Failure,
    FileCounts,
    PeriodSummary,
    ReferenceInfo,
    Regions,
    box_by_process,
    cutflow,
    cutflow_by_process,
    regions,
    variation_summaries,
)

if TYPE_CHECKING:
    from workflows.processing.period import ProcessOptions


def build_summary(period: Period, options: ProcessOptions, variations: list[Variation],
                  reference: ShowerReference | None, out: ChunkOutput, checks: list[FileCheck],
                  failed: list[Failure], empty: list[str], n_chunks: int | None, seconds: float,
                  duplicates: Duplicates | None = None) -> PeriodSummary:
    """The typed summary of a period from the merged output of its main pass."""
    blinded = not options.unblind
    hists = out.hists
    names = [v.name for v in variations]
    duplicates = duplicates or Duplicates()
    entries = {c.path: c.entries for c in checks if c.ok}
    return PeriodSummary(
        period=period.name,
        blinded=blinded,
        complete=not failed,
        beam_energy=period.beam.energy,
        beam_particle=period.beam.particle,
        eot=period.eot,
        cutflow=cutflow(hists["cutflow"]) if hists else [],
        regions=regions(hists["regions"], blinded) if hists else Regions(A=0, C=0, box=None if blinded else 0),
        cutflow_by_process=(cutflow_by_process(hists["cutflow_by_process"])
                            if hists and out.has_truth else None),
        truth_box_by_process=(box_by_process(hists["box_by_process"])
                              if hists and out.has_truth and not blinded else None),
        variations=variation_summaries(hists, variations, blinded) if hists and len(names) > 1 else None,
        failed=failed,
        empty_files=empty,
        duplicates=DuplicateReport.model_validate(duplicates.report(entries)),
        files=FileCounts(
            total=len(checks),
            processed=sum(1 for c in checks if c.ok and c.entries > 0
                          and len(duplicates.skip.get(c.path, ())) < c.entries),
            entries=entries,
        ),
        events=EventCounts(
            read=out.events,
            physics_trigger=out.physics_events,
            calibration_trigger=out.calibration_events,
            nonfinite_energies=out.nonfinite_events,
        ),
        chunks=ChunkCounts(total=n_chunks or 0, failed=out.failed_chunks,
                           resumed=out.resumed_chunks),
        thresholds=period.cuts,
        calibration=period.calibration,
        shower_reference=reference_note(period, reference) if reference is not None else None,
        blinding=BLINDING_NOTE if blinded else None,
        seconds=round(seconds, 3),
    )


def failed_entries(checks: list[FileCheck], chunk_failures: Sequence[ChunkFailure],
                   reference_failures: Sequence[ChunkFailure] = ()) -> list[Failure]:
    """Bad files, then chunks the shower reference pass could not read (``"pass":
    "reference"``), then chunks the main pass could not read."""
    failed = [Failure(file=c.path, reason=c.reason) for c in checks if not c.ok]
    for f in sorted(reference_failures, key=lambda f: f.order):
        failed.append(Failure(file=f.file, entries=(f.entrystart, f.entrystop), reason=f.reason,
                              stage="reference"))
    for f in sorted(chunk_failures, key=lambda f: f.order):
        failed.append(Failure(file=f.file, entries=(f.entrystart, f.entrystop), reason=f.reason))
    return failed


def reference_note(period: Period, reference: ShowerReference) -> ReferenceInfo:
    """The summary's note on the shower reference: calibration electrons used and
    ``requested``, low-energy electrons, and a ``warning`` when it has fewer calibration
    electrons than requested or its energy dependence is the fallback."""
    warnings = []
    if reference.n_events < period.reference_events:
        warnings.append(f"the shower reference uses only {reference.n_events} of the "
                        f"{period.reference_events} requested calibration-trigger electrons "
                        "(all that passed its selection in the chunks read)")
    if reference.fallback is not None:
        warnings.append(f"shower reference: {reference.fallback}")
    return ReferenceInfo(n_events=reference.n_events, file=REFERENCE,
                         requested=period.reference_events,
                         low_energy_events=reference.n_low_energy,
                         warning="; ".join(warnings) or None)
