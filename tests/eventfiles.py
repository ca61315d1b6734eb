"""Hand-built events written to ROOT files that follow only ``shared/SCHEMA.md``.

This deliberately does not use the project's simulation: it is "another program"
writing the contract, event by event, so tests know exactly what each event holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import uproot

#: Lateral shape of a clean shower centred on tower (3, 3): fractions of the 3 x 3 towers.
CENTRE, EDGE, CORNER = 0.80, 0.04, 0.01

BRANCH_TYPES = {
    "run": np.int32, "spill": np.int32, "event": np.int64, "trigger": np.uint8,
    "beam_momentum": np.float32, "beam_angle": np.float32, "straw_tracks": np.int16,
    "srd": (np.float32, (3,)), "ecal": (np.float32, (2, 6, 6)), "ecal_time": np.float32,
    "veto": (np.float32, (3,)), "hcal": (np.float32, (4, 3, 3)),
    "mc_process": np.int8, "mc_emiss": np.float32,
}


def shower(energy: float, centre: tuple[int, int] = (3, 3), widen: float = 0.0,
           rng: np.random.Generator | None = None, preshower: float = 0.05) -> np.ndarray:
    """A (2, 6, 6) ECAL deposit of ``energy`` GeV; ``widen`` moves energy from the centre outwards."""
    cells = np.zeros((6, 6))
    cx, cy = centre
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            x, y = cx + dx, cy + dy
            if 0 <= x < 6 and 0 <= y < 6:
                f = CENTRE if dx == dy == 0 else (CORNER if dx and dy else EDGE)
                cells[x, y] = f
    if widen:
        cells[cx, cy] -= widen
        cells[cx + 1, cy] += widen
    if rng is not None:
        cells *= 1 + 0.03 * rng.standard_normal(cells.shape)
        cells = np.clip(cells, 0, None)
    cells *= energy / cells.sum()
    out = np.zeros((2, 6, 6), np.float32)
    out[0] = preshower * cells
    out[1] = (1 - preshower) * cells
    return out


def electron(energy: float = 100.0, trigger: int = 1, **changes) -> dict:
    """A clean beam electron depositing ``energy`` in the ECAL and nothing behind it."""
    event = {
        "trigger": trigger, "beam_momentum": 100.0, "beam_angle": 0.1, "straw_tracks": 1,
        "srd": [10.0, 12.0, 9.0], "ecal": shower(energy), "ecal_time": 0.2,
        "veto": [0.01, 0.02, 0.0], "hcal": np.zeros((4, 3, 3)),
        "mc_process": 0, "mc_emiss": 0.0,
    }
    event.update(changes)
    return event


def hcal_deposit(energy: float) -> np.ndarray:
    cells = np.zeros((4, 3, 3), np.float32)
    cells[0, 1, 1] = energy
    return cells


def calibration_electrons(n: int, seed: int = 7, energy: float = 100.0) -> list[dict]:
    """Calibration-trigger electrons with a few per cent of shape fluctuations."""
    rng = np.random.default_rng(seed)
    return [electron(energy, trigger=2, ecal=shower(energy * (1 + 0.02 * rng.standard_normal()), rng=rng))
            for _ in range(n)]


def write_events(path: Path, events: Sequence[dict], truth: bool = True, run: int = 1,
                 first_event: int = 0, step: int | None = None) -> Path:
    """Write events to ``path`` (one TTree ``events``), in steps of ``step`` events."""
    names = [n for n in BRANCH_TYPES if truth or not n.startswith("mc_")]
    n = len(events)
    columns = {}
    for name in names:
        spec = BRANCH_TYPES[name]
        dtype = spec[0] if isinstance(spec, tuple) else spec
        if name == "run":
            values = np.full(n, run)
        elif name == "spill":
            values = np.zeros(n)
        elif name == "event":
            values = first_event + np.arange(n)
        else:
            values = [e[name] for e in events]
        shape = (n, *spec[1]) if isinstance(spec, tuple) else (n,)
        columns[name] = np.asarray(values, dtype=dtype).reshape(shape)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with uproot.recreate(path, compression=uproot.ZSTD(3)) as f:
        f.mktree("events", {k: (v.dtype, v.shape[1:]) if v.ndim > 1 else v.dtype
                            for k, v in columns.items()})
        step = step or max(n, 1)
        for i in range(0, max(n, 1), step):
            if n:
                f["events"].extend({k: v[i:i + step] for k, v in columns.items()})
    return path


def write_catalog(directory: Path, name: str, files: Sequence[str], eot: float = 1e9,
                  extra: str = "") -> Path:
    """A period catalog YAML pointing at ``files``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.yaml"
    lines = [f'name: "{name}"', "beam: {particle: e-, energy: 100.0}", f"eot: {eot}", "files:"]
    lines += [f"  - {f}" for f in files]
    path.write_text("\n".join(lines) + "\n" + extra)
    return path
