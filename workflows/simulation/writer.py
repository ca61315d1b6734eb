"""ROOT shards: one file is one shard of one run (SCHEMA.md).

Files are ``<output>/na64sim_<period>_r<run>_<k>.root`` (signal samples
``na64sim_<period>_sig<mass>MeV_r<run>_<k>.root``), each with one TTree ``events``
written by uproot's ``mktree`` (a TTree, not an RNTuple), ZSTD-compressed, one
``extend()`` per block (or part of a block) so that clusters stay at block size.
A shard is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .stream import (
    BRANCHES,
    CALIBRATION_BIT,
    EXPOSURE_BRANCHES,
    TRUTH_BRANCHES,
    BlockSource,
    Stream,
)

PREFIX = "na64sim"
PARTIAL = ".part"


@dataclass(frozen=True)
class Shard:
    """Events [start, stop) of a stream: part ``index`` of run ``run``."""

    run: int
    index: int
    start: int
    stop: int
    path: Path

    @property
    def n_events(self) -> int:
        return self.stop - self.start


@dataclass
class ShardResult:
    """What a written shard holds."""

    path: Path
    run: int
    n_events: int
    calibration: int
    physics: dict[int, int] = field(default_factory=dict)


def mass_tag(mass: float) -> str:
    """File-name tag of a signal mass (GeV): 'sig16.7MeV'."""
    return f"sig{round(mass * 1e3, 6):g}MeV"


def shard_name(period: str, run: int, index: int, tag: str | None = None) -> str:
    middle = f"_{tag}" if tag else ""
    return f"{PREFIX}_{period}{middle}_r{run}_{index}.root"


def shard_pattern(period: str) -> re.Pattern[str]:
    """Names of this period's shards (background and signal), and their partial files."""
    return re.compile(rf"^{PREFIX}_{re.escape(period)}_(sig[0-9.e+-]+MeV_)?r\d+_\d+\.root"
                      rf"({re.escape(PARTIAL)})?$")


def remove_stale(output: Path, period: str) -> list[Path]:
    """Delete earlier shards of ``period`` in ``output`` (no other file is touched)."""
    pattern = shard_pattern(period)
    removed = []
    if output.is_dir():
        for p in sorted(output.iterdir()):
            if p.is_file() and pattern.match(p.name):
                p.unlink()
                removed.append(p)
    return removed


def plan_shards(stream: Stream, events_per_shard: int, output: Path,
                tag: str | None = None) -> list[Shard]:
    """Cut the stream at run boundaries and every ``events_per_shard`` events within a run."""
    if events_per_shard <= 0:
        raise ValueError("events_per_shard must be positive")
    per_run = stream.config.run_events
    shards = []
    for run_start in range(0, stream.n_events, per_run):
        run_stop = min(run_start + per_run, stream.n_events)
        run = stream.first_run + run_start // per_run
        for k, a in enumerate(range(run_start, run_stop, events_per_shard)):
            b = min(a + events_per_shard, run_stop)
            shards.append(Shard(run, k, a, b, output / shard_name(stream.period, run, k, tag)))
    return shards


def branch_types(truth: bool, exposure: bool = False) -> dict[str, np.dtype]:
    """mktree branch types of SCHEMA.md (fixed-size arrays as subarray dtypes); with
    ``exposure`` (and the truth) also ``mc_prescale``."""
    branches = {**BRANCHES, **(EXPOSURE_BRANCHES if exposure and truth else {})}
    return {name: np.dtype((dtype, shape)) if shape else np.dtype(dtype)
            for name, (dtype, shape) in branches.items()
            if truth or name not in TRUTH_BRANCHES}


def write_shard(shard: Shard, source: BlockSource, truth: bool, compression_level: int
                ) -> ShardResult:
    """Generate and write one shard; returns its event counts."""
    types = branch_types(truth, source.stream.labels is not None)
    block = source.stream.config.block_events
    result = ShardResult(shard.path, shard.run, shard.n_events, 0)
    tmp = shard.path.with_name(shard.path.name + PARTIAL)
    pieces = [(a, min(shard.stop, (a // block + 1) * block))
              for a in _starts(shard.start, shard.stop, block)]
    import uproot

    with uproot.recreate(tmp, compression=uproot.ZSTD(compression_level)) as f:
        tree = f.mktree("events", types)
        for a, b in pieces:
            cols = source.events(a, b)
            tree.extend({name: cols[name] for name in types})
            _count(result, cols)
    os.replace(tmp, shard.path)
    return result


def _starts(start: int, stop: int, block: int) -> list[int]:
    """Starts of the pieces of [start, stop) that lie in one block each."""
    out, pos = [], start
    while pos < stop:
        out.append(pos)
        pos = min(stop, (pos // block + 1) * block)
    return out


def _count(result: ShardResult, cols: dict[str, np.ndarray]) -> None:
    cal = (cols["trigger"] & CALIBRATION_BIT).astype(bool)
    result.calibration += int(cal.sum())
    codes, counts = np.unique(cols["mc_process"][~cal], return_counts=True)
    for c, k in zip(codes.tolist(), counts.tolist(), strict=True):
        result.physics[c] = result.physics.get(c, 0) + k
