"""The fast asymptotic limits (fits shared across POI values, secant searches) against the
straightforward computation: pyhf.infer.hypotest at every POI value, bracketing on powers
of two and brentq on each curve, for a small multi-period model at several masses."""

from __future__ import annotations

import numpy as np
import pytest

from workflows.stats.limits import make_problem, upper_limit
from workflows.stats.limits.asymptotic import AsymptoticCurves
from workflows.stats.limits.calculators import AsymptoticCalculator
from workflows.stats.limits.problem import _mu_reference
from workflows.stats.limits.search import _Cached, _solve_curves, asymptotic_cls
from workflows.stats.model import PeriodInputs, build_workspace

# Three periods, box observed (one above its background), sidebands A and C, and a signal
# shared among the periods as three "masses" dictate.
SHARES = {"light": (0.6, 0.3, 0.1), "middle": (0.3, 0.4, 0.3), "heavy": (0.05, 0.15, 0.8)}


def workspace(shares: tuple[float, float, float], observed: tuple[int, int, int] = (0, 2, 1)) -> dict:
    periods = [PeriodInputs("p1", 1e10, 0.4, 0.1, shares[0], box_observed=observed[0], a_observed=12, c_observed=40,
                            efficiency_rel_error=0.1),
               PeriodInputs("p2", 3e10, 1.2, 0.3, shares[1], box_observed=observed[1], a_observed=30, c_observed=90,
                            efficiency_rel_error=0.1),
               PeriodInputs("p3", 2e10, 0.8, 0.2, shares[2], box_observed=observed[2], a_observed=20, c_observed=70,
                            efficiency_rel_error=0.1)]
    return build_workspace(periods)


def straightforward(spec: dict, alpha: float) -> list[float]:
    """[observed, -2..+2 sigma]: hypotest at each point, brentq on each curve (rtol 1e-8)."""
    problem = make_problem(spec)
    func = _Cached(lambda mu: asymptotic_cls(problem, mu))
    roots = _solve_curves(func, _mu_reference(problem), alpha, list(range(6)), rtol=1e-8)
    return [problem.unit * roots[c] for c in range(6)]


@pytest.mark.parametrize("mass", sorted(SHARES))
def test_fast_limits_equal_straightforward(mass: str) -> None:
    spec = workspace(SHARES[mass])
    reference = straightforward(spec, 0.1)
    fast = upper_limit(spec, cl=0.9, method="asymptotic")
    got = [fast.observed, *(fast.expected or ())]
    assert len(got) == 6
    np.testing.assert_allclose(got, reference, rtol=2e-4)
    # the observed limit is not the median (box counts differ from the background)
    assert abs(got[0] / got[3] - 1.0) > 0.02


def test_cls_equals_hypotest_and_fits_are_shared() -> None:
    problem = make_problem(workspace(SHARES["middle"]))
    curves = AsymptoticCurves(problem)
    mus = [0.5, 1.0, 2.0, 4.0]
    for mu in mus:
        np.testing.assert_allclose(curves.cls(mu), asymptotic_cls(problem, mu), rtol=1e-4, atol=1e-7)
    # Asimov data + two free fits once, then two conditional fits per POI value (hypotest: 5 each)
    assert curves.calls == 3 + 2 * len(mus)


def test_fast_limits_need_few_fits() -> None:
    problem = make_problem(workspace(SHARES["light"]))
    calc = AsymptoticCalculator(problem)
    limits = calc.limits(0.1, True)
    assert limits.expected is not None and limits.observed > 0
    # the straightforward search evaluates ~36 POI values, 5 fits each
    assert len(limits.scan.mu) <= 8


def test_blinded_data_are_fitted_as_their_asimov_dataset() -> None:
    """Blinded (box at the background expectation): the data fits are the Asimov fits, and
    the limits still equal the straightforward ones (observed = median)."""
    spec = workspace(SHARES["heavy"])
    for channel in spec["observations"]:
        if channel["name"] == "signal_box":
            channel["data"] = [0.4, 1.2, 0.8]
    problem = make_problem(spec)
    curves = AsymptoticCurves(problem)
    assert curves.data_is_asimov
    reference = straightforward(spec, 0.1)
    fast = upper_limit(spec, cl=0.9, method="asymptotic")
    np.testing.assert_allclose([fast.observed, *(fast.expected or ())], reference, rtol=2e-4)
    for mu in (0.5, 2.0):
        curves.cls(mu)
    assert curves.calls == 2 + 2  # Asimov data, one free fit; one Asimov fit per POI value
