"""processors.tally: one pass over (variation, event) counts what hist's fills of the same
events give, variation by variation, with the masks' nesting the processor guarantees."""

from __future__ import annotations

import numpy as np

from processors.histograms import add_tally, book, flat_index
from processors.tally import Bins, Masks, tally

STEPS, PROCESSES = 11, 6


def random_chunk(rng: np.random.Generator, n_var: int, n: int):
    depth = rng.integers(0, STEPS, (n_var, n)).astype(np.uint8)
    final = depth == STEPS - 1
    before_late = (depth >= STEPS - 3) | (rng.random((n_var, n)) < 0.05)
    before_late |= final
    region_a = final & (rng.random((n_var, n)) < 0.3)
    region_c = final & ~region_a & (rng.random((n_var, n)) < 0.5)
    region_box = final & ~region_a & ~region_c & (rng.random((n_var, n)) < 0.5)
    keep = ~region_box if n_var > 1 else np.ones((n_var, n), bool)
    keep[1:] &= ~region_box[0]
    return Masks(depth, keep, before_late, region_a, region_c, region_box)


def test_tally_equals_fills():
    rng = np.random.default_rng(3)
    names = ["nominal", "ecal_scale_up", "chi2_tight", "veto_loose"]
    n = 5000
    masks = random_chunk(rng, len(names), n)
    process = rng.integers(0, PROCESSES, n)
    scale_of = np.array([0, 1, 0, 0])
    e_ecal = np.stack([rng.uniform(-5, 130, n), rng.uniform(-5, 130, n)])
    e_hcal = np.stack([rng.exponential(10, n), rng.exponential(12, n)])
    e_hcal[:, :20] = np.nan
    filled, counted = book(names, 100.0), book(names, 100.0)
    events = np.flatnonzero(masks.before_late.any(axis=0))
    position = np.full(n, -1, np.intp)
    position[events] = np.arange(len(events))
    bins = Bins(position, scale_of,
                np.stack([flat_index(counted["plane"], e_ecal=e[events], e_hcal=h[events])
                          for e, h in zip(e_ecal, e_hcal)]),
                np.stack([flat_index(counted["ecal_sideband_c"], e_ecal=e[events]) for e in e_ecal]),
                np.stack([flat_index(counted["hcal_sideband_a"], e_hcal=h[events]) for h in e_hcal]))
    sizes = tuple(counted[h].view(flow=True)[0].size for h in ("plane", "ecal_sideband_c", "hcal_sideband_a"))
    t = tally(masks, process, bins, STEPS, PROCESSES, sizes)

    for v, name in enumerate(names):
        keep, d, s = masks.keep[v], masks.depth[v], scale_of[v]
        final = d == STEPS - 1
        expected = np.zeros((STEPS, PROCESSES), np.int64)
        np.add.at(expected, (d[keep], process[keep]), 1)
        np.testing.assert_array_equal(t.by_depth[v], expected)
        for j, region in enumerate((masks.region_a, masks.region_c, masks.region_box)):
            assert t.regions[v, j] == np.count_nonzero(region[v] & keep)
        np.testing.assert_array_equal(t.box_by_process[v],
                                      np.bincount(process[masks.region_box[v]], minlength=PROCESSES))
        early = masks.before_late[v] & keep
        e, h = e_ecal[s], e_hcal[s]
        filled["plane_before_veto_chi2"].fill(variation=name, e_ecal=e[early], e_hcal=h[early])
        filled["plane"].fill(variation=name, e_ecal=e[early & final], e_hcal=h[early & final])
        filled["ecal_sideband_c"].fill(variation=name, e_ecal=e[early & masks.region_c[v]])
        filled["hcal_sideband_a"].fill(variation=name, e_hcal=h[early & masks.region_a[v]])
    for h, counts in (("plane_before_veto_chi2", t.plane_before_late), ("plane", t.plane),
                      ("ecal_sideband_c", t.ecal_sideband_c), ("hcal_sideband_a", t.hcal_sideband_a)):
        add_tally(counted[h], names, counts)
        a, b = filled[h].view(flow=True), counted[h].view(flow=True)
        assert a["value"].sum() > 100
        np.testing.assert_array_equal(a["value"], b["value"])
        np.testing.assert_array_equal(a["variance"], b["variance"])


def test_empty_chunk():
    masks = random_chunk(np.random.default_rng(1), 2, 0)
    empty = np.zeros((2, 0), np.intp)
    t = tally(masks, np.zeros(0, np.intp), Bins(np.zeros(0, np.intp), np.zeros(2, np.intp), empty, empty, empty),
              STEPS, PROCESSES, (4, 3, 2))
    assert t.by_depth.shape == (2, STEPS, PROCESSES) and not t.by_depth.any() and not t.plane.any()
