"""Signal samples with process-0 electrons (``SignalSpec.electron_share``): the low-energy
electrons the shower reference of a signal sample measures its energy dependence with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import uproot

from workflows.processing.catalog import load_period
from workflows.simulation import SignalSpec, SimulationConfig, simulate_period

DATASETS = Path(__file__).resolve().parents[3] / "datasets"
SMALL = SimulationConfig(block_events=5_000, run_events=20_000, spill_events=1_000)


def fraction(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0.5, 0.9, n)


def read(directory: Path) -> dict[str, np.ndarray]:
    files = sorted(directory.glob("*.root"))
    return uproot.concatenate([f"{f}:events" for f in files], ["trigger", "mc_process", "beam_momentum"],
                              library="np")


def test_a_share_of_the_physics_triggers_are_electrons_and_every_aprime_is_kept(tmp_path):
    period = load_period(DATASETS / "2022.yaml")
    quiet = period.model_copy(update={"beam": period.beam.model_copy(update={"intensity": 1.0})})
    spec = SignalSpec(0.02, 3_000, fraction, electron_share=0.8)
    report = simulate_period(quiet, 0, tmp_path, signal=spec, config=SMALL)
    d = read(tmp_path)
    phys, calib = d["trigger"] == 1, d["trigger"] == 2
    # The electron prescaler fires on floor(0.8 J) of J physics triggers: the smallest J
    # leaving 3000 A' events is 14996 (11996 electrons); calibration triggers add 1/9.
    assert np.count_nonzero(d["mc_process"][phys] == 6) == 3_000 == report.signal["signal_events"]
    assert phys.sum() == 14_996 and calib.sum() == pytest.approx(14_996 / 9, abs=1)
    # The rest are electrons (process 0, or 5 for the few with pile-up at this intensity).
    assert np.count_nonzero(np.isin(d["mc_process"][phys], (0, 5))) == 11_996
    assert np.count_nonzero(d["mc_process"][phys] == 0) > 11_900
    # Most of them are low-momentum-tail electrons, below the momentum window.
    electrons = phys & (d["mc_process"] == 0)
    assert np.mean(d["beam_momentum"][electrons] < 97.0) > 0.7


def test_without_electrons_the_signal_stream_is_unchanged(tmp_path):
    period = load_period(DATASETS / "2022.yaml")
    a = simulate_period(period, 0, tmp_path / "a", signal=SignalSpec(0.02, 2_000, fraction), config=SMALL)
    b = simulate_period(period, 0, tmp_path / "b", signal=SignalSpec(0.02, 2_000, fraction, electron_share=0.0),
                        config=SMALL)
    assert [p.name for p in a.files] == [p.name for p in b.files]
    for x, y in zip(a.files, b.files, strict=True):
        ex, ey = uproot.open(x)["events"].arrays(library="np"), uproot.open(y)["events"].arrays(library="np")
        assert ex.keys() == ey.keys() and all(np.array_equal(ex[k], ey[k], equal_nan=True) for k in ex)
    with pytest.raises(ValueError, match="electron_share"):
        simulate_period(period, 0, tmp_path / "c", signal=SignalSpec(0.02, 10, fraction, electron_share=1.0))
