"""The expected A' events of a period: bremsstrahlung plus annihilation, for its beam particle."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from workflows.signal.aprime import annihilation_per_eot, bremsstrahlung_per_eot
from workflows.stats.exclusion import PeriodSignal

MASSES = np.array([0.0167, 0.25, 0.2675, 0.5])


def test_events_are_eot_times_efficiency_times_both_yields():
    electrons = PeriodSignal("2023", 1.6e10, 70.0, 35.0, np.full(4, 0.5))
    positrons = replace(electrons, particle="e+")
    assert electrons.particle == "e-"
    for signal in (electrons, positrons):
        expected = 1.6e10 * 0.5 * (bremsstrahlung_per_eot(MASSES, 70.0, 35.0)
                                   + annihilation_per_eot(MASSES, 70.0, 35.0, particle=signal.particle))
        np.testing.assert_allclose(signal.events(MASSES), expected, rtol=1e-12)
    ratio = positrons.events(MASSES) / electrons.events(MASSES)
    assert ratio[0] == pytest.approx(1.0) and ratio[3] == pytest.approx(1.0)  # no resonance there
    assert ratio[2] > 100.0  # m = sqrt(2 m_e E0): the beam positron's resonance
