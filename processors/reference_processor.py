"""The first pass's coffea processor: per-chunk sums from which
:func:`processors.reference.reference_from_output` builds the shower reference.

Apart from :mod:`processors.reference` so that reading a stored reference (every
command that looks at results) does not import coffea and uproot.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from coffea.processor import ProcessorABC

from processors.chunk_memory import release_previous_chunk
from processors.cuts import Thresholds
from processors.kernels import lowest_highest, module_sums, shower_shape
from processors.output import REFERENCE_ENERGY_EDGES, REFERENCE_SUMS_SHAPE, ChunkFailure, ReferenceSums, chunk_key
from processors.reading import READ_ERRORS, describe, read_column
from processors.reference import E_OVER_P_WINDOW, FULL_ENERGY_WINDOW, LowEnergySelection
from processors.schema import CALIBRATION_BIT, NEIGHBOURS, physics_mask


class ShowerReferenceProcessor(ProcessorABC):
    """First pass: per-chunk sums, per energy bin, of the tower fractions of the
    calibration electrons and of the low-energy physics-trigger electrons.

    The output (:class:`~processors.output.ReferenceSums`) keeps one entry per chunk.
    A chunk whose file cannot be read is listed in its ``failed`` (file, entry range,
    reason); any other exception is raised.
    """

    def __init__(self, beam_energy: float, ecal_scale: float, central_cell: tuple[int, int],
                 selection: LowEnergySelection | None = None):
        self.beam_energy = beam_energy
        self.ecal_scale = ecal_scale
        self.central_cell: tuple[int, int] = (int(central_cell[0]), int(central_cell[1]))
        self.selection = selection or LowEnergySelection.of(Thresholds.model_validate({}))

    def process(self, events: Any) -> ReferenceSums:
        release_previous_chunk()
        meta = events.metadata
        try:
            sums = self.sums(lambda name: read_column(events, name))
        except READ_ERRORS as err:  # unreadable chunk: reported; anything else is a bug
            return ReferenceSums(failed=[ChunkFailure.of(meta, describe(err))])
        return ReferenceSums(sums={chunk_key(meta): sums})

    def sums(self, column: Any) -> np.ndarray:
        """The per-bin sums of one chunk whose branches ``column(name)`` reads."""
        _, k, e, f = self.select(column)
        out = np.zeros(REFERENCE_SUMS_SHAPE)
        nb = REFERENCE_SUMS_SHAPE[0]
        out[:, 0] = np.bincount(k, minlength=nb)
        out[:, 1] = np.bincount(k, weights=1.0 / e, minlength=nb)
        for j in range(f.shape[1]):
            out[:, 2 + j] = np.bincount(k, weights=f[:, j], minlength=nb)
            out[:, 11 + j] = np.bincount(k, weights=f[:, j] * f[:, j], minlength=nb)
        return out

    def select(self, column: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The reference electrons of one chunk whose branches ``column(name)`` reads: their
        entries in the chunk, energy bins (the last: calibration electrons), shower
        energies (scaled E_ECAL, GeV) and (n, 9) fractions."""
        e0, sel = self.beam_energy, self.selection
        x, y = self.central_cell
        trigger = column("trigger")
        calib = np.flatnonzero(trigger & CALIBRATION_BIT)
        physics = physics_mask(trigger)
        if physics.any():  # cheap track preselection before the ECAL is read
            p = column("beam_momentum")
            physics &= (p < (1 - sel.momentum_window) * e0) & (p > 0)
            physics &= column("beam_angle") < sel.max_angle
            physics &= column("straw_tracks") == sel.straw_tracks
            physics &= np.abs(column("ecal_time")) < sel.ecal_time_window
        low = np.flatnonzero(physics)
        index = np.concatenate([calib, low])
        if not index.size:
            return index, index, np.empty(0), np.empty((0, len(NEIGHBOURS)))
        total, hottest, fractions = shower_shape(column("ecal"), index, self.central_cell)
        e = total * self.ecal_scale
        ok = np.isfinite(total) & (hottest == 6 * x + y)
        edges = np.asarray(REFERENCE_ENERGY_EDGES) * e0
        k = np.full(len(index), -1, np.intp)
        nc = calib.size
        lo, hi = FULL_ENERGY_WINDOW
        k[:nc] = np.where(ok[:nc] & (e[:nc] > lo * e0) & (e[:nc] < hi * e0), len(edges) - 2, -1)
        if low.size:
            _, e_hcal = module_sums(column("hcal"), low, sel.hcal_modules)
            _, veto = lowest_highest(column("veto")[low])
            e_low = e[nc:]
            ratio = e_low / column("beam_momentum")[low]
            good = (ok[nc:] & (e_hcal * sel.hcal_scale < sel.hcal_max) & (veto < sel.veto_max)
                    & (ratio > E_OVER_P_WINDOW[0]) & (ratio < E_OVER_P_WINDOW[1])
                    & (e_low >= edges[0]) & (e_low < edges[-2]))
            k[nc:] = np.where(good, np.searchsorted(edges, e_low, side="right") - 1, -1)
        use = k >= 0
        return index[use], k[use], e[use], fractions[use]

    def postprocess(self, accumulator: ReferenceSums) -> ReferenceSums:
        return accumulator
