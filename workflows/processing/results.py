"""What a processed period leaves on disk, and how to read it back.

``<output>/<period>/``
    ``summary.json``          cutflow, regions, variations, failed files, bookkeeping
    ``histograms.json.gz``    every histogram, in hist's (uhi) JSON serialisation
    ``shower_reference.json`` the data-driven shower shape the chi2 used
    ``provenance.json``       what produced the outputs (see :mod:`workflows.processing.provenance`)

and, while a run is under way, ``.reprocessing.json`` (when it started, what it is to
produce) and ``.checkpoints/`` (chunk outputs, and the new shower reference).

The outputs of a run are one set (:func:`replace_outputs`): every file is written in
full under a temporary name first, then all are renamed into place, ``summary.json``
last. A run that fails or is stopped before leaves the previous set as it was, and a
period directory never holds a summary that looks complete without the outputs it
describes.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hist

from processors.errors import InputError, OutputError
from workflows.processing import provenance
from workflows.processing.summary import OutputFile, PeriodSummary

SUMMARY = "summary.json"
HISTOGRAMS = "histograms.json.gz"
REFERENCE = "shower_reference.json"
PROVENANCE = "provenance.json"
#: Chunk checkpoints of an unfinished run (see :mod:`workflows.processing.checkpoints`).
CHECKPOINTS = ".checkpoints"
#: Left while a run replaces a period's outputs (removed with the new set in place).
REPROCESSING = ".reprocessing.json"
#: The files of one set of outputs, summary.json (the last one renamed) aside.
_OUTPUT_FILES = (HISTOGRAMS, REFERENCE, PROVENANCE)

#: What makes a directory below the results the directory of a period.
_PERIOD_FILES = (SUMMARY, HISTOGRAMS, PROVENANCE, REFERENCE, CHECKPOINTS, REPROCESSING)

_UMASK = os.umask(0)
os.umask(_UMASK)


def _write_temporary(path: Path, data: bytes) -> Path:
    """``data`` in full (fsynced) in a temporary file beside ``path``; its name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory."""
    os.replace(_write_temporary(path, data), path)


def json_bytes(data: dict) -> bytes:
    return (json.dumps(data, indent=1, sort_keys=False) + "\n").encode()


def write_json(path: Path, data: dict) -> None:
    write_atomic(path, json_bytes(data))


def replace_outputs(directory: Path, files: dict[str, bytes]) -> None:
    """Make ``files`` (name -> content) the outputs of a period, as one set.

    All files are written under temporary names first; only when every one is
    complete are they renamed into place, :data:`SUMMARY` last, and the outputs of the
    previous set that the new one lacks removed (and the :data:`REPROCESSING` marker).
    A failure while writing (no space, no permission) leaves the previous set as it
    was: :class:`OutputError` names the file, its ``errno`` is the cause's.
    """
    directory = Path(directory)
    for name in (*files, REPROCESSING):  # temporaries of a run that was killed
        for tmp in directory.glob(f".{name}.*.tmp"):
            tmp.unlink(missing_ok=True)
    staged: dict[str, Path] = {}
    name = ""
    try:
        for name in files:
            staged[name] = _write_temporary(directory / name, files[name])
        for name in sorted(staged, key=lambda n: n == SUMMARY):
            os.replace(staged[name], directory / name)
            del staged[name]
    except OSError as e:
        kept = "; the previous outputs of the period are unchanged" if (directory / SUMMARY).exists() else ""
        err = OutputError(f"{directory / name}: cannot be written: {e.strerror or e}{kept}")
        err.errno = e.errno
        raise err from None
    finally:
        for tmp in staged.values():
            tmp.unlink(missing_ok=True)
    _fsync_directory(directory)
    for name in (*_OUTPUT_FILES, REPROCESSING):
        if name not in files:
            (directory / name).unlink(missing_ok=True)


def mark_reprocessing(directory: Path, record: dict) -> None:
    """Note in a period directory that a run is replacing its outputs by those of ``record``."""
    write_json(Path(directory) / REPROCESSING,
               {"started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
                "provenance": provenance.fingerprint(record)})


def unfinished_reprocessing(directory: Path) -> str | None:
    """What to say about a run that began replacing the period's outputs by different ones
    and did not finish (None: there was none, or the stored outputs are what it would give)."""
    marker = Path(directory) / REPROCESSING
    if not marker.exists():
        return None
    try:
        info = load_json(marker)
        stored = load_json(Path(directory) / PROVENANCE)
    except InputError:  # unreadable: as if absent
        info, stored = {}, None
    if isinstance(info, dict) and isinstance(stored, dict) and info.get("provenance") == provenance.fingerprint(stored):
        return None
    started = info.get("started", "at an unknown time") if isinstance(info, dict) else "at an unknown time"
    return (f"a reprocessing started {started} did not finish: {SUMMARY} and the histograms "
            "are those of the run before it")


def load_json(path: Path) -> Any:
    """The JSON document in ``path``; :class:`InputError` naming the file when it cannot be
    read or is not JSON (truncated, damaged)."""
    try:
        return json.loads(Path(path).read_bytes())
    except OSError as e:
        raise InputError(f"{path}: cannot be read: {e.strerror or e}") from None
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError
        raise InputError(f"{path}: cannot be read: not JSON ({e}); truncated or damaged?") from None


class PeriodFailed(InputError):
    """The summary of a period whose processing failed (``status`` other than "processed")."""

    def __init__(self, path: Path, period: str, status: str, reason: str | None):
        self.reason = reason or "no reason given"
        super().__init__(f"{Path(path).parent}: period {period} {status}: {self.reason}")


def read_summary(path: Path) -> PeriodSummary:
    """The typed summary of a processed period in ``path``: :class:`PeriodFailed` for a
    period that failed (whatever else its summary holds), :class:`InputError` naming the
    file if it cannot be used."""
    doc = load_json(path)
    if isinstance(doc, dict) and doc.get("status", "processed") != "processed":
        raise PeriodFailed(path, str(doc.get("period", Path(path).parent.name)), str(doc["status"]),
                           doc.get("reason"))
    return PeriodSummary.from_json(doc, path)


def histograms_bytes(hists: dict[str, hist.Hist]) -> bytes:
    """All histograms of a period as one gzipped uhi-JSON document."""
    import uhi.io.json
    from hist import serialization

    doc = {name: serialization.to_uhi(h) for name, h in hists.items()}
    text = json.dumps(doc, default=uhi.io.json.default)
    return gzip.compress(text.encode(), compresslevel=6)


def write_histograms(path: Path, hists: dict[str, hist.Hist]) -> None:
    write_atomic(path, histograms_bytes(hists))


def read_histograms(path: Path) -> dict[str, hist.Hist]:
    """The histograms in ``path``; :class:`InputError` naming the file when it cannot be read."""
    import uhi.io.json
    from hist import serialization

    data = _read_bytes(path)
    try:
        doc = json.loads(gzip.decompress(data), object_hook=uhi.io.json.object_hook)
        return {name: hist.Hist(serialization.from_uhi(d)) for name, d in doc.items()}
    except Exception as e:  # EOFError, zlib.error, BadGzipFile, JSON, uhi: a damaged file
        raise InputError(f"{path}: damaged, not a histogram file ({type(e).__name__}: {e})") from None


def _read_bytes(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: missing") from None
    except OSError as e:
        raise InputError(f"{path}: cannot be read: {e.strerror or e}") from None


def describe(data: bytes) -> OutputFile:
    """Size and sha256 of a file's content, as the summary records them."""
    return OutputFile(size=len(data), sha256=hashlib.sha256(data).hexdigest())


def damaged_outputs(directory: Path, summary: PeriodSummary) -> list[str]:
    """The files of a period's set that are missing or not those its summary was written
    with (size and sha256 as recorded; a summary of version 0 recorded none, so its
    histograms are checked for gzip integrity), each with what is wrong."""
    directory = Path(directory)
    problems = []
    for name, expected in summary.outputs.items():
        path = directory / name
        try:
            data = _read_bytes(path)
        except InputError as err:
            problems.append(f"{err} ({SUMMARY} was written with it)")
            continue
        if describe(data) != expected:
            problems.append(f"{path}: damaged: {len(data)} bytes, sha256 {describe(data).sha256[:12]}..., "
                            f"not the {expected.size} bytes, sha256 {expected.sha256[:12]}... "
                            f"{SUMMARY} was written with")
    path = directory / HISTOGRAMS
    if not summary.outputs and path.exists():
        try:
            gzip.decompress(_read_bytes(path))  # checks the CRC and length of the whole content
        except InputError as err:
            problems.append(str(err))
        except Exception as e:  # EOFError, zlib.error, BadGzipFile
            problems.append(f"{path}: damaged ({type(e).__name__}: {e})")
    return problems


@dataclass
class PeriodResult:
    """A processed period, read back for the fit and for plots."""

    name: str
    directory: Path
    summary: PeriodSummary
    hists: dict[str, hist.Hist]
    #: Set when a later run began replacing these outputs and did not finish (see
    #: :func:`unfinished_reprocessing`).
    unfinished: str | None = None

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
    problems = damaged_outputs(directory, summary)
    if problems:
        raise InputError("; ".join(problems) + f"; reprocess the period (na64 process --period "
                         f"{summary.period})")
    return PeriodResult(summary.period, directory, summary, read_histograms(directory / HISTOGRAMS),
                        unfinished_reprocessing(directory))


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
