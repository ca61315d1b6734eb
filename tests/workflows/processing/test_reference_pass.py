"""The stored shower reference: reused by key in its current layout, derived again
(with a warning, not a crash) when it is of the old energy-independent layout."""

from __future__ import annotations

import json
import logging

import numpy as np

from processors.output import REFERENCE_SUMS_SHAPE
from processors.reference import reference_from_bins
from workflows.processing.reference_pass import stored_reference


def _reference():
    rng = np.random.default_rng(3)
    total = np.zeros(REFERENCE_SUMS_SHAPE)
    for k, energy in enumerate((0.75, 1.5, 2.7, 4.2, 6.2, 8.8, 12.5, 17.5, 25.0, 35.0, 45.0, 58.0, 73.0, 100.0)):
        n = 500
        f = np.clip(0.1 + np.sqrt(1e-5 + 1e-3 / energy) * rng.standard_normal((n, 9)), 0, 1)
        total[k] = [n, n / energy, *f.sum(0), *(f * f).sum(0)]
    return reference_from_bins((3, 3), 100.0, total)


def test_a_current_reference_is_reused_by_key(tmp_path):
    ref = _reference()
    assert ref.fallback is None
    path = tmp_path / "shower_reference.json"
    path.write_text(json.dumps({**ref.to_json(), "key": "abc"}))
    assert stored_reference("abc", path) == ref
    assert stored_reference("other", path) is None


def test_an_old_layout_reference_is_derived_again_with_a_warning(tmp_path, caplog):
    path = tmp_path / "shower_reference.json"
    path.write_text(json.dumps({"central_cell": [3, 3], "mean": [0.1] * 9, "sigma": [0.01] * 9,
                                "n_events": 20000, "key": "abc"}))
    with caplog.at_level(logging.WARNING):
        assert stored_reference("abc", path) is None
    assert str(path) in caplog.text and "derived again" in caplog.text and "layout 1" in caplog.text
