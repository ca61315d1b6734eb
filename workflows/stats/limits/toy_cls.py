"""Toy CLs and limits from the toy ensembles: CLs per POI value (:class:`_ToyRunner`, locally
or on Dask), the observed limit, the band from the background-only repetitions' limits, the grid."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyhf

from . import fastfit
from .asymptotic import AsymptoticCurves, asymptotic_roots
from .problem import Problem, _mu_reference
from .result import _PERCENTILES, BAND_SIGMAS, LimitError, Scan, _as_band, _Band, _curves, _scan
from .search import _Cached, _solve_curves, asymptotic_cls
from .toys import ToyJob, _batches, batch_seed, run_band_batch, run_bonly_batch, run_splusb_batch, toy_teststats

Q_TIE = 1e-5  # toy test statistics within Q_TIE * (1 + q) are equal (fits: ~1e-6)


def _tail_fraction(samples: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Fraction of ``samples`` >= each of ``values``, test statistics that differ by less
    than the fit precision (``Q_TIE * (1 + q)``) counting as equal."""
    ordered = np.sort(samples)
    values = np.asarray(values, dtype=float)
    cut = values - Q_TIE * (1.0 + np.abs(values))
    fraction: np.ndarray = (len(ordered) - np.searchsorted(ordered, cut, side="left")) / len(ordered)
    return fraction


def toy_cls_parts(q_obs: float, q_sb: np.ndarray, q_b: np.ndarray,
                  q_toys: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """Observed CLs and the CLs of each toy of ``q_toys`` (default: the background-only
    toys ``q_b``; NaN where its fit failed).

    CLs = CLsb / CLb, CLsb = P(q >= q_x | mu) and CLb = P(q >= q_x | 0) estimated by the
    fractions of the s+b and b-only toys (failed fits dropped), q_x the data's or a toy's.
    """
    q_toys = q_b if q_toys is None else q_toys
    sb, b = q_sb[np.isfinite(q_sb)], q_b[np.isfinite(q_b)]
    if len(sb) == 0 or len(b) == 0:
        raise LimitError("every toy fit failed at a POI point")
    clsb = _tail_fraction(sb, np.array([q_obs]))[0]
    clb = _tail_fraction(b, np.array([q_obs]))[0]
    observed = clsb / clb if clb > 0 else (0.0 if clsb == 0 else math.inf)
    per_toy = np.full(len(q_toys), np.nan)
    ok = np.isfinite(q_toys)
    per_toy[ok] = _tail_fraction(sb, q_toys[ok]) / _tail_fraction(b, q_toys[ok])
    return float(observed), per_toy


def _interpolate_limit(mus: np.ndarray, cls: np.ndarray, alpha: float) -> float | None:
    """First crossing of ``alpha`` (linear in mu, log in CLs); None if not bracketed."""
    below = np.nonzero(cls < alpha)[0]
    if len(below) == 0 or below[0] == 0:
        return None
    i = below[0]
    m0, m1, c0, c1 = mus[i - 1], mus[i], cls[i - 1], cls[i]
    if c1 > 0:
        t = (math.log(alpha) - math.log(c0)) / (math.log(c1) - math.log(c0))
    else:
        t = (alpha - c0) / (c1 - c0)
    return float(m0 + t * (m1 - m0))


@dataclass(frozen=True)
class _ToyTable:
    """Toy CLs on a grid: of the data, its pyhf-style percentiles, and of every b-only toy."""

    mus: np.ndarray  # ascending
    observed: np.ndarray  # (n_mu,)
    percentiles: np.ndarray  # (n_mu, 5)
    toys: np.ndarray  # (ntoys, n_mu): the band toys' CLs, NaN where a fit failed

    def rows(self) -> np.ndarray:
        """Rows [observed, -2..+2 sigma], one per POI value."""
        return np.column_stack([self.observed, self.percentiles])

    def merged(self, other: _ToyTable) -> _ToyTable:
        order = np.argsort(np.concatenate([self.mus, other.mus]))
        return _ToyTable(np.concatenate([self.mus, other.mus])[order],
                         np.concatenate([self.observed, other.observed])[order],
                         np.vstack([self.percentiles, other.percentiles])[order],
                         np.hstack([self.toys, other.toys])[:, order])


class _ToyRunner:
    """Toy CLs on a grid of mu values, locally or on a Dask cluster.

    The background-only toys are the same datasets at every mu (generated at one
    conditional fit, with seeds that do not depend on mu), so each has a CLs curve.
    """

    def __init__(self, problem: Problem, ntoys: int, seed: int, batch_size: int,
                 client: Any = None) -> None:
        self.problem, self.ntoys, self.seed = problem, ntoys, seed
        self.batch_size, self.client = batch_size, client
        self.failed = 0
        init, bounds, fixed = problem.fit_config(0.0)
        self.gen_b = fastfit.fit(problem.data, problem.model, init, bounds, fixed,
                                 poi_value=0.0)[0].tolist()

    def _map(self, func: Callable[..., np.ndarray], job: Any,
             *iterables: Sequence[Any]) -> list[np.ndarray]:
        """func(job, *args) for each args: locally, or as Dask tasks (job: a scattered future)."""
        if self.client is None:
            return [func(job, *args) for args in zip(*iterables)]
        futures = self.client.map(func, [job] * len(iterables[0]), *iterables, pure=False)
        results: list[np.ndarray] = self.client.gather(futures)
        return results

    def evaluate(self, mus: np.ndarray) -> _ToyTable:
        """Toy CLs at each of ``mus``."""
        p = self.problem
        mus = np.sort(np.asarray(mus, dtype=float))
        init, bounds, fixed = p.fit_config(float(mus.max()))
        job = ToyJob(p.model, init, bounds, fixed)
        sizes = _batches(self.ntoys, self.batch_size)
        q_obs = toy_teststats(job, p.data[None, :], mus)[0]
        if not np.all(np.isfinite(q_obs)):
            raise LimitError("the fit to the observed data failed")
        if self.client is not None:  # one copy per worker, a fresh key each time
            job = self.client.scatter(job, broadcast=True, hash=False)
        gen_sb = [fastfit.fit(p.data, p.model, init, bounds, fixed, poi_value=float(m))[0].tolist()
                  for m in mus]
        q_b = np.concatenate(self._map(
            run_bonly_batch, job, [self.gen_b] * len(sizes), sizes,
            [batch_seed(self.seed, 0, j) for j in range(len(sizes))], [list(mus)] * len(sizes)))
        # The band's toys: background-only repetitions of the counts with the auxiliary
        # measurements at their observed values (see _toy_band).
        n_aux = len(p.model.config.auxdata)
        aux = [float(a) for a in p.data[len(p.data) - n_aux:]] if n_aux else []
        q_band = np.concatenate(self._map(
            run_band_batch, job, [self.gen_b] * len(sizes), sizes,
            [batch_seed(self.seed, 2, j) for j in range(len(sizes))], [list(mus)] * len(sizes),
            [aux] * len(sizes)))
        tasks = [(i, j) for i in range(len(mus)) for j in range(len(sizes))]
        q_sb_parts = self._map(
            run_splusb_batch, job, [gen_sb[i] for i, _ in tasks], [sizes[j] for _, j in tasks],
            [batch_seed(self.seed, 1, j) for _, j in tasks], [float(mus[i]) for i, _ in tasks])
        observed, per_toy = np.empty(len(mus)), np.empty((len(q_b), len(mus)))
        band = np.empty((len(q_band), len(mus)))
        for i in range(len(mus)):
            q_sb = np.concatenate(q_sb_parts[i * len(sizes):(i + 1) * len(sizes)])
            # failed fits give NaN test statistics: dropped from the ensembles
            self.failed += int(np.sum(~np.isfinite(q_sb)) + np.sum(~np.isfinite(q_b[:, i])))
            observed[i], per_toy[:, i] = toy_cls_parts(float(q_obs[i]), q_sb, q_b[:, i])
            band[:, i] = toy_cls_parts(float(q_obs[i]), q_sb, q_b[:, i], q_band[:, i])[1]
        # the scan's expected CLs, as pyhf's ToyCalculator: percentiles of the toys' CLs
        percentiles = np.array([np.percentile(col[np.isfinite(col)], _PERCENTILES)
                                for col in per_toy.T])
        return _ToyTable(mus, observed, percentiles, band)

    def cls_grid(self, mus: np.ndarray) -> np.ndarray:
        """Rows [observed, -2..+2 sigma] CLs for each mu (ascending)."""
        return self.evaluate(mus).rows()


def _toy_upper_limits(mus: np.ndarray, cls: np.ndarray, alpha: float) -> np.ndarray:
    """Each toy's limit (rows of ``cls``): -inf below the grid, +inf above it, NaN if a fit
    failed. Identical CLs curves (identical toys) are solved once."""
    unique, inverse = np.unique(cls, axis=0, return_inverse=True)
    limits = np.empty(len(unique))
    for k, row in enumerate(unique):
        if not np.all(np.isfinite(row)):
            limits[k] = np.nan
            continue
        root = _interpolate_limit(mus, row, alpha)
        limits[k] = root if root is not None else (-math.inf if row[0] < alpha else math.inf)
    return limits[np.ravel(inverse)]


def _toy_band(table: _ToyTable, alpha: float) -> np.ndarray:
    """Percentiles (inverted CDF: actual toy limits) of the limits of background-only
    repetitions of the measurement.

    In those repetitions the counts fluctuate and the auxiliary measurements (the
    constraints of the nuisance parameters: EOT counting, efficiencies, the A' yield,
    the sideband extrapolation) keep their observed values: they are not repeated with
    the experiment. So no repetition with zero events in the box sets a limit below the
    zero-count limit (2.30 events at 90 % CL, more with uncertainties). With the
    auxiliary data sampled too (pyhf's toys), a toy whose signal-efficiency constraint
    fluctuated up would claim a stronger limit than any count can give: the demo's -2
    sigma fell to 1.65 events. The CLs of each repetition, like the observed one, comes
    from the full toy ensembles (auxiliary data sampled), as in pyhf.
    """
    limits = _toy_upper_limits(table.mus, table.toys, alpha)
    band: np.ndarray = np.percentile(limits[~np.isnan(limits)], _PERCENTILES, method="inverted_cdf")
    return band


def _toy_grid(problem: Problem, alpha: float, curves: list[int], npoints: int) -> np.ndarray:
    """Grid spanning the asymptotic limits (generously: they are off at low counts)."""
    roots = None
    with contextlib.suppress(LimitError, pyhf.exceptions.FailedMinimization):
        roots = asymptotic_roots(AsymptoticCurves(problem), alpha, 1 in curves, _mu_reference(problem))
    if roots is None:
        func = _Cached(lambda mu: asymptotic_cls(problem, mu))
        try:
            roots = _solve_curves(func, _mu_reference(problem), alpha, curves, rtol=1e-3)
        except LimitError:
            ref = _mu_reference(problem)
            return np.geomspace(ref / 4.0, ref * 4.0, npoints)
    lo, hi = 0.5 * min(roots.values()), 2.0 * max(roots.values())
    return np.geomspace(lo, hi, npoints)


def _extension(mus: np.ndarray, low: bool, high: bool) -> np.ndarray:
    """Three more grid points (the grid's geometric step) below and/or above the grid."""
    step = (mus[-1] / mus[0]) ** (1.0 / max(len(mus) - 1, 1))
    extra = []
    if low:
        extra.append(mus[0] / step ** np.arange(1, 4))
    if high:
        extra.append(mus[-1] * step ** np.arange(1, 4))
    return np.concatenate(extra)


def _toy_limits(problem: Problem, alpha: float, expected: bool, ntoys: int, seed: int,
                batch_size: int, client: Any, npoints: int,
                max_rounds: int = 4) -> tuple[float, _Band | None, Scan, int]:
    """Observed limit (toy CLs of the data), band (toy limits' percentiles), scan, failed fits."""
    runner = _ToyRunner(problem, ntoys, seed, batch_size, client)
    table = runner.evaluate(_toy_grid(problem, alpha, _curves(expected), npoints))
    for round_ in range(max_rounds + 1):
        observed = _interpolate_limit(table.mus, table.observed, alpha)
        low = observed is None and table.observed[0] < alpha
        high = observed is None and not low
        band = _toy_band(table, alpha) if expected else None
        if band is not None:
            low, high = low or bool(np.any(band == -math.inf)), high or bool(np.any(band == math.inf))
        if not (low or high) or round_ == max_rounds:
            break
        table = table.merged(runner.evaluate(_extension(table.mus, low, high)))
    span = f"between POI = {table.mus[0]:.3g} and {table.mus[-1]:.3g}; try more toys"
    if observed is None:
        raise LimitError(f"toy CLs (observed) does not cross {alpha:g} {span}")
    if band is not None and not np.all(np.isfinite(band)):
        k = int(np.argmax(~np.isfinite(band)))
        raise LimitError(f"the toy limits at {BAND_SIGMAS[k]:+d} sigma are not {span}")
    expected_band = _as_band(map(float, band)) if band is not None else None
    return observed, expected_band, _scan(table.mus, table.rows()), runner.failed
