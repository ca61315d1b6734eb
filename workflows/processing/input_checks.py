"""Checking input files before processing, on the workers.

Each file of a period is opened once: the ``events`` tree must exist, every branch
must follow the schema, and the baskets must lie inside the file (a truncated copy
fails here, before any chunk is scheduled). What the check learns (entries, file
UUID, cluster boundaries) is exactly what coffea's Runner needs to cut chunks, so
the Runner does not open the files a second time.

Duplicated events (the same ``(run, spill, event)`` in two shards, or twice in one)
are found cheaply: the check also reads the three key branches and returns, per run,
the range of event numbers and a hash of the sorted keys. Files with the same hash
are copies of each other; only files whose event ranges overlap within a run are
compared key by key (:func:`find_duplicates`, one task per group of overlapping
files). The later copies (in path order) of a duplicated event are left out.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Iterable, MutableMapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from processors.schema import MC_BRANCHES, REQUIRED, TREE_NAME, branch_problems

#: The branches that name an event (SCHEMA.md): unique within a run period.
KEY_BRANCHES = ("run", "spill", "event")


@dataclass
class FileCheck:
    """The verdict on one input file."""

    path: str
    size: int = 0
    mtime: float = 0.0
    entries: int = 0
    uuid: bytes = b""
    clusters: list[int] = field(default_factory=list)
    has_truth: bool = False
    problems: list[str] = field(default_factory=list)
    #: ``[run, first event, last event]`` per run in the file (for the overlap test).
    runs: list[tuple[int, int, int]] = field(default_factory=list)
    #: sha256 of the file's sorted (run, spill, event) keys: equal for copies.
    keys_sha256: str = ""
    #: Entries repeating a key seen earlier in the same file.
    repeated: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def reason(self) -> str:
        return "; ".join(self.problems)

    def to_json(self) -> dict:
        d = asdict(self)
        for key in ("uuid", "clusters", "runs", "repeated"):
            d.pop(key)
        return d


def _truncation_problems(tree, file_size: int) -> list[str]:
    """Baskets that would end beyond the end of the file."""
    problems = []
    for name in (*REQUIRED, *MC_BRANCHES):
        if name not in tree:
            continue
        branch = tree[name]
        for i in range(branch.num_baskets):
            seek = int(branch.member("fBasketSeek")[i])
            nbytes = int(branch.member("fBasketBytes")[i])
            if seek + nbytes > file_size:
                problems.append(
                    f"file is truncated: basket {i} of branch '{name}' ends at byte "
                    f"{seek + nbytes}, beyond the file size {file_size}"
                )
                return problems
    return problems


#: ROOT file header: "root", fVersion, fBEGIN, then fEND (4 bytes, or 8 from version 1000000).
_HEADER = struct.Struct(">4sii")


def _root_file_end(header: bytes) -> int | None:
    """The file length a ROOT header promises (fEND), or None if the header is too short."""
    if len(header) < _HEADER.size + 4:
        return None
    _, version, _ = _HEADER.unpack_from(header)
    if version >= 1_000_000:
        if len(header) < _HEADER.size + 8:
            return None
        return struct.unpack_from(">q", header, _HEADER.size)[0]
    return struct.unpack_from(">i", header, _HEADER.size)[0]


def read_keys(tree) -> np.ndarray:
    """The (run, spill, event) keys of a tree as one structured array, in entry order."""
    arrays = tree.arrays(list(KEY_BRANCHES), library="np")
    keys = np.empty(len(arrays["run"]), dtype=[("run", "<i8"), ("spill", "<i8"), ("event", "<i8")])
    for name in KEY_BRANCHES:
        keys[name] = arrays[name]
    return keys


def _key_order(keys: np.ndarray) -> np.ndarray | None:
    """Stable order of the keys (equal keys keep their entry order); None when they are
    in order already (the usual case: a shard is written in run, spill, event order)."""
    if len(keys) < 2:
        return None
    run, spill, event = keys["run"], keys["spill"], keys["event"]
    later = run[1:] > run[:-1]
    same = run[1:] == run[:-1]
    later |= same & (spill[1:] > spill[:-1])
    same &= spill[1:] == spill[:-1]
    later |= same & (event[1:] >= event[:-1])
    if later.all():
        return None
    return np.lexsort((event, spill, run))


def _repeats_previous(ordered: np.ndarray) -> np.ndarray:
    """For keys in order: True where a key equals the one before it (compared column by
    column: comparing the structured records directly is several times slower)."""
    same = np.zeros(len(ordered), bool)
    if len(ordered) > 1:
        same[1:] = np.logical_and.reduce([ordered[k][1:] == ordered[k][:-1] for k in KEY_BRANCHES])
    return same


def _key_summary(check: FileCheck, keys: np.ndarray) -> None:
    """Per-run event ranges, the hash of the sorted keys and repeats within the file."""
    if not len(keys):
        return
    order = _key_order(keys)
    ordered = keys if order is None else keys[order]
    check.keys_sha256 = hashlib.sha256(memoryview(np.ascontiguousarray(ordered)).cast("B")).hexdigest()
    same = _repeats_previous(ordered)
    check.repeated = sorted(int(i) for i in (np.flatnonzero(same) if order is None else order[same]))
    run = ordered["run"]  # in order: each run's keys are one block (no sort, as np.unique would)
    first = np.flatnonzero(np.concatenate([[True], run[1:] != run[:-1]]))
    runs = run[first]
    last = np.append(first[1:], len(ordered)) - 1
    events = ordered["event"]
    check.runs = [(int(r), int(events[a:b + 1].min()), int(events[a:b + 1].max()))
                  for r, a, b in zip(runs, first, last, strict=True)]


def check_file(path: str, treename: str = TREE_NAME) -> FileCheck:
    """Open ``path`` and report every way it departs from the schema (never raises)."""
    import uproot

    check = FileCheck(path=str(path))
    try:
        st = os.stat(path)
        check.size, check.mtime = st.st_size, st.st_mtime
    except OSError as e:
        check.problems.append(f"cannot be read: {e.strerror or e}")
        return check
    try:
        with open(path, "rb") as raw:
            header = raw.read(_HEADER.size + 8)
    except OSError as e:
        check.problems.append(f"cannot be read: {e.strerror or e}")
        return check
    if header[:4] != b"root":
        check.problems.append("not a ROOT file (it does not start with the ROOT signature 'root')")
        return check
    end = _root_file_end(header)
    if end is not None and end > check.size:
        check.problems.append(f"file is truncated: its ROOT header says it ends at byte {end}, "
                              f"the file has {check.size} bytes")
        return check
    try:
        with uproot.open(path) as f:
            if treename not in f:
                kinds = sorted({c.split(";")[0] for c in f.keys()})
                check.problems.append(
                    f"holds no '{treename}' tree (it holds: {', '.join(kinds) or 'nothing'})")
                return check
            tree = f[treename]
            if not hasattr(tree, "num_entries") or not hasattr(tree, "branches"):
                kind = type(tree).__name__
                kind = "RNTuple" if "RNTuple" in kind else kind
                check.problems.append(f"'{treename}' is a {kind}, not a TTree")
                return check
            check.problems.extend(branch_problems(tree))
            if check.problems:
                return check
            check.problems.extend(_truncation_problems(tree, check.size))
            if check.problems:
                return check
            check.entries = int(tree.num_entries)
            check.uuid = f.file.fUUID
            check.clusters = [int(c) for c in tree.common_entry_offsets()]
            check.has_truth = all(b in tree for b in MC_BRANCHES)
            try:
                keys = read_keys(tree)
            except Exception as e:  # damaged baskets of the key branches
                check.problems.append(f"cannot read the event keys {'/'.join(KEY_BRANCHES)} "
                                      f"({type(e).__name__}: {e})")
                return check
            _key_summary(check, keys)
    except Exception as e:  # not ROOT, damaged header, unreadable streamers, ...
        text = str(e).strip().splitlines()[0] if str(e).strip() else ""
        check.problems.append(f"not a readable ROOT file ({type(e).__name__}: {text})")
    return check


def count_events(paths: Sequence[Path], treename: str = TREE_NAME) -> int | None:
    """Entries of ``treename`` over the files, or None when any file cannot be opened
    (a quick look for listings; :func:`check_file` says what is wrong with a file)."""
    import uproot

    total = 0
    for path in paths:
        try:
            with uproot.open(path) as f:
                total += f[treename].num_entries
        except (OSError, ValueError, KeyError, TypeError):  # not ROOT, damaged, no tree
            return None
    return total


def check_files(paths: Sequence[Path], client=None) -> list[FileCheck]:
    """Check every file, on the Dask cluster when a client is given."""
    names = [str(p) for p in paths]
    if client is None:
        return [check_file(p) for p in names]
    futures = client.map(check_file, names, pure=False, key=[f"check-{i}-{p}" for i, p in enumerate(names)])
    return client.gather(futures)


class FileMetadataCache(MutableMapping):
    """coffea's metadata cache, keyed by (dataset, file, tree) instead of by ``FileMeta``.

    ``FileMeta.__hash__`` (coffea.util._hash) encodes the file name as ASCII, so a dict
    keyed by ``FileMeta`` raises UnicodeEncodeError for a path such as ``daten_é/1.root``;
    this mapping never hashes a ``FileMeta``.
    """

    def __init__(self) -> None:
        self._data: dict[tuple[str, str, str], dict] = {}

    @staticmethod
    def _key(filemeta) -> tuple[str, str, str]:
        return (filemeta.dataset, filemeta.filename, filemeta.treename)

    def __getitem__(self, filemeta) -> dict:
        return self._data[self._key(filemeta)]

    def __setitem__(self, filemeta, value: dict) -> None:
        self._data[self._key(filemeta)] = value

    def __delitem__(self, filemeta) -> None:
        del self._data[self._key(filemeta)]

    def __contains__(self, filemeta) -> bool:
        return self._key(filemeta) in self._data

    def __iter__(self):
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


def coffea_metadata(checks: Iterable[FileCheck], dataset: str,
                    treename: str = TREE_NAME) -> FileMetadataCache:
    """Metadata cache entries for coffea's Runner (no second opening of the files)."""
    from coffea.processor.executor import FileMeta

    cache = FileMetadataCache()
    for c in checks:
        if c.ok and c.entries > 0:
            cache[FileMeta(dataset, c.path, treename)] = {
                "numentries": c.entries, "uuid": c.uuid, "clusters": c.clusters,
            }
    return cache


@dataclass
class Duplicates:
    """Entries to leave out because their (run, spill, event) came earlier in the period."""

    #: path -> sorted entry numbers to skip (files not listed keep every entry).
    skip: dict[str, np.ndarray] = field(default_factory=dict)
    #: path -> the earlier files holding the kept copies.
    of: dict[str, list[str]] = field(default_factory=dict)
    #: files that are copies of an earlier file as a whole (left out entirely).
    whole_files: dict[str, str] = field(default_factory=dict)

    @property
    def events(self) -> int:
        return int(sum(len(v) for v in self.skip.values()))

    def report(self, entries: dict[str, int]) -> dict:
        """The ``duplicates`` section of summary.json."""
        files = []
        for path in sorted(self.skip):
            files.append({
                "file": path, "entries_skipped": int(len(self.skip[path])),
                "entries": int(entries.get(path, 0)),
                "whole_file": path in self.whole_files or len(self.skip[path]) == entries.get(path),
                "copies_kept_in": self.of.get(path, []),
            })
        return {"events": self.events, "files": files}


def _overlapping_groups(checks: Sequence[FileCheck]) -> list[list[int]]:
    """Groups (indices into ``checks``) of files whose event ranges overlap within a run."""
    parent = list(range(len(checks)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    by_run: dict[int, list[tuple[int, int, int]]] = {}
    for i, c in enumerate(checks):
        for run, lo, hi in c.runs:
            by_run.setdefault(run, []).append((lo, hi, i))
    for intervals in by_run.values():
        intervals.sort()
        reach, owner = None, None
        for lo, hi, i in intervals:
            if reach is not None and lo <= reach:
                parent[find(i)] = find(owner)
            if reach is None or hi > reach:
                reach, owner = hi, i
    groups: dict[int, list[int]] = {}
    for i in range(len(checks)):
        groups.setdefault(find(i), []).append(i)
    return [g for g in groups.values() if len(g) > 1]


def duplicate_entries(paths: Sequence[str],
                      treename: str = TREE_NAME) -> list[tuple[list[int], list[int]]]:
    """Key-by-key comparison of files (in the given order), on a worker.

    Returns, per file, the entries whose key appeared earlier (in an earlier file or
    earlier in the same file) and the indices of the files holding the kept copies.
    """
    import uproot

    keys, owners, entries = [], [], []
    for i, path in enumerate(paths):
        with uproot.open(path) as f:
            k = read_keys(f[treename])
        keys.append(k)
        owners.append(np.full(len(k), i, np.int64))
        entries.append(np.arange(len(k), dtype=np.int64))
    k, owner, entry = np.concatenate(keys), np.concatenate(owners), np.concatenate(entries)
    order = np.lexsort((entry, owner, k["event"], k["spill"], k["run"]))
    ordered = k[order]
    first_of_group = ~_repeats_previous(ordered)
    group_start = np.maximum.accumulate(np.where(first_of_group, np.arange(len(order)), 0))
    kept_owner = owner[order][group_start]
    out = []
    for i in range(len(paths)):
        dup = ~first_of_group & (owner[order] == i)
        out.append((sorted(int(e) for e in entry[order][dup]),
                    sorted({int(o) for o in kept_owner[dup] if o != i})))
    return out


def find_duplicates(checks: Sequence[FileCheck], client=None) -> Duplicates:
    """Duplicated events among the good files of a period (``checks`` in path order)."""
    good = [c for c in checks if c.ok and c.entries > 0]
    dups = Duplicates()
    by_hash: dict[str, str] = {}
    distinct = []
    for c in good:
        if c.keys_sha256 in by_hash:  # a copy of an earlier file: left out as a whole
            dups.whole_files[c.path] = by_hash[c.keys_sha256]
            dups.skip[c.path] = np.arange(c.entries, dtype=np.int64)
            dups.of[c.path] = [by_hash[c.keys_sha256]]
            continue
        by_hash[c.keys_sha256] = c.path
        distinct.append(c)
        if c.repeated:
            dups.skip[c.path] = np.asarray(c.repeated, np.int64)
    groups = [[distinct[i].path for i in g] for g in _overlapping_groups(distinct)]
    if not groups:
        return dups
    if client is None:
        results = [duplicate_entries(g) for g in groups]
    else:
        futures = client.map(duplicate_entries, groups, pure=False,
                             key=[f"duplicates-{i}-{g[0]}" for i, g in enumerate(groups)])
        results = client.gather(futures)
    for group, result in zip(groups, results, strict=True):
        for path, (skip, kept_in) in zip(group, result, strict=True):
            if skip:
                dups.skip[path] = np.asarray(skip, np.int64)
            if kept_in:
                dups.of[path] = [group[j] for j in kept_in]
    return dups


def kept_ranges(start: int, stop: int, skip: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) without the entries in ``skip`` (sorted), as maximal ranges."""
    inside = skip[(skip >= start) & (skip < stop)]
    ranges, pos = [], start
    for s in inside.tolist():
        if s > pos:
            ranges.append((pos, s))
        pos = s + 1
    if pos < stop:
        ranges.append((pos, stop))
    return ranges
