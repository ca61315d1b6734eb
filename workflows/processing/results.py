"""What a processed period leaves on disk, and how to read it back.

``<output>/<period>/``
    ``summary.json``          cutflow, regions, variations, failed files, bookkeeping
    ``histograms.json.gz``    every histogram, in hist's (uhi) JSON serialisation
    ``shower_reference.json`` the data-driven shower shape the chi2 used
    ``provenance.json``       what produced the outputs (see :mod:`workflows.processing.provenance`)

Files are written to a temporary name and renamed, and ``summary.json`` is written
last: a period directory never holds a summary that looks complete without the
outputs it describes.
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import hist

from processors.errors import InputError
from workflows.processing.summary import PeriodSummary

SUMMARY = "summary.json"
HISTOGRAMS = "histograms.json.gz"
REFERENCE = "shower_reference.json"
PROVENANCE = "provenance.json"
#: Chunk checkpoints of an unfinished run (see :mod:`workflows.processing.period`).
CHECKPOINTS = ".checkpoints"

#: What makes a directory below the results the directory of a period.
_PERIOD_FILES = (SUMMARY, HISTOGRAMS, PROVENANCE, REFERENCE, CHECKPOINTS)

_UMASK = os.umask(0)
os.umask(_UMASK)


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: dict) -> None:
    write_atomic(path, (json.dumps(data, indent=1, sort_keys=False) + "\n").encode())


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def read_summary(path: Path) -> PeriodSummary:
    """The typed summary in ``path`` (:class:`InputError` naming the file if it cannot be used)."""
    return PeriodSummary.from_json(read_json(path), path)


def write_histograms(path: Path, hists: dict[str, hist.Hist]) -> None:
    """All histograms of a period as one gzipped uhi-JSON document."""
    import uhi.io.json
    from hist import serialization

    doc = {name: serialization.to_uhi(h) for name, h in hists.items()}
    text = json.dumps(doc, default=uhi.io.json.default)
    write_atomic(path, gzip.compress(text.encode(), compresslevel=6))


def read_histograms(path: Path) -> dict[str, hist.Hist]:
    import uhi.io.json
    from hist import serialization

    doc = json.loads(gzip.decompress(Path(path).read_bytes()), object_hook=uhi.io.json.object_hook)
    return {name: hist.Hist(serialization.from_uhi(d)) for name, d in doc.items()}


@dataclass
class PeriodResult:
    """A processed period, read back for the fit and for plots."""

    name: str
    directory: Path
    summary: PeriodSummary
    hists: dict[str, hist.Hist]

    @property
    def blinded(self) -> bool:
        return self.summary.blinded

    @property
    def complete(self) -> bool:
        return self.summary.complete


def read_period(directory: Path) -> PeriodResult:
    """A processed period (:class:`InputError` naming the file when it cannot be used)."""
    directory = Path(directory)
    summary_path = directory / SUMMARY
    if not summary_path.exists():
        raise InputError(f"{directory}: no {SUMMARY}; the period was not processed (or not to the end)")
    summary = read_summary(summary_path)
    if summary.status != "processed":
        raise InputError(f"{directory}: period {summary.period} {summary.status}: "
                         f"{summary.reason or 'no reason given'}")
    return PeriodResult(summary.period, directory, summary, read_histograms(directory / HISTOGRAMS))


def period_directories(results: Path) -> list[Path]:
    """The directories below ``results`` that hold (part of) a period's outputs, in name order."""
    return sorted(d for d in Path(results).iterdir()
                  if d.is_dir() and any((d / name).exists() for name in _PERIOD_FILES))


def read_results(results: Path) -> list[PeriodResult]:
    """Every period below ``results``, in name order.

    All or nothing: a period directory without a usable summary (not processed to the
    end, failed, damaged) is an :class:`InputError` naming every such period, never a
    silently smaller set.
    """
    results = Path(results)
    if not results.is_dir():
        raise InputError(f"{results}: no such results directory")
    dirs = period_directories(results)
    if not dirs:
        raise InputError(f"{results}: holds no processed periods (no */{SUMMARY})")
    periods, problems = [], []
    for d in dirs:
        try:
            periods.append(read_period(d))
        except InputError as err:
            problems.append(str(err))
    stored: dict[str, list[str]] = {}
    for p in periods:
        stored.setdefault(p.name, []).append(p.directory.name)
    problems += [f"period {name} is stored twice, in {' and '.join(where)}"
                 for name, where in stored.items() if len(where) > 1]
    if problems:
        raise InputError(
            f"{results}: {len(problems)} of {len(dirs)} period(s) cannot be used:\n"
            + "".join(f"  {p}\n" for p in problems)
            + f"reprocess them (na64 process), or move their directories out of {results} "
            "to leave them out")
    return periods
