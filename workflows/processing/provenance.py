"""Provenance of a processed period: everything its outputs depend on.

A period is reprocessed only when its provenance changes: the catalog entry, any
input file (path, size, modification time), the configuration (thresholds,
calibration, variations, blinding, chunking), the code, or the versions of the
packages that compute the result.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from importlib import metadata
from pathlib import Path

import processors

#: Packages whose versions can change a result.
PACKAGES = ("na64-invisible", "coffea", "uproot", "awkward", "numpy", "numba", "hist",
            "boost-histogram", "dask", "distributed")

_CODE_ROOTS = (Path(processors.__file__).parent, Path(__file__).parents[1])


def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def code_version() -> dict[str, str]:
    """A hash of the processors' and workflows' sources, and the git commit if known."""
    digest = hashlib.sha256()
    for root in _CODE_ROOTS:
        for path in sorted(root.rglob("*.py")):
            digest.update(path.relative_to(root.parent).as_posix().encode())
            digest.update(path.read_bytes())
    out = {"source_sha256": digest.hexdigest()}
    try:
        out["git"] = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=_CODE_ROOTS[0].parent,
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def build(period_entry: dict, files: list[dict], config: dict) -> dict:
    """The provenance record of one period."""
    return {
        "catalog": period_entry,
        "files": sorted(files, key=lambda f: f["path"]),
        "config": config,
        "code": code_version(),
        "packages": package_versions(),
    }


def fingerprint(record: dict, exclude: tuple[str, ...] = ()) -> str:
    """A short stable hash of a provenance record (or of part of it)."""
    kept = {k: v for k, v in record.items() if k not in exclude}
    text = json.dumps(kept, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def differences(old: dict, new: dict) -> list[str]:
    """Top-level sections that differ, with the changed files named."""
    changed = []
    for key in sorted(set(old) | set(new)):
        if old.get(key) == new.get(key):
            continue
        if key == "files":
            before = {f["path"]: f for f in old.get("files", [])}
            after = {f["path"]: f for f in new.get("files", [])}
            names = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
            changed.append("files: " + ", ".join(Path(p).name for p in names[:5])
                           + (" ..." if len(names) > 5 else ""))
        else:
            changed.append(key)
    return changed
