"""The numba kernels against a plain numpy reference."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from processors.kernels import module_sums, shower_chi2, shower_shape
from processors.schema import NEIGHBOURS

cells = arrays(np.float32, st.tuples(st.integers(0, 20), st.just(2), st.just(6), st.just(6)),
               elements=st.floats(0, 200, width=32))


def numpy_shower_shape(ecal, index, centre):
    towers = ecal[index].astype(np.float64).sum(axis=1)  # (n, 6, 6)
    total = towers.reshape(len(index), 36).sum(axis=1)
    hottest = towers.reshape(len(index), 36).argmax(axis=1)
    fractions = np.zeros((len(index), 9))
    cx, cy = centre
    for j, (dx, dy) in enumerate(NEIGHBOURS):
        x, y = cx + dx, cy + dy
        if 0 <= x < 6 and 0 <= y < 6:
            with np.errstate(invalid="ignore", divide="ignore"):
                fractions[:, j] = np.where(total > 0, towers[:, x, y] / total, 0.0)
    return total, hottest, fractions


@settings(max_examples=200, deadline=None)
@given(ecal=cells, centre=st.tuples(st.integers(0, 5), st.integers(0, 5)), data=st.data())
def test_shower_shape_matches_numpy(ecal, centre, data):
    n = ecal.shape[0]
    index = np.array(data.draw(st.lists(st.integers(0, max(n - 1, 0)), max_size=n if n else 0)), dtype=np.int64)
    total, hottest, fractions = shower_shape(ecal, index, centre)
    ref_total, ref_hottest, ref_fractions = numpy_shower_shape(ecal, index, centre)
    np.testing.assert_allclose(total, ref_total, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(fractions, ref_fractions, rtol=1e-9, atol=1e-12)
    # Ties may resolve to a different tower; the chosen tower must hold the maximum.
    towers = ecal[index].astype(np.float64).sum(axis=1).reshape(len(index), 36)
    if len(index):
        picked = towers[np.arange(len(index)), hottest]
        np.testing.assert_array_equal(picked, towers[np.arange(len(index)), ref_hottest])


@settings(max_examples=200, deadline=None)
@given(
    f=arrays(np.float64, st.tuples(st.integers(0, 30), st.just(9)), elements=st.floats(0, 1)),
    energy=st.floats(0, 200),
    mean=arrays(np.float64, 9, elements=st.floats(0, 1)),
    mean_slope=arrays(np.float64, 9, elements=st.floats(-0.1, 0.1)),
    variance=arrays(np.float64, 9, elements=st.floats(0, 0.25).filter(lambda v: v == 0 or v > 1e-8)),
    variance_slope=arrays(np.float64, 9, elements=st.floats(0, 0.01)),
)
def test_chi2_matches_numpy(f, energy, mean, mean_slope, variance, variance_slope):
    floor = 0.5
    e = np.full(len(f), energy)
    u = 1 / np.maximum(e, floor)[:, None]
    var = variance + variance_slope * u
    used = var > 0
    expected = np.where(used, (f - (mean + mean_slope * u)) ** 2 / np.where(used, var, 1.0), 0.0).sum(axis=1)
    got = shower_chi2(f, e, mean, mean_slope, variance, variance_slope, floor)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_chi2_evaluates_the_reference_at_each_events_energy():
    """Two events with the same fractions: the lower-energy one, with the larger spread,
    gets the smaller chi2, by exactly the ratio of the variances."""
    f = np.tile(np.linspace(0.0, 0.8, 9), (2, 1))
    mean, slope = np.full(9, 0.1), np.zeros(9)
    variance, variance_slope = np.full(9, 1e-4), np.full(9, 1e-3)
    chi2 = shower_chi2(f, np.array([100.0, 1.0]), mean, slope, variance, variance_slope, 0.5)
    ratio = (1e-4 + 1e-3 / 1.0) / (1e-4 + 1e-3 / 100.0)
    assert chi2[0] / chi2[1] == pytest.approx(ratio, rel=1e-12)


def test_nan_cell_makes_total_nan():
    ecal = np.zeros((1, 2, 6, 6), np.float32)
    ecal[0, 1, 3, 3] = 50
    ecal[0, 0, 0, 0] = np.nan
    total, _, _ = shower_shape(ecal, np.array([0]), (3, 3))
    assert np.isnan(total[0])


hcal_cells = arrays(np.float32, st.tuples(st.integers(0, 20), st.just(4), st.just(3), st.just(3)),
                    elements=st.floats(0, 120, width=32))


@settings(max_examples=200, deadline=None)
@given(hcal=hcal_cells, modules=st.sets(st.integers(0, 3), min_size=1), data=st.data())
def test_module_sums_match_numpy(hcal, modules, data):
    n = len(hcal)
    index = np.array(data.draw(st.lists(st.integers(0, max(n - 1, 0)), max_size=n if n else 0)),
                     dtype=np.int64)
    total, selected = module_sums(hcal, index, tuple(sorted(modules)))
    cells = hcal[index].astype(np.float64)
    np.testing.assert_allclose(total, cells.sum(axis=(1, 2, 3)), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(selected, cells[:, sorted(modules)].sum(axis=(1, 2, 3)),
                               rtol=1e-12, atol=1e-9)


def test_a_nan_cell_spoils_only_the_sums_it_enters():
    hcal = np.ones((2, 4, 3, 3), np.float32)
    hcal[1, 3, 2, 2] = np.nan
    total, selected = module_sums(hcal, np.array([0, 1]), (0, 1, 2))
    assert total[0] == 36 and selected[0] == 27
    assert np.isnan(total[1]) and selected[1] == 27
