"""Fast maximum-likelihood fits: -2 ln L with its exact gradient for models of normfactors
and normsys modifiers (NA64's workspaces), minimised by the SLSQP pyhf uses.

Why by hand: pyhf's fits with the numpy backend (``pyhf.infer.mle.fit``) give SLSQP no
gradient, so scipy differentiates numerically, one likelihood evaluation per parameter
per iteration (41 per iteration on the demo's 40-parameter model), each ~0.3 ms of Python
overhead in pyhf's tensor code. pyhf's own remedies were measured on that model and do not
help: a batched model (``batch_size=40``) evaluates the 40 points of one gradient in 19.6 ms
against 12.8 ms for 40 single calls (its normsys interpolation runs on dense
modifier x sample x batch x bin arrays); autodiff needs the JAX, PyTorch or TensorFlow
backends, none of which is a dependency. Here one evaluation of the value and the
gradient costs about as much as one of pyhf's logpdf calls.

The likelihood is pyhf's (HistFactory): main data Poisson in nu_b = sum_s nominal_sb x
prod(normfactors of s) x prod(normsys factors of s), the normsys factors interpolated as
pyhf does (``code4``, its default, or ``code1``), auxiliary data Gaussian about their
normsys parameters. :func:`nll_for` builds the evaluator only if it reproduces pyhf's
``logpdf`` at random points (relative 1e-10); any other model, backend or optimizer keeps
pyhf's own fits, which :func:`fit` then calls.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass, field, replace

import numpy as np
import pyhf
from pyhf.infer import mle
from pyhf.optimize.opt_scipy import scipy_optimizer
from scipy import optimize, special

#: Relative agreement with pyhf's logpdf required at the check points.
CHECK_RTOL = 1e-10
#: SLSQP's ``ftol`` (absolute, on -2 ln L) when pyhf's optimizer sets none. scipy's default,
#: 1e-6, which pyhf's fits use, stops the demo's 40-parameter fits up to 3.5e-3 above the
#: minimum (measured: fits from two starting points), enough to make sqrt(q_mu,A) jump
#: between nearby mu and the band's secant searches end 1.5 % off; 1e-9 gets within 3e-10
#: for 2-3 more iterations (~10 ms per fit).
FIT_TOL = 1e-9
_POWERS = np.arange(1, 7)
_CACHE: weakref.WeakKeyDictionary[pyhf.Model, NormNLL | None] = weakref.WeakKeyDictionary()


def _code4_matrix() -> np.ndarray:
    """The inverse of the linear conditions on a_1..a_6 of pyhf's code 4 (alpha0 = 1): the
    polynomial 1 + sum a_i alpha^i and its first two derivatives equal those of hi^alpha at
    alpha = 1 and of lo^-alpha at alpha = -1."""
    rows = []
    for x in (1.0, -1.0):
        rows.append(x**_POWERS)
        rows.append(_POWERS * x ** (_POWERS - 1))
        rows.append(_POWERS * (_POWERS - 1) * x ** (_POWERS - 2.0))
    return np.linalg.inv(np.array(rows))


_CODE4_INV = _code4_matrix()


def _prod_except(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row products of ``x`` (n, k) and, for each column j, the row products without it
    (no division: zero factors, e.g. a POI at 0, are fine)."""
    ones = np.ones((x.shape[0], 1))
    left = np.hstack([ones, np.cumprod(x, axis=1)])
    right = np.hstack([np.cumprod(x[:, ::-1], axis=1)[:, ::-1], ones])
    return left[:, -1], left[:, :-1] * right[:, 1:]


@dataclass(frozen=True)
class NormNLL:
    """-2 ln L of a model whose modifiers are normfactors and normsys, and its gradient.

    Entries e are the (channel, sample) pairs; K normfactors, J normsys parameters.
    """

    nominal: np.ndarray  # (E, main bins): nominal rates of each entry, zero outside its channel
    factor_index: np.ndarray  # (K,): parameter index of each normfactor
    factor_on: np.ndarray  # (E, K) bool
    sys_index: np.ndarray  # (J,): parameter index of each normsys
    log_hi: np.ndarray  # (E, J): ln hi, ln lo (0 where the normsys does not act on e)
    log_lo: np.ndarray
    coefficients: np.ndarray  # (E, J, 6): code 4's a_1..a_6
    code: str  # "code4" or "code1"
    aux_index: np.ndarray  # (A,): the parameter of each auxiliary datum
    aux_sigma: np.ndarray  # (A,)
    nmain: int
    npars: int
    scale: np.ndarray = field(default_factory=lambda: np.ones(0))  # (npars,): see curvature_scale

    @classmethod
    def from_model(cls, model: pyhf.Model) -> NormNLL | None:
        """The evaluator of ``model``; None if it has other modifiers or settings."""
        config = model.config
        code = config.modifier_settings.get("normsys", {}).get("interpcode", "code4")
        if (code not in ("code4", "code1") or model.batch_size
                or model.main_model.clip_sample_data is not None
                or model.main_model.clip_bin_data is not None
                or any(kind not in ("normfactor", "normsys") for _, kind in config.modifiers)):
            return None
        offsets, start = {}, 0
        for channel in config.channels:
            offsets[channel] = start
            start += config.channel_nbins[channel]
        factors = sorted({name for name, kind in config.modifiers if kind == "normfactor"})
        systs = sorted({name for name, kind in config.modifiers if kind == "normsys"})
        entries = [(c, s) for c in model.spec["channels"] for s in c["samples"]]
        nominal = np.zeros((len(entries), config.nmaindata))
        factor_on = np.zeros((len(entries), len(factors)), dtype=bool)
        hi, lo = np.ones((len(entries), len(systs))), np.ones((len(entries), len(systs)))
        for e, (channel, sample) in enumerate(entries):
            first = offsets[channel["name"]]
            nominal[e, first:first + len(sample["data"])] = sample["data"]
            seen = set()
            for mod in sample.get("modifiers", []):
                if mod["name"] in seen:  # the same modifier twice on a sample
                    return None
                seen.add(mod["name"])
                if mod["type"] == "normfactor":
                    factor_on[e, factors.index(mod["name"])] = True
                else:
                    j = systs.index(mod["name"])
                    hi[e, j], lo[e, j] = float(mod["data"]["hi"]), float(mod["data"]["lo"])
        if np.any(hi <= 0) or np.any(lo <= 0):
            return None
        log_hi, log_lo = np.log(hi), np.log(lo)
        # right-hand sides of the conditions of _code4_matrix, one row per (e, j)
        rhs = np.stack([hi - 1.0, hi * log_hi, hi * log_hi**2,
                        lo - 1.0, -lo * log_lo, lo * log_lo**2], axis=-1)
        aux_names = list(config.auxdata_order)
        if set(aux_names) != set(systs):
            return None
        sigma = [getattr(config.param_set(n), "sigmas", None) or [1.0] for n in aux_names]
        nll = cls(
            nominal, np.array([config.par_slice(n).start for n in factors], dtype=int), factor_on,
            np.array([config.par_slice(n).start for n in systs], dtype=int), log_hi, log_lo,
            rhs @ _CODE4_INV.T, code,
            np.array([config.par_slice(n).start for n in aux_names], dtype=int),
            np.array([float(s[0]) for s in sigma]), config.nmaindata, config.npars)
        return replace(nll, scale=nll.curvature_scale(model)) if nll.agrees_with(model) else None

    def curvature_scale(self, model: pyhf.Model, step: float = 1e-4) -> np.ndarray:
        """1 / sqrt(d2(-2 ln L)/d theta_j^2) at the suggested init for its expected data
        (forward differences of the gradient): the units in which :func:`fit` lets SLSQP
        work. Its first steps assume unit curvature; the demo's parameters have curvatures
        over five decades (the sideband normalisations are measured to a percent, the
        nuisances to their unit priors), and without this SLSQP needs 22 iterations and
        48 evaluations per fit instead of 9 and 9 (measured, the same minima to 1e-9)."""
        pars = np.array(model.config.suggested_init(), dtype=float)
        data = np.asarray(model.expected_data(pars), dtype=float)
        base = self.value_and_grad(pars, data)[1]
        curvature = np.empty(self.npars)
        for j in range(self.npars):
            moved = pars.copy()
            moved[j] += step
            curvature[j] = (self.value_and_grad(moved, data)[1][j] - base[j]) / step
        ok = np.isfinite(curvature) & (curvature > 0)
        return np.where(ok, 1.0 / np.sqrt(np.where(ok, curvature, 1.0)), 1.0)

    # -- evaluation ----------------------------------------------------------------------

    def _normsys(self, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Factors (E, J) at ``alpha`` (J,) and their derivatives in alpha."""
        if self.code == "code1":
            log_k = np.where(alpha >= 0, self.log_hi, -self.log_lo)
            value = np.exp(log_k * alpha)
            return value, value * log_k
        up, down = np.exp(self.log_hi * alpha), np.exp(-self.log_lo * alpha)
        a = np.clip(alpha, -1.0, 1.0)  # the polynomial is used inside (-1, 1) only
        powers = a[:, None] ** (_POWERS - 1)  # (J, 6): alpha^(i-1)
        poly = 1.0 + np.einsum("ejk,jk->ej", self.coefficients, powers * a[:, None])
        dpoly = np.einsum("ejk,jk->ej", self.coefficients, powers * _POWERS)
        value = np.where(alpha >= 1.0, up, np.where(alpha <= -1.0, down, poly))
        slope = np.where(alpha >= 1.0, up * self.log_hi, np.where(alpha <= -1.0, -down * self.log_lo, dpoly))
        return value, slope

    def _entry_factors(self, pars: np.ndarray) -> tuple[np.ndarray, ...]:
        norm, norm_except = _prod_except(np.where(self.factor_on, pars[self.factor_index], 1.0))
        syst, syst_slope = self._normsys(pars[self.sys_index])
        sys_prod, sys_except = _prod_except(syst)
        return norm, norm_except, sys_prod, sys_except, syst_slope

    def expected_main(self, pars: np.ndarray) -> np.ndarray:
        """The expected main data at ``pars``."""
        norm, _, sys_prod, _, _ = self._entry_factors(np.asarray(pars, dtype=float))
        rates: np.ndarray = (norm * sys_prod) @ self.nominal
        return rates

    def value_and_grad(self, pars: np.ndarray, data: np.ndarray) -> tuple[float, np.ndarray]:
        """-2 ln L at ``pars`` for ``data`` (main + auxiliary, pyhf's order) and its gradient."""
        norm, norm_except, sys_prod, sys_except, syst_slope = self._entry_factors(pars)
        rates = (norm * sys_prod) @ self.nominal
        n, aux = data[: self.nmain], data[self.nmain:]
        pull = (pars[self.aux_index] - aux) / self.aux_sigma
        value = (-2.0 * float(np.sum(special.xlogy(n, rates) - rates - special.gammaln(n + 1.0)))
                 + float(np.sum(pull**2 + 2.0 * np.log(self.aux_sigma))) + len(aux) * math.log(2.0 * math.pi))
        # a zero rate under a count (a normfactor at 0) gives inf / NaN, as pyhf's logpdf does
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(n > 0, n / rates, 0.0)
            weight = self.nominal @ (-2.0 * (ratio - 1.0))  # d value / d (rate factor of e)
        grad = np.zeros(self.npars)
        grad[self.factor_index] += (weight * sys_prod) @ (self.factor_on * norm_except)
        grad[self.sys_index] += (weight * norm) @ (syst_slope * sys_except)
        grad[self.aux_index] += 2.0 * pull / self.aux_sigma
        return value, grad

    def agrees_with(self, model: pyhf.Model, points: int = 6, seed: int = 0) -> bool:
        """Whether -2 ln L equals pyhf's at ``points`` random parameter points and data
        (normsys parameters over both sides of +-1, where the interpolation changes)."""
        rng = np.random.default_rng(seed)
        bounds = np.array(model.config.suggested_bounds(), dtype=float)
        init = np.array(model.config.suggested_init(), dtype=float)
        expected = np.asarray(model.expected_data(init), dtype=float)
        for _ in range(points):
            pars = init.copy()
            pars[self.sys_index] = rng.uniform(-2.5, 2.5, len(self.sys_index))
            lo, hi = bounds[self.factor_index, 0], bounds[self.factor_index, 1]
            pars[self.factor_index] = rng.uniform(lo, np.minimum(hi, lo + 3.0))
            data = expected.copy()
            data[: self.nmain] = rng.poisson(expected[: self.nmain] + 1.0)
            data[self.nmain:] += rng.normal(size=len(data) - self.nmain)
            ours = self.value_and_grad(pars, data)[0]
            theirs = -2.0 * float(model.logpdf(pars, data)[0])
            if not (math.isfinite(ours) and abs(ours - theirs) <= CHECK_RTOL * (1.0 + abs(theirs))):
                return False
        return True


def nll_for(model: pyhf.Model) -> NormNLL | None:
    """The (cached) evaluator of ``model``; None where pyhf's own fits are used: other
    modifiers, a backend other than numpy, an optimizer other than scipy's."""
    if pyhf.tensorlib.name != "numpy" or not isinstance(pyhf.optimizer, scipy_optimizer):
        return None
    try:
        return _CACHE[model]
    except KeyError:
        nll = _CACHE[model] = NormNLL.from_model(model)
        return nll


def fit(data: np.ndarray, model: pyhf.Model, init: list[float], bounds: list[list[float]],
        fixed: list[bool], poi_value: float | None = None) -> tuple[np.ndarray, float]:
    """(parameters, -2 ln L) at the minimum: ``mle.fit(..., return_fitted_val=True)`` or,
    with ``poi_value``, ``mle.fixed_poi_fit``. Raises ``FailedMinimization`` as they do.

    Same minimiser as pyhf (scipy's SLSQP with pyhf's optimizer's maxiter and solver
    options), given the exact gradient and, unless pyhf's optimizer sets a tolerance,
    ``FIT_TOL``, in the units of :meth:`NormNLL.curvature_scale`; the fixed parameters are
    left out of the minimisation (pyhf keeps them as equality constraints: the same
    minimum)."""
    data = np.asarray(data, dtype=float)
    nll = nll_for(model)
    if nll is None:
        if poi_value is None:
            pars, val = mle.fit(data, model, init, bounds, fixed, return_fitted_val=True)
        else:
            pars, val = mle.fixed_poi_fit(poi_value, data, model, init, bounds, fixed,
                                          return_fitted_val=True)
        return np.asarray(pars, dtype=float), float(val)
    start, is_fixed = np.array(init, dtype=float), np.array(fixed, dtype=bool)
    if poi_value is not None:
        poi = model.config.poi_index
        start[poi], is_fixed[poi] = poi_value, True
    free = np.flatnonzero(~is_fixed)
    if free.size == 0:  # nothing to fit (scipy refuses an empty problem)
        return start, nll.value_and_grad(start, data)[0]
    full, scale = start.copy(), nll.scale[free]

    def objective(z: np.ndarray) -> tuple[float, np.ndarray]:  # z: free parameters / scale
        full[free] = z * scale
        value, grad = nll.value_and_grad(full, data)
        return value, grad[free] * scale

    opt = pyhf.optimizer
    box = np.array([bounds[i] for i in free], dtype=float) / scale[:, None]
    result = optimize.minimize(objective, start[free] / scale, jac=True, method="SLSQP",
                               bounds=box.tolist(),
                               tol=FIT_TOL if opt.tolerance is None else opt.tolerance,
                               options={"maxiter": opt.maxiter, **opt.solver_options})
    if not result.success:
        raise pyhf.exceptions.FailedMinimization(result)
    full[free] = result.x * scale
    return full.copy(), float(result.fun)


def asimov_data(data: np.ndarray, model: pyhf.Model, mu: float, init: list[float],
                bounds: list[list[float]], fixed: list[bool]) -> tuple[np.ndarray, np.ndarray]:
    """(Asimov dataset, parameters): pyhf's ``generate_asimov_data(return_fitted_pars=True)``
    with :func:`fit`."""
    pars, _ = fit(data, model, init, bounds, fixed, poi_value=mu)
    return np.asarray(model.expected_data(pars), dtype=float), pars
