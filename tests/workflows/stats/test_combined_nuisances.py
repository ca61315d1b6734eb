"""The merged counting model's named nuisances combined into two give the same limits."""

from __future__ import annotations

import math

import pytest

from workflows.stats.exclusion import (
    COMBINED_BACKGROUND,
    COMBINED_SHARED,
    CountingNuisance,
    combine_counting_nuisances,
    merged_counting_workspace,
)
from workflows.stats.limits import upper_limit


def lognormal(r: float) -> tuple[float, float]:
    return (math.exp(r), math.exp(-r))


NAMED = [
    CountingNuisance("ecal_scale", signal=lognormal(0.02), background=lognormal(-0.35)),
    CountingNuisance("box_edge", signal=lognormal(0.03), background=lognormal(0.8)),
    CountingNuisance("chi2", signal=lognormal(0.19)),
    CountingNuisance("aprime_yield", signal=lognormal(0.095)),
    CountingNuisance("box_hcal", background=lognormal(0.12)),
]


@pytest.mark.parametrize("observed", [None, 0, 3])
def test_two_combined_nuisances_give_the_limits_of_the_named_ones(observed):
    named = merged_counting_workspace(observed, 0.8, 0.3, 0.0, NAMED)
    combined = merged_counting_workspace(observed, 0.8, 0.3, 0.0, combine_counting_nuisances(NAMED))
    a = upper_limit(named, method="asymptotic")
    b = upper_limit(combined, method="asymptotic")
    assert b.observed == pytest.approx(a.observed, rel=2e-3)
    assert b.expected == pytest.approx(a.expected, rel=2e-3)


def test_the_combination_keeps_the_total_widths_and_their_correlation():
    combined = {n.name: n for n in combine_counting_nuisances(NAMED)}
    assert set(combined) == {COMBINED_SHARED, COMBINED_BACKGROUND}
    s = math.log(combined[COMBINED_SHARED].signal[0])
    b1 = math.log(combined[COMBINED_SHARED].background[0])
    b2 = math.log(combined[COMBINED_BACKGROUND].background[0])
    assert s == pytest.approx(math.sqrt(0.02**2 + 0.03**2 + 0.19**2 + 0.095**2))
    assert b1**2 + b2**2 == pytest.approx(0.35**2 + 0.8**2 + 0.12**2)
    assert s * b1 == pytest.approx(0.02 * -0.35 + 0.03 * 0.8)


def test_background_only_nuisances_combine_into_one():
    only = [CountingNuisance("a", background=lognormal(0.3)), CountingNuisance("b", background=lognormal(0.4))]
    combined = combine_counting_nuisances(only)
    assert [n.name for n in combined] == [COMBINED_BACKGROUND]
    assert math.log(combined[0].background[0]) == pytest.approx(0.5)
    assert combine_counting_nuisances([]) == []
