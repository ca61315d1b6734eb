"""Processing run periods on a Dask cluster with coffea's Runner.

For each period, in order:

1. resolve its files and compare the provenance with the one on disk: an unchanged
   period is not reprocessed (``force`` overrides);
2. check every file on the workers (:mod:`workflows.processing.input_checks`); bad files are listed
   under ``failed`` and skipped, empty ones are noted; events whose (run, spill,
   event) already appeared in an earlier file are left out of the chunks and listed
   under ``duplicates``;
3. first pass: the shower reference from calibration-trigger electrons, read from
   chunks spread over the period until enough electrons are found (reused while
   its inputs are unchanged, except with ``force``); chunks it cannot read are listed
   under ``failed`` (``"pass": "reference"``, the period is incomplete) and such a
   reference is never reused;
4. main pass: the selection chain with every variation on each chunk, checkpointed
   chunk by chunk so that an interrupted run resumes where it stopped (chunks loaded
   from a checkpoint are counted under ``chunks.resumed``); chunks of a lost worker
   are recomputed by Dask (``retries``), or loaded from their checkpoint;
5. write histograms, reference and provenance, then ``summary.json`` last.

A period that cannot be processed (no readable file with events, too few calibration
electrons, no chunk that could be read) gets a ``summary.json`` with ``status:
"failed"`` and the ``reason``, and the next periods are processed. The previous result
of a period stays in place while it is reprocessed; if the period fails, it is moved to
``previous/``, a period directory of its own.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
import uuid
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from processors.errors import OutputError, ProcessingError
from processors.reference import ReferenceUnavailable, ShowerReference, reference_from_output
from processors.schema import TREE_NAME
from processors.variations import Variation, nominal
from workflows.processing import provenance
from workflows.processing.catalog import Period
from workflows.processing.input_checks import (
    Duplicates,
    FileCheck,
    check_files,
    coffea_metadata,
    find_duplicates,
    kept_ranges,
)
from workflows.processing.results import (
    HISTOGRAMS,
    PROVENANCE,
    REFERENCE,
    SUMMARY,
    read_json,
    write_atomic,
    write_histograms,
    write_json,
)
from workflows.processing.summary import (
    BLINDING_NOTE,
    cutflow,
    cutflow_by_process,
    regions,
    variation_summaries,
)

CHECKPOINTS = ".checkpoints"
#: Where a period that fails keeps its previous result (a period directory of its own).
PREVIOUS = "previous"

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
    summary: dict = field(default_factory=dict, repr=False)

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
             "thresholds": v.thresholds.model_dump(mode="json")} for v in variations
        ],
        "variations_file": options.variations_source,
    }


class _ResumableCheckpointer:
    """coffea's SimpleCheckpointer, adapted to resuming.

    * a failed chunk is never stored (so a rerun tries it again);
    * a checkpoint is written under a temporary name and renamed, so a worker killed
      while writing leaves no half-written checkpoint behind;
    * an output loaded from a checkpoint is marked (``resumed_chunks``: 1), so the
      summary counts the chunks that were not recomputed.
    """

    def __new__(cls, directory: Path):
        import cloudpickle
        from coffea.processor import SimpleCheckpointer

        class Checkpointer(SimpleCheckpointer):
            def load(self, metadata, processor_instance):
                out = super().load(metadata, processor_instance)
                if out is not None and isinstance(out.get("out"), dict):
                    out["out"]["resumed_chunks"] = 1
                return out

            def save(self, output, metadata, processor_instance):
                if output.get("out", {}).get("failed"):
                    return None
                path = self.filepath(metadata, processor_instance)
                tmp = f"{path}.{uuid.uuid4().hex}.part"
                try:
                    self.fs.mkdirs(str(Path(path).parent), exist_ok=True)
                    with self.fs.open(tmp, "wb", compression="lz4") as fout:
                        cloudpickle.dump(output, fout)
                    self.fs.mv(tmp, path)
                except Exception:  # no space, no permission: the chunk is just not checkpointed
                    try:
                        self.fs.rm(tmp)
                    except Exception:
                        pass
                return None

        return Checkpointer(str(directory))


def checkpoint_count(directory: Path) -> int:
    """Chunk outputs stored below a checkpoint directory."""
    return sum(1 for _ in Path(directory).rglob("*.coffea")) if Path(directory).is_dir() else 0


def _runner(client, options: ProcessOptions, metadata_cache: MutableMapping, desc: str,
            checkpointer=None, status: bool = True):
    from coffea import processor
    from coffea.nanoevents import BaseSchema

    executor = processor.DaskExecutor(
        client=client, status=status and options.progress, retries=options.retries, desc=desc,
        treereduction=8,
    )
    return processor.Runner(
        executor=executor,
        schema=BaseSchema,
        chunksize=options.chunksize,
        align_clusters=True,
        metadata_cache=metadata_cache,
        skipbadfiles=False,
        checkpointer=checkpointer,
    )


def _spread_order(n: int) -> list[int]:
    """Indices 0..n-1 in an order that spreads early picks over the whole range."""
    order, seen = [], set()
    step = n
    while len(order) < n:
        for i in range(0, n, max(step, 1)):
            if i not in seen:
                seen.add(i)
                order.append(i)
        step //= 2
        if step == 0:
            step = 1
    return order


@dataclass
class ReferencePass:
    """What the first pass read: the per-chunk sums of the calibration electrons, and the
    chunks it could not read (file, entrystart, entrystop, reason)."""

    output: dict
    failed: list[dict]
    central_cell: tuple[int, int]

    def reference(self) -> ShowerReference:
        """The reference (raises :class:`ReferenceUnavailable` with too few electrons)."""
        try:
            return reference_from_output(self.output, self.central_cell)
        except ReferenceUnavailable as err:
            if not self.failed:
                raise
            raise ReferenceUnavailable(f"{err}; {len(self.failed)} chunk(s) of the shower "
                                       "reference pass could not be read (see 'failed')") from None


def derive_reference(period: Period, chunks: list, client,
                     options: ProcessOptions) -> ReferencePass:
    """First pass: calibration electrons from chunks spread over the period, until
    ``reference_events`` are found or every chunk was read."""
    from processors.reference import ShowerReferenceProcessor

    proc = ShowerReferenceProcessor(period.beam.energy, period.calibration.ecal_scale,
                                    period.cuts.ecal_central_cell)
    runner = _runner(client, options, {}, f"{period.name} shower reference", status=False)
    order = _spread_order(len(chunks))
    merged: dict = {"reference_sums": {}}
    failed: list[dict] = []
    batch = 2  # fixed, so the chosen chunks do not depend on the number of workers
    done = 0
    while done < len(order):
        picked = [chunks[i] for i in order[done:done + batch]]
        done += len(picked)
        out = runner(picked, proc, treename=TREE_NAME)
        merged["reference_sums"].update(out.get("reference_sums", {}))
        failed += out.get("reference_failed", [])
        n = sum(v[0] for v in merged["reference_sums"].values())
        if n >= period.reference_events:
            break
        batch *= 2
    return ReferencePass(merged, failed, period.cuts.ecal_central_cell)


def reference_note(period: Period, reference: ShowerReference) -> dict:
    """``requested`` electrons for the reference, and a ``warning`` when it has fewer."""
    note: dict = {"requested": period.reference_events}
    if reference.n_events < period.reference_events:
        note["warning"] = (f"the shower reference uses only {reference.n_events} of the "
                           f"{period.reference_events} requested calibration-trigger electrons "
                           "(all that passed its selection in the chunks read)")
    return note


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


def _failed_entries(checks: list[FileCheck], chunk_failures: list[dict],
                    reference_failures: Sequence[dict] = ()) -> list[dict]:
    """Bad files, then chunks the shower reference pass could not read (``"pass":
    "reference"``), then chunks the main pass could not read."""
    failed = [{"file": c.path, "reason": c.reason} for c in checks if not c.ok]
    for f in sorted(reference_failures, key=lambda f: (f["file"], f["entrystart"])):
        failed.append({"file": f["file"], "entries": [f["entrystart"], f["entrystop"]],
                       "reason": f["reason"], "pass": "reference"})
    for f in sorted(chunk_failures, key=lambda f: (f["file"], f["entrystart"])):
        failed.append({"file": f["file"], "entries": [f["entrystart"], f["entrystop"]],
                       "reason": f["reason"]})
    return failed


def _plan(period: Period, options: ProcessOptions) -> tuple[list[Path], list[Variation], dict, dict]:
    files = period.resolve_files()
    variations = options.variations(period)
    config = period_config(period, options, variations)
    record = provenance.build(period.model_dump(mode="json"), _file_stats(files), config)
    return files, variations, config, record


def up_to_date(period: Period, options: ProcessOptions) -> PeriodRun | None:
    """The stored result of a period whose provenance is unchanged, or None if work is needed.

    Unchanged inputs give the same result, bad files included; only chunks that failed
    while processing (perhaps transiently), and periods that failed, are worth another
    attempt.
    """
    if options.force:
        return None
    outdir = Path(options.output) / period.name
    summary_path, prov_path = outdir / SUMMARY, outdir / PROVENANCE
    if not (summary_path.exists() and prov_path.exists()):
        return None
    record = _plan(period, options)[3]
    previous = read_json(summary_path)
    if (read_json(prov_path) != record or previous.get("chunks", {}).get("failed")
            or previous.get("status") == "failed"
            or any(f.get("pass") == "reference" for f in previous.get("failed", []))):
        return None
    return PeriodRun(period.name, "up to date", events=previous["events"]["read"],
                     chunks=previous["chunks"]["total"], complete=previous["complete"],
                     failed_files=len({f["file"] for f in previous.get("failed", [])}),
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
    reference_failed: list[dict] = field(default_factory=list)
    out: dict = field(default_factory=dict)

    def failed(self) -> list[dict]:
        return _failed_entries(self.checks, self.out.get("failed", []), self.reference_failed)

    @property
    def failed_chunks(self) -> int:
        return int(self.out.get("failed_chunks", 0)) + len(self.reference_failed)


@dataclass
class _PreviousResult:
    """The result a period had before this attempt: left in place while the period is
    processed, and moved to ``previous/`` (a period directory of its own) if it fails."""

    outdir: Path
    valid: bool  # a summary.json that is not a failure's
    reference: bytes | None  # its shower_reference.json (the attempt may overwrite it)

    @classmethod
    def capture(cls, outdir: Path) -> _PreviousResult:
        ref_path = outdir / REFERENCE
        try:
            valid = read_json(outdir / SUMMARY).get("status") != "failed"
            reference = ref_path.read_bytes() if valid and ref_path.exists() else None
        except (OSError, ValueError):  # none, or unreadable
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


def process_period(period: Period, options: ProcessOptions, client) -> PeriodRun:
    """Process one period (or report it up to date).

    A period that cannot be processed (:class:`ProcessingError`: no readable file with
    events, too few calibration electrons for the shower reference, no chunk that could
    be read) is returned as failed, with a ``summary.json`` giving the reason; its
    previous result, if any, is moved to ``previous/``.
    """
    start = time.perf_counter()
    stored = up_to_date(period, options)
    if stored is not None:
        return stored
    outdir = Path(options.output) / period.name
    files, variations, config, record = _plan(period, options)
    summary_path, prov_path = outdir / SUMMARY, outdir / PROVENANCE
    if prov_path.exists() and summary_path.exists():
        changed = provenance.differences(read_json(prov_path), record)
        why = (f"changed: {', '.join(changed)}" if changed
               else "--force" if options.force else "chunks failed last time")
        log.info("%s: reprocessing; %s", period.name, why)
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{outdir}: cannot prepare the period's output directory: "
                          f"{e.strerror or e}") from None
    previous = _PreviousResult.capture(outdir)  # stays in place unless the period fails

    attempt = _Attempt()
    try:
        out, reference, n_chunks = _process_inputs(period, options, client, files, config,
                                                   record, variations, outdir, attempt)
    except ProcessingError as err:
        return _failed_period(period, options, variations, record, attempt, str(err), previous,
                              time.perf_counter() - start)

    failed = attempt.failed()
    seconds = time.perf_counter() - start
    summary = _summary(period, options, variations, reference, out, attempt.checks, failed,
                       attempt.empty, n_chunks, seconds, attempt.duplicates)
    summary.update(status="processed", reason=None)
    summary["shower_reference"].update(reference_note(period, reference))
    try:  # from here on the previous result is replaced
        summary_path.unlink(missing_ok=True)
    except OSError as e:
        raise OutputError(f"{summary_path}: cannot be replaced: {e.strerror or e}") from None
    _write_outputs(outdir, out["hists"], record, summary)
    previous.discard()
    if summary["complete"]:
        shutil.rmtree(outdir / CHECKPOINTS, ignore_errors=True)
    return PeriodRun(
        period.name, "processed", events=int(out.get("events", 0)), chunks=n_chunks,
        failed_chunks=attempt.failed_chunks, failed_files=len({f["file"] for f in failed}),
        seconds=seconds, complete=summary["complete"], summary=summary,
    )


def _process_inputs(period: Period, options: ProcessOptions, client, files: list[Path],
                    config: dict, record: dict, variations: list[Variation], outdir: Path,
                    attempt: _Attempt) -> tuple[dict, ShowerReference, int]:
    """Check the files, derive the shower reference, run the main pass: its merged
    output, the reference and the number of chunks. What is learnt along the way goes
    into ``attempt``; raises :class:`ProcessingError` when the period cannot be processed."""
    from processors.invisible import InvisibleSearchProcessor, PeriodSetup

    attempt.checks = checks = check_files(files, client)
    good = [c for c in checks if c.ok and c.entries > 0]
    attempt.empty = [c.path for c in checks if c.ok and c.entries == 0]
    if not good:
        raise ProcessingError("no readable file with events")

    # Events already seen in an earlier file are left out of the chunks (and reported).
    attempt.duplicates = duplicates = find_duplicates(checks, client)
    usable = [c for c in good if c.path not in duplicates.whole_files]
    metadata = coffea_metadata(usable, period.name)
    fileset = {period.name: [c.path for c in usable]}
    chunks = list(_runner(client, options, metadata, period.name).preprocess(fileset, treename=TREE_NAME))
    chunks = without_duplicates(chunks, duplicates.skip)
    attempt.n_chunks = len(chunks)

    # First pass: the shower reference (kept while its inputs are unchanged, unless
    # --force, or chunks of the pass could not be read).
    ref_path = outdir / REFERENCE
    ref_key = provenance.fingerprint({"files": record["files"], "code": record["code"],
                                      "calibration": config["calibration"],
                                      "central": config["thresholds"]["ecal_central_cell"],
                                      "n": period.reference_events, "chunksize": options.chunksize,
                                      "failed": [c.path for c in checks if not c.ok]})
    reference = None
    if ref_path.exists() and not options.force:
        stored = read_json(ref_path)
        if stored.get("key") == ref_key:
            reference = ShowerReference.from_json(stored)
            log.info("%s: shower reference unchanged, reused", period.name)
    if reference is None:
        first = derive_reference(period, chunks, client, options)
        attempt.reference_failed = first.failed
        reference = first.reference()
        # A reference missing chunks is recorded, never reused: the next run derives it again.
        key = None if first.failed else ref_key
        _write(write_json, ref_path, {**reference.to_json(), "key": key})
    attempt.reference = reference
    if reference.n_events < period.reference_events:
        log.warning("%s: %s", period.name, reference_note(period, reference)["warning"])

    # Main pass, checkpointed chunk by chunk.
    setup = PeriodSetup(period.name, period.beam.energy, period.calibration.ecal_scale,
                        period.calibration.hcal_scale, period.hcal_modules)
    proc = InvisibleSearchProcessor(setup, reference, variations, blinded=not options.unblind)
    ckpt_dir = outdir / CHECKPOINTS / provenance.fingerprint(
        {**record, "reference": reference.to_json()}, exclude=("packages",))
    stored_chunks = checkpoint_count(ckpt_dir)
    if stored_chunks:
        log.info("%s: resuming an unfinished run (%d of %d chunks checkpointed)",
                 period.name, stored_chunks, len(chunks))
    runner = _runner(client, options, metadata, period.name, checkpointer=_ResumableCheckpointer(ckpt_dir))
    attempt.out = out = runner(chunks, proc, treename=TREE_NAME)
    if "hists" not in out:  # neither processed nor loaded from a checkpoint
        raise ProcessingError(f"no chunk could be read: all {len(chunks)} chunks failed "
                              "(see 'failed')")
    return out, reference, len(chunks)


def _failed_period(period: Period, options: ProcessOptions, variations: list[Variation],
                   record: dict, attempt: _Attempt, reason: str, previous: _PreviousResult,
                   seconds: float) -> PeriodRun:
    """The summary of a period that could not be processed: status "failed", the reason,
    what was learnt before it failed; its previous result is kept in ``previous/``."""
    outdir = Path(options.output) / period.name
    log.error("%s: %s", period.name, reason)
    kept = previous.keep()
    if kept is not None:
        log.warning("%s: the previous result is kept in %s", period.name, kept)
    failed = attempt.failed()
    summary = _summary(period, options, variations, attempt.reference, attempt.out, attempt.checks,
                       failed, attempt.empty, attempt.n_chunks, seconds, attempt.duplicates)
    summary.update(complete=False, status="failed", reason=reason,
                   previous=PREVIOUS if kept is not None else None)
    if attempt.reference is not None:
        summary["shower_reference"].update(reference_note(period, attempt.reference))
    _write_outputs(outdir, None, record, summary)
    return PeriodRun(period.name, "failed", events=int(attempt.out.get("events", 0)),
                     chunks=attempt.n_chunks or 0, failed_chunks=attempt.failed_chunks,
                     failed_files=len({f["file"] for f in failed}), seconds=seconds,
                     complete=False, message=reason, summary=summary)


def _write(writer, path: Path, data) -> None:
    try:
        writer(path, data)
    except OSError as e:
        raise OutputError(f"{path}: cannot be written: {e.strerror or e}") from None


def _write_outputs(outdir: Path, hists: dict | None, record: dict, summary: dict) -> None:
    """Histograms and provenance, then the summary: only a finished period has a summary."""
    if hists is not None:
        _write(write_histograms, outdir / HISTOGRAMS, hists)
    _write(write_json, outdir / PROVENANCE, record)
    _write(write_json, outdir / SUMMARY, summary)


def _summary(period: Period, options: ProcessOptions, variations: list[Variation],
             reference: ShowerReference | None, out: dict, checks: list[FileCheck],
             failed: list[dict], empty: list[str], n_chunks: int | None, seconds: float,
             duplicates: Duplicates | None = None) -> dict:
    blinded = not options.unblind
    hists = out.get("hists")
    names = [v.name for v in variations]
    summary = {
        "period": period.name,
        "blinded": blinded,
        "complete": not failed,
        "beam_energy": period.beam.energy,
        "eot": period.eot,
        "cutflow": cutflow(hists["cutflow"]) if hists else [],
        "regions": regions(hists["regions"], blinded) if hists else {"A": 0, "C": 0, "box": None if blinded else 0},
    }
    if hists and out.get("has_truth"):
        summary["cutflow_by_process"] = cutflow_by_process(hists["cutflow_by_process"])
    if hists and len(names) > 1:
        summary["variations"] = variation_summaries(hists, names, blinded)
    summary["failed"] = failed
    summary["empty_files"] = empty
    duplicates = duplicates or Duplicates()
    entries = {c.path: c.entries for c in checks if c.ok}
    summary["duplicates"] = duplicates.report(entries)
    summary["files"] = {
        "total": len(checks),
        "processed": sum(1 for c in checks if c.ok and c.entries > 0
                         and len(duplicates.skip.get(c.path, ())) < c.entries),
        "entries": entries,
    }
    summary["events"] = {
        "read": int(out.get("events", 0)),
        "physics_trigger": int(out.get("physics_events", 0)),
        "calibration_trigger": int(out.get("calibration_events", 0)),
        "nonfinite_energies": int(out.get("nonfinite_events", 0)),
    }
    summary["chunks"] = {"total": n_chunks or 0, "failed": int(out.get("failed_chunks", 0)),
                         "resumed": int(out.get("resumed_chunks", 0))}
    summary["thresholds"] = period.cuts.model_dump(mode="json")
    summary["calibration"] = period.calibration.model_dump(mode="json")
    if reference is not None:
        summary["shower_reference"] = {"n_events": reference.n_events, "file": REFERENCE}
    if blinded:
        summary["blinding"] = BLINDING_NOTE
    summary["seconds"] = round(seconds, 3)
    return summary
