"""truth_box_by_process: only in unblinded summaries, kept through the JSON."""

from __future__ import annotations

import pytest

from processors.errors import InputError
from tests.workflows.processing.test_summary import VERSION_0
from workflows.processing.summary import PeriodSummary

TRUTH = {"3 beam hadron": 1, "4 upstream interaction": 0}


def test_a_blinded_summary_never_holds_the_box_by_process():
    with pytest.raises(InputError, match="truth_box_by_process in a blinded summary"):
        PeriodSummary.from_json({**VERSION_0, "truth_box_by_process": TRUTH})


def test_an_unblinded_summary_keeps_it_and_a_blinded_one_leaves_it_out():
    doc = {**VERSION_0, "blinded": False, "regions": {**VERSION_0["regions"], "box": 1},
           "truth_box_by_process": TRUTH}
    s = PeriodSummary.from_json(doc)
    assert s.truth_box_by_process == TRUTH
    assert PeriodSummary.from_json(s.to_json()).truth_box_by_process == TRUTH
    assert "truth_box_by_process" not in PeriodSummary.from_json(VERSION_0).to_json()
