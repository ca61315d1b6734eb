"""Turning the merged histograms of a period into ``summary.json``."""

from __future__ import annotations

from collections.abc import Sequence

import hist

from processors.cuts import cut_names
from processors.histograms import PROCESS_CODES
from processors.schema import PROCESSES
from processors.variations import NOMINAL

BLINDING_NOTE = (
    "blinded: events whose (E_ECAL, E_HCAL) lie in the signal box (the nominal one, and a "
    "variation's own box for that variation) are excluded at every step: from the cutflow, "
    "the regions, every histogram and the per-process cutflow"
)


def _count(x: float) -> int:
    return int(round(float(x)))


def cutflow(h: hist.Hist, variation: str = NOMINAL) -> list[dict]:
    """``[{"cut": name, "events": n}, ...]`` in chain order, first entry all physics triggers."""
    counts = h[{"variation": variation}].values()
    return [{"cut": name, "events": _count(n)} for name, n in zip(cut_names(), counts, strict=True)]


def cutflow_by_process(h: hist.Hist, variation: str = NOMINAL) -> dict[str, list[int]]:
    """Events after each cut per true process (only processes that occur)."""
    values = h[{"variation": variation}].values()
    out = {}
    for j, code in enumerate(PROCESS_CODES):
        column = values[:, j]
        if code in PROCESSES and column.any():
            out[f"{code} {PROCESSES[code]}"] = [_count(v) for v in column]
    return out


def regions(h: hist.Hist, blinded: bool, variation: str = NOMINAL) -> dict[str, int | None]:
    sub = h[{"variation": variation}]
    out: dict[str, int | None] = {r: _count(sub[hist.loc(r)].value) for r in ("A", "C")}
    out["box"] = None if blinded else _count(sub[hist.loc("box")].value)
    return out


def variation_summaries(hists: dict[str, hist.Hist], names: Sequence[str], blinded: bool) -> dict:
    return {
        name: {"cutflow": cutflow(hists["cutflow"], name), "regions": regions(hists["regions"], blinded, name)}
        for name in names if name != NOMINAL
    }
