"""Checking input files before processing, on the workers.

Each file of a period is opened once: the ``events`` tree must exist, every branch
must follow the schema, and the baskets must lie inside the file (a truncated copy
fails here, before any chunk is scheduled). What the check learns (entries, file
UUID, cluster boundaries) is exactly what coffea's Runner needs to cut chunks, so
the Runner does not open the files a second time.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from processors.schema import MC_BRANCHES, REQUIRED, TREE_NAME, branch_problems


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

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def reason(self) -> str:
        return "; ".join(self.problems)

    def to_json(self) -> dict:
        d = asdict(self)
        d.pop("uuid")
        d.pop("clusters")
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
            magic = raw.read(4)
    except OSError as e:
        check.problems.append(f"cannot be read: {e.strerror or e}")
        return check
    if magic != b"root":
        check.problems.append("not a ROOT file (it does not start with the ROOT signature 'root')")
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
                check.problems.append(f"'{treename}' is a {type(tree).__name__}, not a TTree")
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
    except Exception as e:  # not ROOT, damaged header, unreadable streamers, ...
        text = str(e).strip().splitlines()[0] if str(e).strip() else ""
        check.problems.append(f"not a readable ROOT file ({type(e).__name__}: {text})")
    return check


def check_files(paths: Sequence[Path], client=None) -> list[FileCheck]:
    """Check every file, on the Dask cluster when a client is given."""
    names = [str(p) for p in paths]
    if client is None:
        return [check_file(p) for p in names]
    futures = client.map(check_file, names, pure=False, key=[f"check-{i}-{p}" for i, p in enumerate(names)])
    return client.gather(futures)


def coffea_metadata(checks: Iterable[FileCheck], dataset: str, treename: str = TREE_NAME) -> dict:
    """Metadata cache entries for coffea's Runner (no second opening of the files)."""
    from coffea.processor.executor import FileMeta

    cache = {}
    for c in checks:
        if c.ok and c.entries > 0:
            cache[FileMeta(dataset, c.path, treename)] = {
                "numentries": c.entries, "uuid": c.uuid, "clusters": c.clusters,
            }
    return cache
