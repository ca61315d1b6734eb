"""numba kernels: the loops over calorimeter cells.

One pass over the 72 ECAL cells of each selected event gives the total energy, the
hottest cell (preshower and main section summed per tower) and the energy fractions
of the 3 x 3 towers around the central one. The chi2 kernel compares those fractions
with a reference shape evaluated at each event's shower energy. Both accumulate in
float64 and visit cells in a fixed order, so results do not depend on chunking or on
the number of workers.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _shower_shape(ecal: np.ndarray, index: np.ndarray, cx: int, cy: int, total: np.ndarray,
                  hottest: np.ndarray, fractions: np.ndarray) -> None:  # pragma: no cover - jitted
    nx = ecal.shape[2]
    ny = ecal.shape[3]
    for k in range(index.shape[0]):
        i = index[k]
        s = 0.0
        best = -np.inf
        besti = -1
        for x in range(nx):
            for y in range(ny):
                e = np.float64(ecal[i, 0, x, y]) + np.float64(ecal[i, 1, x, y])
                s += e
                if e > best:
                    best = e
                    besti = x * ny + y
        total[k] = s
        hottest[k] = besti
        j = 0
        for dx in range(-1, 2):
            for dy in range(-1, 2):
                x = cx + dx
                y = cy + dy
                if 0 <= x < nx and 0 <= y < ny and s > 0.0:
                    fractions[k, j] = (np.float64(ecal[i, 0, x, y]) + np.float64(ecal[i, 1, x, y])) / s
                else:
                    fractions[k, j] = 0.0
                j += 1


def shower_shape(
    ecal: np.ndarray, index: np.ndarray, central_cell: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Total ECAL energy, hottest tower and 3 x 3 fractions of the events ``index``.

    ``ecal`` is the (n, 2, 6, 6) cell array of a chunk; towers are numbered
    ``6 * x + y``. Events with no positive energy get fractions 0; a NaN anywhere
    makes the total NaN (the ``finite_energies`` cut removes such events).
    """
    index = np.ascontiguousarray(index, dtype=np.int64)
    n = index.shape[0]
    total = np.empty(n, np.float64)
    hottest = np.empty(n, np.int16)
    fractions = np.empty((n, 9), np.float64)
    if n:
        cx, cy = central_cell
        _shower_shape(np.ascontiguousarray(ecal), index, int(cx), int(cy), total, hottest, fractions)
    return total, hottest, fractions


@numba.njit(cache=True, nogil=True)
def _chi2(fractions: np.ndarray, energy: np.ndarray, mean: np.ndarray, mean_slope: np.ndarray,
          variance: np.ndarray, variance_slope: np.ndarray, energy_floor: float,
          out: np.ndarray) -> None:  # pragma: no cover - jitted
    for i in range(fractions.shape[0]):
        e = energy[i]
        if not e > energy_floor:  # also NaN: such events fail the finite_energies cut
            e = energy_floor
        u = 1.0 / e
        s = 0.0
        for j in range(fractions.shape[1]):
            v = variance[j] + variance_slope[j] * u
            if v > 0.0:
                d = fractions[i, j] - (mean[j] + mean_slope[j] * u)
                s += d * d / v
        out[i] = s


def shower_chi2(fractions: np.ndarray, energy: np.ndarray, mean: np.ndarray,
                mean_slope: np.ndarray, variance: np.ndarray, variance_slope: np.ndarray,
                energy_floor: float) -> np.ndarray:
    """chi2 = sum over the 3 x 3 towers j of (f_j - mean_j(E))^2 / var_j(E), the reference
    evaluated at each event's shower energy E (GeV) inline:

        mean_j(E) = mean_j + mean_slope_j / E,   var_j(E) = variance_j + variance_slope_j / E,

    with E raised to ``energy_floor`` below it. Towers with no reference spread (outside
    the ECAL) do not contribute.
    """
    out = np.empty(fractions.shape[0], np.float64)
    if fractions.shape[0]:
        def arr(a: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(a, dtype=np.float64)

        _chi2(arr(fractions), arr(energy), arr(mean), arr(mean_slope), arr(variance),
              arr(variance_slope), float(energy_floor), out)
    return out


@numba.njit(cache=True, nogil=True)
def _module_sums(cells: np.ndarray, index: np.ndarray, chosen: np.ndarray, total: np.ndarray,
                 selected: np.ndarray) -> None:  # pragma: no cover - jitted
    for k in range(index.shape[0]):
        i = index[k]
        s = 0.0
        c = 0.0
        for m in range(cells.shape[1]):
            e = 0.0
            for j in range(cells.shape[2]):
                e += np.float64(cells[i, m, j])
            s += e
            if chosen[m]:
                c += e
        total[k] = s
        selected[k] = c


def module_sums(
    cells: np.ndarray, index: np.ndarray, modules: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Energy of all modules and of the chosen ``modules`` of the events ``index``.

    ``cells`` is the (n, modules, ...) cell array of a chunk (the HCAL's (n, 4, 3, 3));
    sums run module by module in float64; a NaN cell makes both sums NaN where it counts.
    """
    index = np.ascontiguousarray(index, dtype=np.int64)
    cells = np.ascontiguousarray(cells).reshape(
        cells.shape[0], cells.shape[1], int(np.prod(cells.shape[2:], dtype=np.int64)))
    chosen = np.zeros(cells.shape[1], np.bool_)
    chosen[list(modules)] = True
    total = np.empty(index.shape[0], np.float64)
    selected = np.empty(index.shape[0], np.float64)
    if index.shape[0]:
        _module_sums(cells, index, chosen, total, selected)
    return total, selected


def lowest_highest(modules: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Smallest and largest value of each row of an (n, k) array (NaN if any is NaN).

    Per column, elementwise: faster than reductions over a few columns."""
    lowest, highest = modules[:, 0].copy(), modules[:, 0].copy()
    for j in range(1, modules.shape[1]):
        np.minimum(lowest, modules[:, j], out=lowest)
        np.maximum(highest, modules[:, j], out=highest)
    return lowest, highest


def warm_up() -> None:
    """Load the kernels (from numba's cache, or compile them) for the argument types the
    processors pass: C-contiguous float32 cells, int64 indices, float64 outputs.

    The first call of a numba function in a process costs about a second even from the
    cache (numba initialises its typing registries, which import scipy); a process that
    forks workers calls this once so that no worker pays it (see workflows.runtime.cluster).
    """
    ecal = np.zeros((1, 2, 6, 6), np.float32)
    _, _, fractions = shower_shape(ecal, np.zeros(1, np.int64), (3, 3))
    shower_chi2(fractions, np.ones(1), np.zeros(9), np.zeros(9), np.ones(9), np.zeros(9), 0.5)
    module_sums(np.zeros((1, 4, 3, 3), np.float32), np.zeros(1, np.int64), (0, 1, 2, 3))
