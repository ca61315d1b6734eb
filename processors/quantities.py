"""Per-event quantities of one chunk, computed once and shared by every variation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from processors.kernels import lowest_highest, module_sums, shower_shape
from processors.reading import read_chunk
from processors.reference import ShowerReference
from processors.schema import physics_mask

#: Branches the search reads (SCHEMA.md names).
SEARCH_BRANCHES = (
    "trigger", "beam_momentum", "beam_angle", "straw_tracks", "srd",
    "ecal", "ecal_time", "veto", "hcal",
)

#: mc_process code for events without MC truth in the per-process cutflow.
NO_TRUTH = -1


def read_columns(events: Any, with_truth: bool) -> dict[str, np.ndarray]:
    """Materialise the branches of a chunk as numpy arrays (this is where I/O happens),
    checked against the schema; raises one of :data:`processors.reading.READ_ERRORS`
    when the file cannot be read."""
    return read_chunk(events, SEARCH_BRANCHES + (("mc_process",) if with_truth else ()))


def physics_index(trigger: np.ndarray) -> np.ndarray:
    """Entries of the physics-trigger events (:func:`processors.schema.physics_mask`)."""
    return np.flatnonzero(physics_mask(trigger))


@dataclass
class EventQuantities:
    """What the cuts and the regions read, for the physics-trigger events of a chunk."""

    ecal_time: np.ndarray
    beam_momentum: np.ndarray
    beam_angle: np.ndarray
    straw_tracks: np.ndarray
    srd_lowest: np.ndarray  # the smallest and the largest of the three SRD energies
    srd_highest: np.ndarray
    veto_highest: np.ndarray  # the largest of the three VETO energies
    e_ecal_raw: np.ndarray  # sum of the 72 cells, before the period's energy scale
    e_hcal_raw: np.ndarray  # sum of the chosen HCAL modules, before the energy scale
    hottest_cell: np.ndarray  # 6 * x + y of the hottest ECAL tower
    fractions: np.ndarray  # (n, 9) energy fractions of the 3 x 3 towers around the centre
    chi2: np.ndarray  # against the reference at each event's shower energy (scaled E_ECAL)
    finite: np.ndarray
    mc_process: np.ndarray

    def __len__(self) -> int:
        return len(self.e_ecal_raw)

    @classmethod
    def compute(
        cls,
        columns: Mapping[str, np.ndarray],
        reference: ShowerReference,
        hcal_modules: Sequence[int],
        *,
        ecal_scale: float,
    ) -> EventQuantities:
        """The quantities of the physics-trigger events of ``columns``; the shower chi2
        evaluates ``reference`` at each event's E_ECAL times the period's ``ecal_scale``
        (the nominal scale: a variation's ECAL factor moves the regions, not the chi2)."""
        idx = physics_index(columns["trigger"])
        e_ecal, hottest, fractions = shower_shape(columns["ecal"], idx, reference.central_cell)
        hcal_all, e_hcal = module_sums(columns["hcal"], idx, tuple(hcal_modules))
        # Per module, elementwise (faster than reductions over 3 columns); NaN propagates
        # through minimum and maximum, so an event with a NaN module fails every cut.
        srd_lowest, srd_highest = lowest_highest(columns["srd"][idx])
        veto_lowest, veto_highest = lowest_highest(columns["veto"][idx])
        ecal_time = columns["ecal_time"][idx]
        finite = (np.isfinite(e_ecal) & np.isfinite(hcal_all) & np.isfinite(ecal_time)
                  & np.isfinite(srd_lowest) & np.isfinite(srd_highest)
                  & np.isfinite(veto_lowest) & np.isfinite(veto_highest))
        truth = columns.get("mc_process")
        return cls(
            ecal_time=ecal_time,
            beam_momentum=columns["beam_momentum"][idx],
            beam_angle=columns["beam_angle"][idx],
            straw_tracks=columns["straw_tracks"][idx],
            srd_lowest=srd_lowest,
            srd_highest=srd_highest,
            veto_highest=veto_highest,
            e_ecal_raw=e_ecal,
            e_hcal_raw=e_hcal,
            hottest_cell=hottest,
            fractions=fractions,
            chi2=reference.chi2(fractions, e_ecal * ecal_scale),
            finite=finite,
            mc_process=(truth[idx].astype(np.int16) if truth is not None
                        else np.full(len(idx), NO_TRUTH, np.int16)),
        )
