"""The hand-written likelihood and fits of :mod:`workflows.stats.limits.fastfit` against
pyhf's: the same -2 ln L, its gradient against finite differences, the same minima, and
pyhf's own fits for the models it does not cover."""

from __future__ import annotations

import numpy as np
import pyhf
import pytest
from pyhf.infer import mle

from workflows.stats.limits import fastfit, make_problem
from workflows.stats.limits.problem import Problem
from workflows.stats.model import LOGNORMAL_MODIFIER_SETTINGS, PeriodInputs, build_workspace


def workspace(observed: tuple[int, int, int] = (0, 2, 1)) -> dict:
    """Three periods with sidebands (normfactors) and normsys on signal and background."""
    periods = [PeriodInputs("p1", 1e10, 0.4, 0.1, 0.6, box_observed=observed[0], a_observed=12,
                            c_observed=40, efficiency_rel_error=0.1, eot_rel_error=0.02),
               PeriodInputs("p2", 3e10, 1.2, 0.3, 0.3, box_observed=observed[1], a_observed=30,
                            c_observed=90, efficiency_rel_error=0.15),
               PeriodInputs("p3", 2e10, 0.8, 0.2, 0.1, box_observed=observed[2], a_observed=20,
                            c_observed=70, efficiency_rel_error=0.1)]
    return build_workspace(periods, yield_rel_error=0.2)


def _problem(modifier_settings: dict | None = None) -> Problem:
    return make_problem(workspace(), modifier_settings=modifier_settings)


@pytest.mark.parametrize("settings", [None, LOGNORMAL_MODIFIER_SETTINGS], ids=["code4", "code1"])
def test_value_and_gradient_equal_pyhf(settings: dict | None) -> None:
    problem = _problem(settings)
    model = problem.model
    nll = fastfit.nll_for(model)
    assert nll is not None and nll.code == ("code4" if settings is None else "code1")
    rng = np.random.default_rng(3)
    init = np.asarray(problem.init)
    for _ in range(5):
        pars = init.copy()
        pars[nll.sys_index] = rng.uniform(-2.0, 2.0, len(nll.sys_index))  # both sides of +-1
        pars[nll.factor_index] = rng.uniform(0.2, 2.0, len(nll.factor_index))
        data = problem.data.copy()
        data[model.config.nmaindata:] += rng.normal(size=model.config.nauxdata)
        value, grad = nll.value_and_grad(pars, data)
        assert value == pytest.approx(-2.0 * float(model.logpdf(pars, data)[0]), rel=1e-12)
        step = 1e-6
        for i in range(model.config.npars):
            up, down = pars.copy(), pars.copy()
            up[i] += step
            down[i] -= step
            numeric = (nll.value_and_grad(up, data)[0] - nll.value_and_grad(down, data)[0]) / (2 * step)
            assert grad[i] == pytest.approx(numeric, rel=1e-5, abs=1e-5)
        np.testing.assert_allclose(nll.expected_main(pars),
                                   model.expected_actualdata(pars), rtol=1e-12)


def test_gradient_at_a_zero_poi() -> None:
    """A normfactor at 0 (the POI's lower bound): its derivative without a division by 0."""
    problem = _problem()
    nll = fastfit.nll_for(problem.model)
    assert nll is not None
    pars = np.asarray(problem.init)
    pars[problem.poi_index] = 0.0
    _, grad = nll.value_and_grad(pars, problem.data)
    up = pars.copy()
    up[problem.poi_index] = 1e-7
    numeric = (nll.value_and_grad(up, problem.data)[0] - nll.value_and_grad(pars, problem.data)[0]) / 1e-7
    assert np.isfinite(grad).all()
    assert grad[problem.poi_index] == pytest.approx(numeric, rel=1e-5)


@pytest.mark.parametrize("poi_value", [None, 0.0, 0.7, 3.0])
def test_fit_equals_pyhf_fit(poi_value: float | None) -> None:
    """The same minimum as pyhf's fit, with a tight tolerance for both (pyhf's default
    stops ~1e-6 of -2 ln L early on this model)."""
    problem = _problem()
    init, bounds, fixed = problem.fit_config(5.0)
    tight = pyhf.optimize.scipy_optimizer(tolerance=1e-12)
    backend, optimizer = pyhf.tensorlib, pyhf.optimizer
    try:
        pyhf.set_backend(backend, tight)
        if poi_value is None:
            ref, ref_val = mle.fit(problem.data, problem.model, init, bounds, fixed, return_fitted_val=True)
        else:
            ref, ref_val = mle.fixed_poi_fit(poi_value, problem.data, problem.model, init, bounds, fixed,
                                             return_fitted_val=True)
    finally:
        pyhf.set_backend(backend, optimizer)
    pars, val = fastfit.fit(problem.data, problem.model, init, bounds, fixed, poi_value=poi_value)
    assert val == pytest.approx(float(ref_val), abs=1e-8)
    np.testing.assert_allclose(pars, ref, atol=2e-4)
    if poi_value is not None:
        assert pars[problem.poi_index] == poi_value
    # and no higher than pyhf's own fit with its default tolerance
    default = (mle.fit(problem.data, problem.model, init, bounds, fixed, return_fitted_val=True)
               if poi_value is None else
               mle.fixed_poi_fit(poi_value, problem.data, problem.model, init, bounds, fixed,
                                 return_fitted_val=True))
    assert val <= float(default[1]) + 1e-9


def test_fixed_parameters_stay_at_their_init() -> None:
    problem = _problem()
    init, bounds, fixed = problem.fit_config(5.0)
    k = problem.model.config.par_order.index("aprime_yield")
    init[k], fixed[k] = 0.5, True
    pars, val = fastfit.fit(problem.data, problem.model, init, bounds, fixed, poi_value=1.0)
    _, ref = mle.fixed_poi_fit(1.0, problem.data, problem.model, init, bounds, fixed,
                               return_fitted_val=True)
    assert pars[k] == 0.5
    assert val == pytest.approx(float(ref), abs=1e-5)


def test_other_models_use_pyhfs_fits() -> None:
    """A model with a modifier the evaluator does not cover (staterror): pyhf's own fit."""
    model = pyhf.simplemodels.uncorrelated_background([2.0, 1.0], [5.0, 4.0], [1.0, 0.8])
    assert fastfit.nll_for(model) is None
    data = np.asarray([6.0, 4.0] + model.config.auxdata)
    init, bounds, fixed = (model.config.suggested_init(), model.config.suggested_bounds(),
                           model.config.suggested_fixed())
    pars, val = fastfit.fit(data, model, init, bounds, fixed, poi_value=1.0)
    ref, ref_val = mle.fixed_poi_fit(1.0, data, model, init, bounds, fixed, return_fitted_val=True)
    np.testing.assert_array_equal(pars, ref)
    assert val == float(ref_val)


def test_failed_fit_raises_as_pyhf() -> None:
    problem = _problem()
    init, bounds, fixed = problem.fit_config(5.0)
    backend, optimizer = pyhf.tensorlib, pyhf.optimizer
    try:
        pyhf.set_backend(backend, pyhf.optimize.scipy_optimizer(maxiter=1))
        with pytest.raises(pyhf.exceptions.FailedMinimization):
            fastfit.fit(problem.data, problem.model, init, bounds, fixed, poi_value=2.0)
    finally:
        pyhf.set_backend(backend, optimizer)


def test_nothing_free_returns_the_start() -> None:
    problem = _problem()
    init, bounds, _ = problem.fit_config(5.0)
    pars, val = fastfit.fit(problem.data, problem.model, init, bounds, [True] * len(init), poi_value=1.0)
    expected = np.asarray(init)
    expected[problem.poi_index] = 1.0
    np.testing.assert_array_equal(pars, expected)
    assert val == pytest.approx(-2.0 * float(problem.model.logpdf(expected, problem.data)[0]), rel=1e-12)
