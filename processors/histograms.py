"""The histograms of the search, booked per chunk and merged by addition.

Every histogram has Weight storage and a ``variation`` string axis whose categories
are fixed up front (nominal first), so that chunk outputs add bin by bin.

While the analysis is blinded, no histogram receives an event whose (E_ECAL, E_HCAL)
lies in the signal box, at any step of the chain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import hist
import numpy as np

from processors.cuts import CHAIN
from processors.schema import PROCESSES

#: Process axis of the cutflow: the SCHEMA.md codes, then -1 for "no MC truth".
PROCESS_CODES: tuple[int, ...] = (*sorted(PROCESSES), -1)
REGIONS: tuple[str, ...] = ("A", "C", "box")


def hcal_edges(beam_energy: float) -> np.ndarray:
    """E_HCAL bins: 0.25 GeV up to 5 GeV (the box edge sits at 1 GeV), then coarser."""
    top = 1.5 * beam_energy
    return np.unique(np.concatenate([
        np.arange(0.0, 5.0, 0.25), np.arange(5.0, 30.0, 1.0), np.arange(30.0, top, 5.0), [top],
    ]))


def _step_axis() -> hist.axis.Integer:
    return hist.axis.Integer(0, len(CHAIN) + 1, name="step", label="Cutflow step",
                             underflow=False, overflow=False)


def _variation_axis(variations: Sequence[str]) -> hist.axis.StrCategory:
    return hist.axis.StrCategory(list(variations), name="variation", label="Variation")


def _e_ecal_axis(beam_energy: float) -> hist.axis.Regular:
    return hist.axis.Regular(120, 0.0, 1.2 * beam_energy, name="e_ecal", label=r"$E_{ECAL}$ [GeV]")


def _e_hcal_axis(beam_energy: float) -> hist.axis.Variable:
    return hist.axis.Variable(hcal_edges(beam_energy), name="e_hcal", label=r"$E_{HCAL}$ [GeV]")


def axis_index(ax: Any, values: np.ndarray) -> np.ndarray:
    """Each value's bin on ``ax`` counting the underflow bin (if any) as 0: its position
    in the axis's ``view(flow=True)``, binned as ``fill`` bins."""
    return np.asarray(ax.index(values), dtype=np.intp) + int(ax.traits.underflow)


def flat_index(h: hist.Hist, **values: np.ndarray) -> np.ndarray:
    """Each event's bin in ``h`` over its axes other than ``variation``, flow bins
    included (a flat index into one variation's ``view(flow=True)``), binned as
    ``h.fill`` bins (NaN in the overflow). Computed once, it serves every variation that
    shares the energies: see :func:`add_tally`."""
    return combine_indices(h, {ax.name: axis_index(ax, values[ax.name])
                               for ax in h.axes if ax.name != "variation"})


def combine_indices(h: hist.Hist, indices: Mapping[str, np.ndarray]) -> np.ndarray:
    """The flat index of :func:`flat_index` from each axis's own index
    (:func:`axis_index`), for callers that share an axis's index between histograms."""
    flat: np.ndarray | None = None
    for ax in h.axes:
        if ax.name == "variation":
            continue
        i = indices[ax.name]
        flat = i if flat is None else flat * ax.extent + i
    assert flat is not None
    return flat


def add_tally(h: hist.Hist, variations: Sequence[str], counts: np.ndarray) -> None:
    """Add integer ``counts`` (one row per variation, a flat index over the other axes of
    ``h``, flow bins included, as :func:`flat_index` numbers them) to unit-weight
    entries of ``h``: the same as ``h.fill`` of the events counted (tested)."""
    view = h.view(flow=True)
    index = [h.axes["variation"].index(v) for v in variations]
    rows: slice | list[int] = index
    if index == list(range(index[0], index[0] + len(index))):
        rows = slice(index[0], index[0] + len(index))  # in place, no copy
    shaped = counts.reshape(len(variations), *view.shape[1:])
    view["value"][rows] += shaped
    view["variance"][rows] += shaped


def book(variations: Sequence[str], beam_energy: float) -> dict[str, hist.Hist]:
    """Empty histograms of one period."""
    var = _variation_axis(variations)
    plane_axes = (var, _e_ecal_axis(beam_energy), _e_hcal_axis(beam_energy))
    weight = hist.storage.Weight()
    return {
        "cutflow": hist.Hist(var, _step_axis(), storage=weight),
        "cutflow_by_process": hist.Hist(
            var, _step_axis(),
            hist.axis.IntCategory(list(PROCESS_CODES), name="process", label="mc_process"),
            storage=weight,
        ),
        "regions": hist.Hist(
            var, hist.axis.StrCategory(list(REGIONS), name="region", label="Region"), storage=weight
        ),
        # Signal-box events by true process: filled only when unblinded (MC truth of
        # simulated samples: the background budget by source); empty while blinded.
        "box_by_process": hist.Hist(
            var, hist.axis.IntCategory(list(PROCESS_CODES), name="process", label="mc_process"),
            storage=weight,
        ),
        "plane": hist.Hist(*plane_axes, storage=weight),
        "plane_before_veto_chi2": hist.Hist(*plane_axes, storage=weight),
        "ecal_sideband_c": hist.Hist(var, _e_ecal_axis(beam_energy), storage=weight),
        "hcal_sideband_a": hist.Hist(
            var,
            hist.axis.Regular(150, 0.0, 1.5 * beam_energy, name="e_hcal", label=r"$E_{HCAL}$ [GeV]"),
            storage=weight,
        ),
    }
