"""processors.histograms: binning once and counting per variation equals hist's own fill."""

from __future__ import annotations

import numpy as np
import pytest

from processors.histograms import add_tally, book, flat_index

VARIATIONS = ["nominal", "ecal_scale_up", "chi2_tight"]
EVENT_HISTS = {  # histogram: the energies it is filled with
    "plane": ("e_ecal", "e_hcal"),
    "plane_before_veto_chi2": ("e_ecal", "e_hcal"),
    "ecal_sideband_c": ("e_ecal",),
    "hcal_sideband_a": ("e_hcal",),
}


def energies(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Energies over and beyond every axis range, on bin edges, and non-finite."""
    e = {"e_ecal": rng.uniform(-10, 160, n), "e_hcal": rng.exponential(20.0, n) - 1.0}
    for name in e:
        e[name][:12] = [np.nan, np.inf, -np.inf, 0.0, 1.0, 0.25, 5.0, 30.0, 120.0, 150.0,
                        -0.0, 1e12]
    e["e_hcal"][rng.integers(0, n, 50)] = rng.choice(np.arange(0.0, 5.0, 0.25), 50)
    return e


@pytest.mark.parametrize("name", list(EVENT_HISTS))
def test_counting_bin_indices_equals_filling(name):
    rng = np.random.default_rng(7)
    filled, counted = book(VARIATIONS, 100.0), book(VARIATIONS, 100.0)
    e = energies(rng, 20_000)
    values = {axis: e[axis] for axis in EVENT_HISTS[name]}
    flat = flat_index(counted[name], **values)
    size = counted[name].view(flow=True)[0].size
    counts = np.zeros((len(VARIATIONS), size), np.int64)
    for i, v in enumerate(VARIATIONS):
        picked = np.flatnonzero(rng.random(len(flat)) < 0.6)
        filled[name].fill(variation=v, **{k: x[picked] for k, x in values.items()})
        counts[i] = np.bincount(flat[picked], minlength=size)
    add_tally(counted[name], VARIATIONS[::-1], counts[::-1])  # rows follow the names given
    a, b = filled[name].view(flow=True), counted[name].view(flow=True)
    assert np.array_equal(a["value"], b["value"]) and np.array_equal(a["variance"], b["variance"])
    assert filled[name].sum(flow=True).value == pytest.approx(3 * 0.6 * 20_000, rel=0.02)
    # every variation's slice got exactly its own entries
    for i, _ in enumerate(VARIATIONS):
        assert a["value"][i].sum() == b["value"][i].sum() > 0
