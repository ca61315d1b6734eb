"""Asymptotic CLs (pyhf.infer.hypotest) and the root finding on smooth or exact CLs curves:
bracketing on a grid of powers of two, then ``brentq`` on each curve."""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Iterator

import numpy as np
import pyhf
from scipy import optimize

from .problem import Problem
from .result import LimitError, Scan

# ---------------------------------------------------------------------------
# Asymptotic CLs: mu -> [CLs_obs, CLs_exp(-2..+2)]
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet_qmu_warning(test_stat: str) -> Iterator[None]:
    """pyhf warns on every q (not qtilde) evaluation with the POI bounded at 0; say it once."""
    logger = logging.getLogger("pyhf.infer.test_statistics")
    level = logger.level
    if test_stat == "q":
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def asymptotic_cls(problem: Problem, mu: float) -> np.ndarray:
    """[observed, -2, -1, 0, +1, +2 sigma] asymptotic CLs at ``mu`` (pyhf.infer.hypotest)."""
    init, bounds, fixed = problem.fit_config(mu)
    with _quiet_qmu_warning(problem.test_stat):
        obs, band = pyhf.infer.hypotest(
            mu, problem.data, problem.model, init, bounds, fixed,
            calctype="asymptotics", test_stat=problem.test_stat, return_expected_set=True,
        )
    return np.array([float(obs), *map(float, band)])


# ---------------------------------------------------------------------------
# Root finding on smooth (asymptotic) or exact CLs curves
# ---------------------------------------------------------------------------


class _Cached:
    def __init__(self, func: Callable[[float], np.ndarray]) -> None:
        self.func = func
        self.values: dict[float, np.ndarray] = {}

    def __call__(self, mu: float) -> np.ndarray:
        mu = float(mu)
        if mu not in self.values:
            value = np.asarray(self.func(mu), dtype=float)
            if not np.all(np.isfinite(value)):
                raise LimitError(f"CLs is undefined at POI = {mu:.6g} ({value}): a fit failed "
                                 "or no outcome is as extreme as the observed one")
            self.values[mu] = value
        return self.values[mu]

    def scan(self) -> Scan:
        mus = sorted(self.values)
        table = np.array([self.values[m] for m in mus])
        return Scan(tuple(mus), tuple(table[:, 0]), tuple(tuple(col) for col in table[:, 1:].T))


def _bracket(func: _Cached, mu_ref: float, alpha: float, curves: list[int]) -> np.ndarray:
    """Grid mu_ref * 2**j so that every curve starts >= alpha and ends < alpha."""
    hi = lo = mu_ref
    for _ in range(60):
        if np.all(func(hi)[curves] < alpha):
            break
        hi *= 2.0
    else:
        raise LimitError(f"CLs stays above {alpha:g} up to POI = {hi:.3g}: no upper limit")
    for _ in range(60):
        if np.all(func(lo)[curves] >= alpha):
            break
        lo /= 2.0
    else:
        raise LimitError(f"CLs is below {alpha:g} even at POI = {lo:.3g}: no upper limit")
    n = int(round(math.log2(hi / lo)))
    return lo * 2.0 ** np.arange(n + 1)


def _solve_curves(func: _Cached, mu_ref: float, alpha: float, curves: list[int],
                  rtol: float) -> dict[int, float]:
    grid = _bracket(func, mu_ref, alpha, curves)
    values = np.array([func(m) for m in grid])
    roots = {}
    for c in curves:
        i = int(np.argmax(values[:, c] < alpha))
        a, b = grid[i - 1], grid[i]
        roots[c] = float(optimize.brentq(lambda m: func(m)[c] - alpha, a, b,
                                         xtol=1e-12 * b, rtol=rtol))
    return roots
