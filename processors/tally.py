"""One pass over a chunk's events for every variation: the counts and the histogram bins.

The processor's variations differ in their masks (the cut depth each event reaches, what
blinding keeps, the regions), not in the events, so everything a chunk adds to its
histograms is a tally over (variation, event). Done with numpy, that is a dozen
whole-chunk operations per variation (boolean indexing, bincounts, a histogram view
each): 21 variations cost three times the nominal selection. This numba loop visits
each (variation, event) once and counts into integer arrays, which the processor adds
to the histograms' views: the same integers as ``hist.fill`` of the same events, in any
order (tested against the fills in ``tests/processors/test_tally.py``). No library
tallies several masks over shared bins in one pass, hence the loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np


@dataclass(frozen=True)
class Masks:
    """Per variation (rows) and physics event (columns) of one chunk."""

    depth: np.ndarray  # (V, n) uint8: how many cuts of the chain each event passes in a row
    keep: np.ndarray  # (V, n) bool: counted at all (blinding leaves out the signal box)
    before_late: np.ndarray  # (V, n) bool: passes the cuts before the late ones
    region_a: np.ndarray  # (V, n) bool: the regions of the events passing the chain
    region_c: np.ndarray
    region_box: np.ndarray


@dataclass(frozen=True)
class Bins:
    """The histogram bins of the events some variation may fill, per set of energy scales
    (rows); ``position`` gives each physics event's column (-1: filled by none)."""

    position: np.ndarray  # (n,) intp
    scale_of: np.ndarray  # (V,) intp: the row of each variation
    plane: np.ndarray  # (S, m) intp: flat bin in one variation's plane view (flow included)
    e_ecal: np.ndarray  # (S, m) intp: bin in the E_ECAL spectrum
    e_hcal: np.ndarray  # (S, m) intp: bin in the E_HCAL spectrum


@dataclass(frozen=True)
class Tally:
    """What a chunk adds, per variation (rows)."""

    by_depth: np.ndarray  # (V, steps, processes): kept events by cut depth and process
    regions: np.ndarray  # (V, 3): kept events in A, C and the box
    box_by_process: np.ndarray  # (V, processes): events in the box (not masked by keep)
    plane_before_late: np.ndarray  # (V, plane bins): kept events before the late cuts
    plane: np.ndarray  # (V, plane bins): kept events passing the chain
    ecal_sideband_c: np.ndarray  # (V, E_ECAL bins): kept events in C
    hcal_sideband_a: np.ndarray  # (V, E_HCAL bins): kept events in A


@numba.njit(cache=True, nogil=True)
def _tally(depth: np.ndarray, keep: np.ndarray, before_late: np.ndarray, region_a: np.ndarray,
           region_c: np.ndarray, region_box: np.ndarray, process: np.ndarray, position: np.ndarray,
           scale_of: np.ndarray, plane_bins: np.ndarray, ecal_bins: np.ndarray,
           hcal_bins: np.ndarray, by_depth: np.ndarray, regions: np.ndarray, box: np.ndarray,
           plane_before: np.ndarray, plane: np.ndarray, ecal_c: np.ndarray,
           hcal_a: np.ndarray) -> None:  # pragma: no cover - jitted
    final = by_depth.shape[1] - 1
    for v in range(depth.shape[0]):
        s = scale_of[v]
        for i in range(depth.shape[1]):
            d = depth[v, i]
            # the regions are subsets of the events passing the whole chain, and those
            # pass the cuts before the late ones
            if d == final and region_box[v, i]:
                box[v, process[i]] += 1
            if not keep[v, i]:
                continue
            by_depth[v, d, process[i]] += 1
            if not before_late[v, i]:
                continue
            r = position[i]
            b = plane_bins[s, r]
            plane_before[v, b] += 1
            if d != final:
                continue
            plane[v, b] += 1
            if region_a[v, i]:
                regions[v, 0] += 1
                hcal_a[v, hcal_bins[s, r]] += 1
            if region_c[v, i]:
                regions[v, 1] += 1
                ecal_c[v, ecal_bins[s, r]] += 1
            if region_box[v, i]:
                regions[v, 2] += 1


def tally(masks: Masks, process: np.ndarray, bins: Bins, steps: int, processes: int,
          sizes: tuple[int, int, int]) -> Tally:
    """Count a chunk: ``process`` is each event's position on the process axis,
    ``steps`` the cutflow length (the last step: the whole chain passed), ``sizes`` the
    flat sizes of one variation's plane, E_ECAL and E_HCAL views."""
    n_var = masks.depth.shape[0]
    out = Tally(
        by_depth=np.zeros((n_var, steps, processes), np.int64),
        regions=np.zeros((n_var, 3), np.int64),
        box_by_process=np.zeros((n_var, processes), np.int64),
        plane_before_late=np.zeros((n_var, sizes[0]), np.int64),
        plane=np.zeros((n_var, sizes[0]), np.int64),
        ecal_sideband_c=np.zeros((n_var, sizes[1]), np.int64),
        hcal_sideband_a=np.zeros((n_var, sizes[2]), np.int64),
    )
    if masks.depth.shape[1]:
        _tally(masks.depth, masks.keep, masks.before_late, masks.region_a, masks.region_c,
               masks.region_box, np.ascontiguousarray(process, np.intp), bins.position,
               bins.scale_of, bins.plane, bins.e_ecal, bins.e_hcal, out.by_depth, out.regions,
               out.box_by_process, out.plane_before_late, out.plane, out.ecal_sideband_c,
               out.hcal_sideband_a)
    return out


def warm_up() -> None:
    """Load the kernel (from numba's cache, or compile it) for the types the processor
    passes; see :func:`processors.kernels.warm_up`."""
    masks = Masks(*(np.zeros((1, 1), t) for t in (np.uint8, bool, bool, bool, bool, bool)))
    one = np.zeros((1, 1), np.intp)
    tally(masks, np.zeros(1, np.intp), Bins(np.zeros(1, np.intp), np.zeros(1, np.intp), one, one, one),
          2, 1, (1, 1, 1))
