"""Processing run periods on a Dask cluster with coffea's Runner.

For each period, in order:

1. resolve its files and compare the provenance with the one on disk
   (:mod:`workflows.processing.stored_result`): an unchanged period is not reprocessed
   (``force`` overrides);
2. check every file on the workers (:mod:`workflows.processing.input_checks`); bad files are listed
   under ``failed`` and skipped, empty ones are noted; events whose (run, spill,
   event) already appeared in an earlier file are left out of the chunks and listed
   under ``duplicates``;
3. first pass (:mod:`workflows.processing.reference_pass`): the energy-dependent shower
   reference from calibration-trigger and low-energy electrons, read from chunks spread
   over the period until enough of both are found (reused while its inputs are unchanged, except with ``force``);
   chunks it cannot read are listed under ``failed`` (``"pass": "reference"``, the
   period is incomplete) and such a reference is never reused;
4. main pass: the selection chain with every variation on each chunk, checkpointed
   chunk by chunk (:mod:`workflows.processing.checkpoints`) so that an interrupted run
   resumes where it stopped (chunks loaded from a checkpoint are counted under
   ``chunks.resumed``); chunks of a lost worker are recomputed by Dask (``retries``),
   or loaded from their checkpoint;
5. write histograms, reference, provenance and ``summary.json`` (built by
   :mod:`workflows.processing.summarise`) as one set, the summary renamed into place
   last (:func:`workflows.processing.results.replace_outputs`): until then the period
   keeps its previous outputs, marked as being reprocessed.

A period that cannot be processed (no readable file with events, too few calibration
electrons, no chunk that could be read) gets a ``summary.json`` with ``status:
"failed"`` and the ``reason``, and the next periods are processed; its previous result
is moved to ``previous/``, a period directory of its own.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from processors.errors import OutputError, ProcessingError
from processors.output import ChunkFailure, ChunkOutput
from processors.reference import REFERENCE_VERSION, ShowerReference
from processors.schema import TREE_NAME
from processors.variations import Variation, nominal
from workflows.processing import provenance
from workflows.processing.catalog import Period
from workflows.processing.checkpoints import ResumableCheckpointer, checkpoint_count
from workflows.processing.input_checks import (
    Duplicates,
    FileCheck,
    FileMetadataCache,
    check_files,
    coffea_metadata,
    find_duplicates,
    kept_ranges,
)
from workflows.processing.reference_pass import derive_reference, reference_selection, stored_reference
from workflows.processing.results import (
    CHECKPOINTS,
    HISTOGRAMS,
    PROVENANCE,
    REFERENCE,
    SUMMARY,
    describe,
    histograms_bytes,
    json_bytes,
    mark_reprocessing,
    replace_outputs,
    write_json,
)
from workflows.processing.runner import coffea_runner
from workflows.processing.stored_result import (
    PREVIOUS,
    PreviousResult,
    StoredResult,
    read_stored,
    why_reprocess,
)
from workflows.processing.summarise import build_summary, failed_entries, reference_note
from workflows.processing.summary import Failure, PeriodSummary

if TYPE_CHECKING:
    from processors.invisible import PeriodSetup

log = logging.getLogger(__name__)

VariationBuilder = Callable[[Period], list[Variation]]


def nominal_only(period: Period) -> list[Variation]:
    return [nominal(period.cuts)]


@dataclass
class ProcessOptions:
    output: Path
    unblind: bool = False
    force: bool = False
    chunksize: int = 100_000
    retries: int = 3
    progress: bool = True
    variations: VariationBuilder = nominal_only
    variations_source: dict | None = None  # the variations file, for provenance


@dataclass
class PeriodRun:
    """How processing one period went (one row of the final table)."""

    period: str
    status: str  # "processed", "up to date", "failed"
    events: int = 0
    chunks: int = 0
    failed_chunks: int = 0
    failed_files: int = 0
    seconds: float = 0.0
    complete: bool = True
    message: str = ""
    summary: PeriodSummary | None = field(default=None, repr=False)

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def _file_stats(paths: Sequence[Path]) -> list[dict]:
    out = []
    for p in paths:
        st = p.stat()
        out.append({"path": str(p), "size": st.st_size, "mtime": st.st_mtime})
    return out


def period_config(period: Period, options: ProcessOptions, variations: list[Variation]) -> dict:
    """The configuration part of the provenance."""
    return {
        "blinded": not options.unblind,
        "chunksize": options.chunksize,
        "thresholds": period.cuts.model_dump(mode="json"),
        "calibration": period.calibration.model_dump(mode="json"),
        "hcal_modules": list(period.hcal_modules),
        "reference_events": period.reference_events,
        "variations": [
            {"name": v.name, "ecal_factor": v.ecal_factor, "hcal_factor": v.hcal_factor,
             "correlated": v.correlated, "thresholds": v.thresholds.model_dump(mode="json")}
            for v in variations
        ],
        "variations_file": options.variations_source,
    }


def without_duplicates(chunks: list, skip: dict) -> list:
    """The work items with the duplicated entries left out (a chunk may split in pieces)."""
    out = []
    for item in chunks:
        entries = skip.get(item.filename)
        if entries is None or not len(entries):
            out.append(item)
            continue
        out += [dataclasses.replace(item, entrystart=a, entrystop=b)
                for a, b in kept_ranges(item.entrystart, item.entrystop, entries)]
    return out


def period_setup(period: Period) -> PeriodSetup:
    """What the processors need to know of a period (beam energy, scales, HCAL modules)."""
    from processors.invisible import PeriodSetup

    return PeriodSetup(period.name, period.beam.energy, period.calibration.ecal_scale,
                       period.calibration.hcal_scale, period.hcal_modules)


def period_chunks(period: Period, options: ProcessOptions, client, readable: list[FileCheck],
                  duplicates: Duplicates) -> tuple[list, FileMetadataCache]:
    """The chunks of both passes (coffea WorkItems of ``options.chunksize`` entries along
    the files' clusters) over the readable files with events, the duplicated entries left
    out, and coffea's metadata of those files."""
    usable = [c for c in readable if c.path not in duplicates.whole_files]
    metadata = coffea_metadata(usable, period.name)
    fileset = {period.name: [c.path for c in usable]}
    chunks = list(coffea_runner(client, options, metadata, period.name).preprocess(fileset, treename=TREE_NAME))
    return without_duplicates(chunks, duplicates.skip), metadata


def _plan(period: Period, options: ProcessOptions) -> tuple[list[Path], list[Variation], dict, dict]:
    files = period.resolve_files()
    variations = options.variations(period)
    config = period_config(period, options, variations)
    record = provenance.build(period.model_dump(mode="json"), _file_stats(files), config)
    return files, variations, config, record


def up_to_date(period: Period, options: ProcessOptions) -> PeriodRun | None:
    """The stored result of a period whose provenance is unchanged, or None if work is needed.

    A period with failures (a file that failed its check, a chunk of either pass that
    failed) or that failed as a whole is never up to date: the cause may have been
    transient (permissions, a file system that was away). Its rerun checks the files
    again and resumes the chunks already done from their checkpoints (kept while a
    period is incomplete). Stored files that cannot be read count as absent.
    """
    if options.force:
        return None
    outdir = Path(options.output) / period.name
    if not ((outdir / SUMMARY).exists() and (outdir / PROVENANCE).exists()):
        return None
    return _served(period.name, read_stored(outdir), _plan(period, options)[3])


def _served(name: str, stored: StoredResult, record: dict) -> PeriodRun | None:
    """The stored result as this run's, if it can be served for ``record``."""
    previous = stored.summary
    if previous is None or why_reprocess(stored, record, force=False) is not None:
        return None
    return PeriodRun(name, "up to date", events=previous.events.read,
                     chunks=previous.chunks.total, complete=previous.complete,
                     failed_files=len(previous.failed_files),
                     message="provenance unchanged, not reprocessed", summary=previous)


@dataclass
class _Attempt:
    """What is known of a period while it is processed: enough for the summary of a
    period that fails at any step."""

    checks: list[FileCheck] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)
    duplicates: Duplicates | None = None
    n_chunks: int | None = None
    reference: ShowerReference | None = None
    #: what ``shower_reference.json`` will hold (its ``key`` None: never to be reused)
    reference_json: dict[str, Any] | None = None
    reference_failed: list[ChunkFailure] = field(default_factory=list)
    out: ChunkOutput = field(default_factory=ChunkOutput)

    def failed(self) -> list[Failure]:
        return failed_entries(self.checks, self.out.failed, self.reference_failed)

    @property
    def failed_chunks(self) -> int:
        return self.out.failed_chunks + len(self.reference_failed)


def process_period(period: Period, options: ProcessOptions, client) -> PeriodRun:
    """Process one period (or report it up to date).

    A period that cannot be processed (:class:`ProcessingError`: no readable file with
    events, too few calibration electrons for the shower reference, no chunk that could
    be read) is returned as failed, with a ``summary.json`` giving the reason; its
    previous result, if any, is moved to ``previous/``.
    """
    start = time.perf_counter()
    outdir = Path(options.output) / period.name
    files, variations, config, record = _plan(period, options)
    previous = read_stored(outdir)  # what is stored is read (and its outputs hashed) once
    if not options.force and (served := _served(period.name, previous, record)) is not None:
        return served
    for problem in previous.problems:
        log.warning("%s: %s; treated as absent", period.name, problem)
    if previous.exists:
        log.info("%s: reprocessing; %s", period.name, why_reprocess(previous, record, options.force))
    try:
        outdir.mkdir(parents=True, exist_ok=True)
        mark_reprocessing(outdir, record)  # the previous outputs stay until the new set replaces them
    except OSError as e:
        raise OutputError(f"{outdir}: cannot prepare the period's output directory: "
                          f"{e.strerror or e}") from None
    kept = PreviousResult.capture(outdir)  # stays in place unless the period fails

    attempt = _Attempt()
    try:
        out, reference, n_chunks = _process_inputs(period, options, client, files, config,
                                                   record, variations, outdir, attempt)
    except ProcessingError as err:
        return _failed_period(period, options, variations, record, attempt, str(err), kept,
                              time.perf_counter() - start)

    seconds = time.perf_counter() - start
    summary = build_summary(period, options, variations, reference, out, attempt.checks,
                            attempt.failed(), attempt.empty, n_chunks, seconds, attempt.duplicates)
    summary = _write_outputs(outdir, out.hists, record, summary, attempt.reference_json)
    kept.discard()
    if summary.complete:
        shutil.rmtree(outdir / CHECKPOINTS, ignore_errors=True)
    return PeriodRun(
        period.name, "processed", events=out.events, chunks=n_chunks,
        failed_chunks=attempt.failed_chunks, failed_files=len(summary.failed_files),
        seconds=seconds, complete=summary.complete, summary=summary,
    )


def _process_inputs(period: Period, options: ProcessOptions, client, files: list[Path],
                    config: dict, record: dict, variations: list[Variation], outdir: Path,
                    attempt: _Attempt) -> tuple[dict, ShowerReference, int]:
    """Check the files, derive the shower reference, run the main pass: its merged
    output, the reference and the number of chunks. What is learnt along the way goes
    into ``attempt``; raises :class:`ProcessingError` when the period cannot be processed."""
    from processors.invisible import InvisibleSearchProcessor

    attempt.checks = checks = check_files(files, client)
    good = [c for c in checks if c.ok and c.entries > 0]
    attempt.empty = [c.path for c in checks if c.ok and c.entries == 0]
    if not good:
        raise ProcessingError("no readable file with events")

    # Events already seen in an earlier file are left out of the chunks (and reported).
    attempt.duplicates = duplicates = find_duplicates(checks, client)
    chunks, metadata = period_chunks(period, options, client, good, duplicates)
    attempt.n_chunks = len(chunks)

    # First pass: the shower reference (kept while its inputs are unchanged, unless
    # --force, or chunks of the pass could not be read). A new one waits among the
    # checkpoints (for a resumed run) until the outputs are written.
    staged_ref = outdir / CHECKPOINTS / REFERENCE
    ref_key = provenance.fingerprint({"files": record["files"], "code": record["code"],
                                      "calibration": config["calibration"],
                                      "central": config["thresholds"]["ecal_central_cell"],
                                      "layout": REFERENCE_VERSION,
                                      "selection": reference_selection(period).to_json(),
                                      "n": period.reference_events, "chunksize": options.chunksize,
                                      "failed": [c.path for c in checks if not c.ok]})
    reference = None if options.force else stored_reference(ref_key, outdir / REFERENCE, staged_ref)
    if reference is not None:
        log.info("%s: shower reference unchanged, reused", period.name)
        attempt.reference_json = {**reference.to_json(), "key": ref_key}
    else:
        first = derive_reference(period, chunks, client, options)
        attempt.reference_failed = first.failed
        reference = first.reference()
        # A reference missing chunks is recorded, never reused: the next run derives it again.
        attempt.reference_json = {**reference.to_json(), "key": None if first.failed else ref_key}
        _write(write_json, staged_ref, attempt.reference_json)
    attempt.reference = reference
    if (warning := reference_note(period, reference).warning) is not None:
        log.warning("%s: %s", period.name, warning)

    # Main pass, checkpointed chunk by chunk.
    proc = InvisibleSearchProcessor(period_setup(period), reference, variations,
                                    blinded=not options.unblind)
    ckpt_dir = outdir / CHECKPOINTS / provenance.fingerprint(
        {**record, "reference": reference.to_json()}, exclude=("packages",))
    stored_chunks = checkpoint_count(ckpt_dir)
    if stored_chunks:
        log.info("%s: resuming an unfinished run (%d of %d chunks checkpointed)",
                 period.name, stored_chunks, len(chunks))
    runner = coffea_runner(client, options, metadata, period.name, checkpointer=ResumableCheckpointer(ckpt_dir))
    attempt.out = out = runner(chunks, proc, treename=TREE_NAME) or ChunkOutput()
    if out.hists is None:  # neither processed nor loaded from a checkpoint
        raise ProcessingError(f"no chunk could be read: all {len(chunks)} chunks failed "
                              "(see 'failed')")
    return out, reference, len(chunks)


def _failed_period(period: Period, options: ProcessOptions, variations: list[Variation],
                   record: dict, attempt: _Attempt, reason: str, previous: PreviousResult,
                   seconds: float) -> PeriodRun:
    """The summary of a period that could not be processed: status "failed", the reason,
    what was learnt before it failed; its previous result is kept in ``previous/``."""
    outdir = Path(options.output) / period.name
    log.error("%s: %s", period.name, reason)
    kept = previous.keep()
    if kept is not None:
        log.warning("%s: the previous result is kept in %s", period.name, kept)
    summary = build_summary(period, options, variations, attempt.reference, attempt.out, attempt.checks,
                            attempt.failed(), attempt.empty, attempt.n_chunks, seconds, attempt.duplicates)
    summary = summary.model_copy(update={"complete": False, "status": "failed", "reason": reason,
                                         "previous": PREVIOUS if kept is not None else None})
    summary = _write_outputs(outdir, None, record, summary)
    return PeriodRun(period.name, "failed", events=attempt.out.events,
                     chunks=attempt.n_chunks or 0, failed_chunks=attempt.failed_chunks,
                     failed_files=len(summary.failed_files), seconds=seconds,
                     complete=False, message=reason, summary=summary)


def _write(writer, path: Path, data) -> None:
    try:
        writer(path, data)
    except OSError as e:
        raise OutputError(f"{path}: cannot be written: {e.strerror or e}") from None


def _write_outputs(outdir: Path, hists: dict | None, record: dict, summary: PeriodSummary,
                   reference: dict | None = None) -> PeriodSummary:
    """Histograms, shower reference, provenance and summary as one set, the summary
    renamed into place last: the previous outputs stay until the new set is complete."""
    files = {PROVENANCE: json_bytes(record)}
    if hists is not None:
        files[HISTOGRAMS] = histograms_bytes(hists)
    if reference is not None:
        files[REFERENCE] = json_bytes(reference)
    summary = summary.model_copy(update={"outputs": {name: describe(data) for name, data in files.items()}})
    files[SUMMARY] = json_bytes(summary.to_json())
    try:
        replace_outputs(outdir, files)
    except OutputError as err:
        # The checkpoints of this run are worth less than its outputs (which are in memory):
        # on a full disk, they make room, or every rerun would fail the same way.
        checkpoints = outdir / CHECKPOINTS
        if err.errno not in (errno.ENOSPC, errno.EDQUOT) or not checkpoints.is_dir():
            raise
        size = sum(p.stat().st_size for p in checkpoints.rglob("*") if p.is_file())
        log.warning("%s: no space left for the outputs: removed the chunk checkpoints of the run "
                    "(%.1f MB) and writing again", outdir.name, size / 1e6)
        shutil.rmtree(checkpoints, ignore_errors=True)
        replace_outputs(outdir, files)
    return summary

