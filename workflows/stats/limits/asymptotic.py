"""Fast asymptotic CLs limits: pyhf's asymptotic formulas with the fits that do not depend
on the POI value done once, warm-started conditional fits, and a root search that needs
few POI values.

``pyhf.infer.hypotest(mu, calctype="asymptotics")`` (:func:`~.search.asymptotic_cls`) fits
five times per POI value: the Asimov dataset (a fit at mu = 0 to the data), the free fits
to the data and to the Asimov dataset, and a fit at mu to each. Only the last two depend
on mu. :class:`AsymptoticCurves` makes the first three once per problem (and, for data
equal to their Asimov dataset to ``SAME_DATA_TOL``, as blinded ones are, fits the data as
it) (a free fit is
redone only if its POI reaches an upper bound that a larger mu widens, as
:meth:`Problem.fit_config` does), starts each conditional fit at the parameters of the
conditional fit at the nearest mu already evaluated, and computes CLs with pyhf's own
calculator (its ``AsymptoticCalculator`` distributions and p-values, the test statistic
formula of its ``teststatistic``): the same numbers as ``hypotest`` up to the fits'
precision.

The expected CLs at each band depends on mu only through sqrt(q_mu,A) (Cowan et al., EPJC
71 (2011) 1554, Eq. 89; pyhf's ``expected_pvalues``): the value of sqrt(q_mu,A) where it
crosses alpha is solved without fits, and sqrt(q_mu,A), close to mu / sigma, is inverted
by the secant method from the points already evaluated (one Asimov fit per step). The
observed curve is solved by the secant method in log CLs from the expected median's
limit (one fit to the data and one to the Asimov data per step). A search that does not
converge falls back to bracketing on powers of two and ``brentq`` (:mod:`.search`).

The fits are :func:`.fastfit.fit` (pyhf's SLSQP given the exact gradient of NA64's
normfactor/normsys models, ~15x faster than pyhf's numerical one, and converged to 1e-9
in -2 ln L; pyhf's own fits for other models).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyhf
from pyhf.infer import calculators
from scipy import optimize

from . import fastfit
from .problem import Problem
from .result import LimitError, Scan
from .search import _quiet_qmu_warning

logger = logging.getLogger(__package__)

#: The searches stop when the curve is within ``FUNCTION_TOL`` of its target (relative for
#: sqrt(q_mu,A), in log CLs for the observed curve) or the step is below ``STEP_RTOL * mu``
#: (with pyhf's default fit tolerance, warm-started fits agreed only to ~1e-4 in sqrt(q) on
#: the demo's 40-parameter model and the step criterion ended those searches, some on fit
#: noise; :mod:`.fastfit` converges to 1e-9 in -2 ln L; the limits are asked to 1e-2, the
#: tests to 1e-5).
FUNCTION_TOL = 1e-6
#: Data within this relative difference of their Asimov dataset are fitted as it.
SAME_DATA_TOL = 1e-6
STEP_RTOL = 1e-5
_MAX_STEPS = 30


@dataclass
class _Fit:
    pars: np.ndarray
    twice_nll: float


@dataclass
class _Point:
    """The fits at one mu: the conditional fit to the Asimov data and, once asked, to the data."""

    asimov: _Fit
    data: _Fit | None = None


class AsymptoticCurves:
    """Asymptotic CLs of one :class:`Problem` as a function of the POI, fits cached."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        p = problem
        self.calls = 0  # fits made, for benchmarks and tests
        init, bounds, fixed = p.fit_config(0.0)
        self._fixed = fixed
        asimov, pars = fastfit.asimov_data(p.data, p.model, 1.0 if p.test_stat == "q0" else 0.0,
                                           init, bounds, fixed)
        self.calls += 1
        self.asimov = np.asarray(asimov, dtype=float)
        # Blinded data (box at the background expectation) are their own Asimov dataset up
        # to the b-only fit's precision: their fits are the Asimov fits.
        self.data_is_asimov = bool(np.all(np.abs(self.asimov - p.data) <= SAME_DATA_TOL * (1.0 + np.abs(p.data))))
        self._start = np.asarray(pars, dtype=float)  # the b-only fit: where the fits start
        self._free: dict[str, tuple[float, _Fit]] = {}  # kind -> (POI upper bound, fit)
        self.points: dict[float, _Point] = {}

    # -- fits ---------------------------------------------------------------------------

    def _free_fit(self, kind: str, mu: float) -> _Fit:
        """The free fit to the data or the Asimov data, with the POI bounds of ``mu``."""
        init, bounds, fixed = self.problem.fit_config(mu)
        upper = bounds[self.problem.poi_index][1]
        cached = self._free.get(kind)
        if cached is not None:
            hi, fit = cached
            # a wider bound changes nothing unless the fit's POI sat at the narrower one
            if upper <= hi or fit.pars[self.problem.poi_index] < 0.999 * hi:
                return fit
        if kind == "data" and self.data_is_asimov:
            return self._free_fit("asimov", mu)
        data = self.problem.data if kind == "data" else self.asimov
        pars, val = fastfit.fit(data, self.problem.model, init, bounds, fixed)
        self.calls += 1
        fit = _Fit(pars, val)
        self._free[kind] = (upper, fit)
        return fit

    def _conditional(self, kind: str, mu: float) -> _Fit:
        _, bounds, fixed = self.problem.fit_config(mu)
        init = self._warm_start(kind, mu)
        data = self.problem.data if kind == "data" else self.asimov
        pars, val = fastfit.fit(data, self.problem.model, init.tolist(), bounds, fixed, poi_value=mu)
        self.calls += 1
        return _Fit(pars, val)

    def _warm_start(self, kind: str, mu: float) -> np.ndarray:
        """The parameters of the conditional fit of ``kind`` at the nearest mu evaluated."""
        done = [(abs(math.log(m / mu)), m) for m, pt in self.points.items()
                if (pt.asimov if kind == "asimov" else pt.data) is not None]
        if not done:
            return self._start.copy()
        nearest = self.points[min(done)[1]]
        fit = nearest.asimov if kind == "asimov" else nearest.data
        assert fit is not None
        return fit.pars.copy()

    def _point(self, mu: float, observed: bool) -> _Point:
        mu = float(mu)
        if mu <= 0 or not math.isfinite(mu):
            raise LimitError(f"asymptotic CLs asked at POI = {mu!r}")
        point = self.points.get(mu)
        with _quiet_qmu_warning(self.problem.test_stat):
            if point is None:
                point = _Point(self._conditional("asimov", mu))
                self.points[mu] = point
            if observed and point.data is None:
                point.data = point.asimov if self.data_is_asimov else self._conditional("data", mu)
        return point

    # -- CLs -----------------------------------------------------------------------------

    def _q(self, kind: str, mu: float, conditional: _Fit) -> float:
        """q_mu (qtilde with the POI bounded at 0) as pyhf's ``_qmu_like``."""
        free = self._free_fit(kind, mu)
        q = max(conditional.twice_nll - free.twice_nll, 0.0)
        return 0.0 if free.pars[self.problem.poi_index] > mu else q

    def sqrt_qa(self, mu: float) -> float:
        """sqrt(q_mu,A): the test statistic of the Asimov data at ``mu``."""
        return math.sqrt(self._q("asimov", mu, self._point(mu, False).asimov))

    def _calculator(self, mu: float, sqrt_qa: float) -> tuple[calculators.AsymptoticCalculator, object, object]:
        p = self.problem
        init, bounds, _ = p.fit_config(mu)
        calc = calculators.AsymptoticCalculator(p.data, p.model, init, bounds, self._fixed,
                                                test_stat=p.test_stat)
        calc.sqrtqmuA_v = pyhf.tensorlib.astensor(sqrt_qa)
        sb, b = calc.distributions(mu)
        return calc, sb, b

    def expected_cls(self, sqrt_qa: float, mu: float = 1.0) -> np.ndarray:
        """The expected CLs at (-2..+2 sigma) for this sqrt(q_mu,A) (no fit)."""
        calc, sb, b = self._calculator(mu, sqrt_qa)
        return np.array([float(x) for x in calc.expected_pvalues(sb, b)[2]])

    def observed_cls(self, mu: float) -> float:
        """The observed CLs at ``mu`` (a fit to the data and one to the Asimov data)."""
        point = self._point(mu, True)
        assert point.data is not None
        sqrt_qa = self.sqrt_qa(mu)
        sqrt_q = math.sqrt(self._q("data", mu, point.data))
        calc, sb, b = self._calculator(mu, sqrt_qa)
        if self.problem.test_stat == "q" or sqrt_q <= sqrt_qa:
            teststat = sqrt_q - sqrt_qa
        else:
            teststat = (sqrt_q**2 - sqrt_qa**2) / (2.0 * sqrt_qa)
        return float(calc.pvalues(pyhf.tensorlib.astensor(teststat), sb, b)[2])

    def cls(self, mu: float) -> np.ndarray:
        """[observed, -2, -1, 0, +1, +2 sigma] CLs at ``mu``, as :func:`~.search.asymptotic_cls`."""
        observed = self.observed_cls(mu)
        row = np.array([observed, *self.expected_cls(self.sqrt_qa(mu), mu)])
        if not np.all(np.isfinite(row)):
            raise LimitError(f"CLs is undefined at POI = {mu:.6g} ({row}): a fit failed")
        return row

    def scan(self) -> Scan:
        """CLs at every mu where the data were fitted (ascending)."""
        mus = sorted(m for m, pt in self.points.items() if pt.data is not None)
        table = np.array([self.cls(m) for m in mus]).reshape(len(mus), 6)
        return Scan(tuple(mus), tuple(table[:, 0]), tuple(tuple(col) for col in table[:, 1:].T))

    # -- limits --------------------------------------------------------------------------

    def _target_sqrt_qa(self, band: int, alpha: float) -> float:
        """The sqrt(q_mu,A) where the expected CLs of ``band`` (0..4) equals alpha."""
        def excess(s: float) -> float:
            return float(self.expected_cls(s)[band]) - alpha

        hi = 1.0
        while excess(hi) > 0:
            hi *= 2.0
            if hi > 1e3:
                raise LimitError(f"the expected CLs does not fall below {alpha:g}")
        return float(optimize.brentq(excess, 1e-9, hi, xtol=1e-12, rtol=1e-12))

    def _predict(self, target: float) -> float:
        """mu where sqrt(q_mu,A) = target: the secant through the two points evaluated
        nearest to it (proportional to mu from a single point)."""
        pts = sorted((abs(s - target), s, m) for m in self.points if (s := self.sqrt_qa(m)) > 0)
        if not pts:
            return 0.0
        if len(pts) == 1 or pts[0][1] == pts[1][1]:
            return target * pts[0][2] / pts[0][1]
        (_, s0, m0), (_, s1, m1) = pts[0], pts[1]
        return m0 + (target - s0) * (m1 - m0) / (s1 - s0)

    def _secant(self, func: Callable[[float], float], x0: float, x1: float) -> float | None:
        """A root of ``func`` (of mu, about linear in mu or log mu near its root) by the
        secant method: done when |func| < ``FUNCTION_TOL`` or the step is below
        ``STEP_RTOL * mu``; None if it does not converge."""
        f0 = func(x0)
        if abs(f0) < FUNCTION_TOL:
            return x0
        f1 = func(x1)
        for _ in range(_MAX_STEPS):
            if abs(f1) < FUNCTION_TOL or abs(x1 - x0) <= STEP_RTOL * abs(x1):
                return x1
            if f1 == f0 or not (math.isfinite(f0) and math.isfinite(f1)):
                return None
            x2 = x1 - f1 * (x1 - x0) / (f1 - f0)
            if not (math.isfinite(x2) and x2 > 0):
                x2 = 0.5 * x1 if f1 < 0 else 2.0 * x1  # f < 0: above the root
            x2 = min(max(x2, 0.25 * x1), 4.0 * x1)
            x0, f0, x1, f1 = x1, f1, x2, func(x2)
        return None

    def expected_limit(self, band: int, alpha: float, mu_ref: float) -> float | None:
        """The expected limit of ``band`` (0..4: -2..+2 sigma); None if the search failed.

        sqrt(q_mu,A) - target is about linear in mu: each step interpolates it between the
        points evaluated nearest to the target (one Asimov fit per step)."""
        target = self._target_sqrt_qa(band, alpha)
        if not self.points:
            self._point(mu_ref, False)
        for _ in range(_MAX_STEPS):
            x = self._predict(target)
            if not (math.isfinite(x) and x > 0):
                return None
            near = any(abs(m / x - 1.0) <= STEP_RTOL for m in self.points)
            if abs(self.sqrt_qa(x) / target - 1.0) < FUNCTION_TOL or near:
                return x
        return None

    def observed_limit(self, alpha: float, start: float) -> float | None:
        """The observed limit by the secant method in log CLs from ``start``; None if it failed."""
        def excess(mu: float) -> float:
            cls = self.observed_cls(mu)
            return math.log(cls / alpha) if cls > 0 else -745.0 - math.log(alpha)

        return self._secant(excess, start, start * 1.05)

def asymptotic_roots(curves: AsymptoticCurves, alpha: float, expected: bool,
                     mu_ref: float) -> dict[int, float] | None:
    """{0: observed, 1..5: -2..+2 sigma} limits of :class:`AsymptoticCurves`; None if a
    search failed (the calculator then brackets and uses brentq)."""
    roots: dict[int, float] = {}
    median = curves.expected_limit(2, alpha, mu_ref)
    if median is None:
        return None
    for band in range(5) if expected else ():
        root = median if band == 2 else curves.expected_limit(band, alpha, median)
        if root is None:
            return None
        roots[band + 1] = root
    observed = curves.observed_limit(alpha, median)
    if observed is None:
        return None
    roots[0] = observed
    return roots
