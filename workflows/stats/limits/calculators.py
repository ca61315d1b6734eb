"""One interface for the three methods: the :class:`Calculator` protocol, the asymptotic,
exact and toy calculators, and :func:`make_calculator`."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from scipy import optimize, special, stats

from .asymptotic import AsymptoticCurves, asymptotic_roots
from .problem import Problem, _counting_rates, _events_reference, _mu_reference
from .result import _PERCENTILES, LimitError, Scan, _as_band, _Band, _curves, _scan
from .search import _Cached, _solve_curves
from .toy_cls import _toy_limits, _ToyRunner

DEFAULT_NTOYS = 1000
logger = logging.getLogger(__package__)
DEFAULT_BATCH_SIZE = 100


# ---------------------------------------------------------------------------
# One interface for the three methods
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """A calculator's answer: POI limits where CLs = alpha and the CLs values behind them."""

    observed: float
    expected: tuple[float, float, float, float, float] | None
    scan: Scan
    ntoys: int | None = None
    seed: int | None = None
    notes: tuple[str, ...] = ()


class Calculator(Protocol):
    """CLs of one :class:`Problem` as a function of the POI, and its upper limits."""

    method: str

    def cls(self, mus: np.ndarray) -> np.ndarray:
        """Rows [observed, -2, -1, 0, +1, +2 sigma] of CLs, one per POI value (ascending)."""
        ...

    def limits(self, alpha: float, expected: bool) -> Limits:
        """The observed limit and, if ``expected``, the band at ``BAND_SIGMAS``."""
        ...


def _band(roots: dict[int, float], expected: bool) -> _Band | None:
    return _as_band(roots[c] for c in range(1, 6)) if expected else None


class AsymptoticCalculator:
    """Asymptotic CLs (pyhf's formulas), the mu-independent fits made once
    (:class:`~.asymptotic.AsymptoticCurves`): the expected limits from sqrt(q_mu,A), the
    observed one by the secant method; bracketing and ``brentq`` if a search fails."""

    method = "asymptotic"

    def __init__(self, problem: Problem, rtol: float = 1e-8) -> None:
        self.problem, self.rtol = problem, rtol

    def cls(self, mus: np.ndarray) -> np.ndarray:
        curves = AsymptoticCurves(self.problem)
        return np.array([curves.cls(m) for m in mus])

    def limits(self, alpha: float, expected: bool) -> Limits:
        curves = AsymptoticCurves(self.problem)
        roots = asymptotic_roots(curves, alpha, expected, _mu_reference(self.problem))
        if roots is None:
            logger.debug("asymptotic limits: the secant search failed, bracketing instead")
            func = _Cached(curves.cls)
            roots = _solve_curves(func, _mu_reference(self.problem), alpha, _curves(expected),
                                  self.rtol)
        return Limits(roots[0], _band(roots, expected), curves.scan())


def _count_floor(n: np.ndarray) -> np.ndarray:
    """Largest integer count <= n (n may be a non-integer expectation, e.g. blinded data)."""
    floor: np.ndarray = np.floor(n + 1e-12 * np.maximum(1.0, n))
    return floor


def _log_poisson_cdf(k: np.ndarray, rate: float) -> np.ndarray:
    """log P(N <= k | rate); in the far lower tail (CDF < 1e-250) a log-sum of the last pmf terms."""
    k = np.atleast_1d(np.asarray(k, dtype=float))
    with np.errstate(divide="ignore"):
        out: np.ndarray = np.log(stats.poisson.cdf(k, rate))
    for i in np.nonzero(out < -575.0)[0]:  # exp(-575) ~ 1e-250
        # pmf(j - 1) / pmf(j) = j / rate < 1 here: 10^4 terms below k carry the sum
        terms = np.arange(max(0.0, k[i] - 1e4), k[i] + 1.0)
        out[i] = special.logsumexp(stats.poisson.logpmf(terms, rate))
    return out


def band_counts(b: float) -> tuple[float, ...]:
    """Counts at the -2..+2 sigma quantiles of Poisson(b): the smallest n with P(N <= n) at
    least the quantile (the outcomes whose limits make the expected band)."""
    return tuple(float(k) for k in stats.poisson.ppf(_PERCENTILES / 100.0, b))


class ExactCalculator:
    """Exact CLs of a one-bin counting model with rate b + mu*s: the infinite-toy limit.

    qtilde is non-increasing in the count n (strictly where it is > 0), so for
    q_obs > 0 {q >= q_obs} = {N <= n_obs} and CLs is the classic counting CLs
    P(N <= n_obs | b + mu s) / P(N <= n_obs | b) (Read, J. Phys. G 28 (2002) 2693);
    n_obs >= b + mu s gives q_obs = 0 and CLs = 1. Two Poisson CDFs per POI value,
    whatever n_obs. The limit increases with n, so the quantiles of the limits of
    background-only experiments (the band) are the limits at the quantiles of
    N ~ Poisson(b).
    """

    method = "exact"

    def __init__(self, problem: Problem, rtol: float = 1e-8) -> None:
        rates = _counting_rates(problem)
        if rates is None:
            raise LimitError("exact CLs needs a one-bin counting model without floating nuisances")
        if problem.test_stat != "qtilde":
            raise LimitError("exact CLs is implemented for qtilde only")
        self.problem, self.rtol = problem, rtol
        self.b, self.s = rates
        self.n_obs = float(problem.data[0])
        self.band_counts = band_counts(self.b)
        self._evaluated: set[float] = set()

    def cls_counts(self, n: Sequence[float] | np.ndarray, mu: float) -> np.ndarray:
        """CLs at ``mu`` of the outcomes ``n``."""
        n = np.asarray(n, dtype=float)
        rate = self.b + mu * self.s
        k = _count_floor(n)
        cls = np.exp(_log_poisson_cdf(k, rate) - _log_poisson_cdf(k, self.b))
        return np.where(n >= rate, 1.0, cls)

    def cls(self, mus: np.ndarray) -> np.ndarray:
        counts = [self.n_obs, *self.band_counts]
        return np.array([self.cls_counts(counts, m) for m in mus])

    def _limit(self, n: float, alpha: float) -> float:
        """The POI where CLs(n) = alpha: CLs(n) = 1 up to mu = (n - b)/s, decreasing above."""
        def excess(mu: float) -> float:
            value = float(self.cls_counts([n], mu)[0])
            if not math.isfinite(value):
                raise LimitError(f"exact CLs is undefined at POI = {mu:.6g} for {n:g} events")
            if n == self.n_obs:
                self._evaluated.add(float(mu))
            return value - alpha

        lo = max((n - self.b) / self.s, 0.0)
        hi = max(lo, _events_reference(n, self.b) / self.s)
        for _ in range(200):
            if excess(hi) < 0:
                break
            hi *= 2.0
        else:
            raise LimitError(f"CLs stays above {alpha:g} up to POI = {hi:.3g}: no upper limit")
        return float(optimize.brentq(excess, lo, hi, xtol=1e-12 * hi, rtol=self.rtol))

    def limits(self, alpha: float, expected: bool) -> Limits:
        counts = [self.n_obs, *(self.band_counts if expected else ())]
        limit_of = {n: self._limit(n, alpha) for n in dict.fromkeys(counts)}
        band = _as_band(limit_of[n] for n in self.band_counts) if expected else None
        mus = sorted(self._evaluated | set(band or ()))
        return Limits(limit_of[self.n_obs], band, _scan(mus, self.cls(np.array(mus))))


class ToyCalculator:
    """Toy CLs on a grid of POI values (:class:`_ToyRunner`), locally or on Dask."""

    method = "toys"

    def __init__(self, problem: Problem, ntoys: int = DEFAULT_NTOYS, seed: int | None = 0,
                 batch_size: int = DEFAULT_BATCH_SIZE, client: Any = None,
                 npoints: int = 8) -> None:
        if problem.test_stat != "qtilde":
            raise LimitError("toys are implemented for qtilde only")
        if ntoys < 10:
            raise ValueError(f"ntoys must be >= 10, got {ntoys}")
        self.problem, self.ntoys, self.npoints = problem, ntoys, npoints
        self.batch_size, self.client = batch_size, client
        if seed is None:
            entropy = np.random.SeedSequence().entropy
            assert isinstance(entropy, int)  # drawn (an int) when SeedSequence is given none
            seed = entropy % 2**63
        self.seed = int(seed)

    def _runner(self) -> _ToyRunner:
        return _ToyRunner(self.problem, self.ntoys, self.seed, self.batch_size, self.client)

    def cls(self, mus: np.ndarray) -> np.ndarray:
        return self._runner().cls_grid(np.asarray(mus, dtype=float))

    def limits(self, alpha: float, expected: bool) -> Limits:
        observed, band, scan, failed = _toy_limits(self.problem, alpha, expected, self.ntoys,
                                                   self.seed, self.batch_size, self.client,
                                                   self.npoints)
        notes = ((f"{failed} toy test statistics (toy x POI point) had a failed fit and were "
                  "dropped"),) if failed else ()
        return Limits(observed, band, scan, self.ntoys, self.seed, notes)


def make_calculator(problem: Problem, method: str, *, ntoys: int = DEFAULT_NTOYS,
                    seed: int | None = 0, client: Any = None,
                    batch_size: int = DEFAULT_BATCH_SIZE, npoints: int = 8,
                    rtol: float = 1e-8) -> Calculator:
    """The calculator of ``method`` (asymptotic, exact or toys; not auto) for ``problem``."""
    if method == "asymptotic":
        return AsymptoticCalculator(problem, rtol)
    if method == "exact":
        return ExactCalculator(problem, rtol)
    if method == "toys":
        return ToyCalculator(problem, ntoys, seed, batch_size, client, npoints)
    raise ValueError(f"method must be asymptotic, toys or exact, not {method!r}")
