"""The data-driven reference of the lateral shower shape.

From a period's calibration-trigger events (unbiased full-energy beam electrons,
SCHEMA.md trigger bit 1) the first pass derives the mean and spread of the energy
fractions of the 3 x 3 towers around the central tower; the search's shower chi2
compares each physics event with it. Nothing here knows how the data were made:
real data, our simulation and foreign files are treated alike.

Calibration electrons enter the reference when their energies are finite, their
hottest tower is the central one and their total (scaled) ECAL energy is within
+-20 % of the beam energy, which keeps any hadron or muon that slipped into the
calibration trigger out of the reference.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from coffea.processor import ProcessorABC

from processors.chunk_memory import release_previous_chunk
from processors.errors import ProcessingError
from processors.kernels import NEIGHBOURS, shower_shape
from processors.output import ChunkFailure, ReferenceSums, chunk_key
from processors.reading import READ_ERRORS, describe, read_column
from processors.schema import CALIBRATION_BIT

#: Window on E_ECAL / E0 for calibration electrons entering the reference.
FULL_ENERGY_WINDOW = (0.8, 1.2)
#: Fewer calibration electrons than this cannot define a reference.
MIN_REFERENCE_EVENTS = 100


class ReferenceUnavailable(ProcessingError):
    """The shower reference cannot be derived (too few calibration electrons)."""


@dataclass(frozen=True)
class ShowerReference:
    """Mean and spread of the nine tower fractions, and how many electrons made them."""

    central_cell: tuple[int, int]
    mean: tuple[float, ...]
    sigma: tuple[float, ...]
    n_events: int
    sources: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_sums(cls, central_cell: tuple[int, int], n: float, s1: np.ndarray,
                  s2: np.ndarray, sources: tuple[str, ...] = ()) -> ShowerReference:
        if n < MIN_REFERENCE_EVENTS:
            raise ReferenceUnavailable(
                f"only {int(n)} calibration-trigger electrons passed the reference selection"
                f" (at least {MIN_REFERENCE_EVENTS} are needed to derive the shower shape)"
            )
        mean = s1 / n
        var = np.maximum(s2 / n - mean**2, 0.0) * n / (n - 1)
        return cls((int(central_cell[0]), int(central_cell[1])), tuple(map(float, mean)),
                   tuple(map(float, np.sqrt(var))), int(n), sources)

    @property
    def mean_array(self) -> np.ndarray:
        return np.asarray(self.mean, dtype=np.float64)

    @property
    def sigma_array(self) -> np.ndarray:
        return np.asarray(self.sigma, dtype=np.float64)

    def to_json(self) -> dict[str, Any]:
        x0, y0 = self.central_cell
        return {
            "central_cell": list(self.central_cell),
            "towers": [[x0 + dx, y0 + dy] for dx, dy in NEIGHBOURS],
            "mean": list(self.mean),
            "sigma": list(self.sigma),
            "n_events": self.n_events,
            "selection": "calibration trigger, finite energies, hottest tower central, "
                         f"E_ECAL/E0 in {list(FULL_ENERGY_WINDOW)}",
            "chunks": list(self.sources),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ShowerReference:
        return cls(tuple(data["central_cell"]), tuple(data["mean"]), tuple(data["sigma"]),
                   int(data["n_events"]), tuple(data.get("chunks", ())))

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=1) + "\n")

    @classmethod
    def read(cls, path: Path) -> ShowerReference:
        return cls.from_json(json.loads(path.read_text()))


class ShowerReferenceProcessor(ProcessorABC):
    """First pass: per-chunk sums of the tower fractions of calibration electrons.

    The output (:class:`~processors.output.ReferenceSums`) keeps one entry per chunk.
    A chunk whose file cannot be read is listed in its ``failed`` (file, entry range,
    reason); any other exception is raised.
    """

    def __init__(self, beam_energy: float, ecal_scale: float, central_cell: tuple[int, int]):
        self.beam_energy = beam_energy
        self.ecal_scale = ecal_scale
        self.central_cell: tuple[int, int] = (int(central_cell[0]), int(central_cell[1]))

    def process(self, events: Any) -> ReferenceSums:
        release_previous_chunk()
        meta = events.metadata
        try:
            trigger = read_column(events, "trigger")
            calib = np.flatnonzero(trigger & CALIBRATION_BIT)
            ecal = read_column(events, "ecal") if calib.size else np.empty((0, 2, 6, 6), np.float32)
        except READ_ERRORS as err:  # unreadable chunk: reported; anything else is a bug
            return ReferenceSums(failed=[ChunkFailure.of(meta, describe(err))])
        total, hottest, fractions = shower_shape(ecal, calib, self.central_cell)
        x, y = self.central_cell
        e = total * self.ecal_scale
        lo, hi = FULL_ENERGY_WINDOW
        ok = (np.isfinite(total) & (hottest == 6 * x + y)
              & (e > lo * self.beam_energy) & (e < hi * self.beam_energy))
        f = fractions[ok]
        sums = np.concatenate([[float(ok.sum())], f.sum(axis=0), (f * f).sum(axis=0)])
        return ReferenceSums(sums={chunk_key(meta): sums})

    def postprocess(self, accumulator: ReferenceSums) -> ReferenceSums:
        return accumulator


def reference_from_output(output: ReferenceSums, central_cell: tuple[int, int]) -> ShowerReference:
    """Add the per-chunk sums in chunk order and build the reference."""
    sums = output.sums
    keys = sorted(sums)
    total = np.zeros(19)
    for k in keys:
        total += sums[k]
    return ShowerReference.from_sums(central_cell, total[0], total[1:10], total[10:19], tuple(keys))
