"""The background budget by source (truth of unblinded MC beside the sidebands and the
published table) and the projections (exact CLs, expected background per EOT)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from workflows.processing.catalog import load_catalog
from workflows.signal.efficiency import EfficiencyTable
from workflows.stats.budget import PUBLISHED_EOT, background_budget
from workflows.stats.fit import PeriodBackground
from workflows.stats.projection import cls_upper_limit, expected_counts, model_background, project

DATASETS = Path(__file__).resolve().parents[3] / "datasets"


def test_budget_is_the_truth_of_the_periods_with_truth_only():
    truth = {"2 dimuon": 1, "3 beam hadron": 2, "4 upstream interaction": 0, "6 A' signal": 0}
    with_truth = PeriodBackground("sim", PUBLISHED_EOT, False, 3, 10, 100, {}, truth)
    data = PeriodBackground("data", 1e12, True, None, 10, 100, {}, None)
    assert background_budget([data]) is None
    budget = background_budget([data, with_truth])
    assert budget is not None and budget.periods == ("sim",) and budget.eot == PUBLISHED_EOT
    rows = {r.process: r for r in budget.rows}
    assert "6 A' signal" not in rows                      # no signal in the sample: not listed
    assert budget.truth_total == 3
    assert rows["3 beam hadron"].published == pytest.approx(0.044 + 0.02)
    assert rows["3 beam hadron"].published_error == pytest.approx(math.hypot(0.014, 0.01))
    assert rows["4 upstream interaction"].published == pytest.approx(0.43)
    assert budget.published_total == pytest.approx((0.53, 0.17))
    doc = budget.to_json()
    assert doc["truth_total"] == 3 and doc["sideband_estimate"]["total"] == 0.0
    # round trip of a period's truth through limits.json
    again = PeriodBackground.from_json(with_truth.to_json())
    assert again.truth_box == truth
    assert PeriodBackground.from_json(data.to_json()).truth_box is None


def test_exact_cls_limits():
    assert cls_upper_limit(0, 0.0) == pytest.approx(-math.log(0.1), rel=1e-6)   # 2.303
    assert cls_upper_limit(0, 3.0) == pytest.approx(-math.log(0.1), rel=1e-6)   # CLs: b-independent at n=0
    assert cls_upper_limit(2, 0.5) > cls_upper_limit(1, 0.5) > cls_upper_limit(0, 0.5)
    assert expected_counts(0.01) == [0, 0, 0, 0, 0]
    assert expected_counts(0.05) == [0, 0, 0, 0, 1]     # P(0 | 0.05) = 0.951 < 0.977 (+2 sigma)
    n = expected_counts(10.0)
    assert n[2] == 10 and n[0] < n[1] < n[2] < n[3] < n[4]


def test_projection_scales_with_the_exposure():
    periods = load_catalog(DATASETS, periods=["2022"], require_files=False)
    masses = np.array([0.002, 0.02, 0.2])
    table = EfficiencyTable(masses=tuple(masses), efficiency={"2022": (0.5, 0.4, 0.3)})
    small, large = (project(eot, periods, table, masses=masses) for eot in (1e11, 1e13))
    assert large.background == pytest.approx(100 * small.background, rel=1e-9)
    per_eot = model_background(periods[0], 1.0)
    assert small.background == pytest.approx(per_eot["total"] * 1e11, rel=1e-9)
    # background-free at 1e11: the limit is the zero-count 2.30 events
    eps_small = small.exclusion.eps_expected[2]
    np.testing.assert_allclose(small.exclusion.mu_expected[2] * small.exclusion.signal, 2.3026, rtol=1e-4)
    # 100 x the exposure: epsilon ~ 1/sqrt(signal) improves, by less than 10 x (background)
    ratio = eps_small / large.exclusion.eps_expected[2]
    assert np.all((ratio > 4) & (ratio < 10))
    assert large.to_json()["assumptions"] and large.shares == {"2022": 1.0}
    with pytest.raises(ValueError, match="exposure"):
        project(0.0, periods, table, masses=masses)
